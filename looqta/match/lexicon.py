"""Word lists the matcher reads titles with: brands and their product lines, colours, tiers, flags.

Data, not tuning: each list holds facts about how products are named (Samsung sells the Galaxy
line, "Space Grey" and "Space Gray" are one colour, "Renewed" is Amazon's word for refurbished).
Where a word comes from is in docs/matching.md.
"""

from __future__ import annotations


def words(text: str) -> frozenset[str]:
    """A set of words written as one string (long lists stay readable)."""
    return frozenset(text.split())


#: Canonical brand -> names and product lines that identify it in a title.
BRANDS: dict[str, tuple[str, ...]] = {
    "apple": ("apple", "iphone", "ipad", "macbook", "airpods", "imac", "homepod", "apple watch"),
    "samsung": ("samsung", "galaxy"),
    "google": ("google", "pixel", "nest"),
    "xiaomi": ("xiaomi", "redmi", "poco", "mi"),
    "oneplus": ("oneplus", "one plus", "nord"),
    "huawei": ("huawei", "matebook", "matepad"),
    "honor": ("honor",),
    "oppo": ("oppo", "reno"),
    "vivo": ("vivo",),
    "realme": ("realme",),
    "nokia": ("nokia",),
    "motorola": ("motorola", "moto"),
    "sony": ("sony", "playstation", "bravia", "xperia", "ps5", "ps4"),
    "microsoft": ("microsoft", "xbox", "surface"),
    "nintendo": ("nintendo", "switch oled", "switch lite"),
    "dell": ("dell", "xps", "alienware", "inspiron", "latitude"),
    "lenovo": ("lenovo", "thinkpad", "ideapad", "legion", "yoga"),
    "hp": ("hp", "hewlett packard", "pavilion", "omen", "elitebook", "victus"),
    "asus": ("asus", "zenbook", "vivobook", "rog"),
    "acer": ("acer", "aspire", "predator", "nitro"),
    "msi": ("msi",),
    "lg": ("lg", "lg electronics"),
    "tcl": ("tcl",),
    "hisense": ("hisense",),
    "bose": ("bose", "quietcomfort"),
    "jbl": ("jbl",),
    "beats": ("beats",),
    "sennheiser": ("sennheiser",),
    "anker": ("anker", "soundcore"),
    "belkin": ("belkin",),
    "logitech": ("logitech",),
    "garmin": ("garmin", "forerunner", "fenix"),
    "fitbit": ("fitbit",),
    "amazon": ("amazon", "echo", "kindle", "fire tv"),
    "canon": ("canon", "eos"),
    "nikon": ("nikon",),
    "fujifilm": ("fujifilm", "fuji"),
    "gopro": ("gopro",),
    "dji": ("dji",),
    "philips": ("philips",),
    "dyson": ("dyson",),
    "spigen": ("spigen",),
    "otterbox": ("otterbox",),
    "esr": ("esr",),
    "ugreen": ("ugreen",),
}

#: Brand values that name no brand (marketplace fillers).
NO_BRAND = frozenset({"generic", "unbranded", "no brand", "other", "others", "na", "n a", "none"})

#: Colour words (canonical spelling). Modifiers ("space", "titanium", "deep") are dropped when
#: another colour word is present: "Natural Titanium" is natural, "Space Grey" is gray.
COLOURS = words(
    "black white silver gray gold rose blue green red pink purple yellow orange violet lavender "
    "mint cream beige brown graphite natural midnight starlight teal aqua turquoise navy "
    "charcoal obsidian porcelain hazel sandstone ivory coral cyan bronze copper platinum jade "
    "onyx lime titanium desert ultramarine sage bay oat whitestone clear camo"
)
COLOUR_MODIFIERS = frozenset({"titanium", "space", "deep", "light", "dark", "matte", "metallic", "glossy"})
#: Spelling variants folded before anything else.
SPELLINGS: dict[str, str] = {
    "grey": "gray",
    "colour": "color",
    "aluminium": "aluminum",
    "centre": "center",
    "portable charger": "power bank",
    "powerbank": "power bank",
    "wifi": "wi fi",
    "e sim": "esim",
    "digital camera": "camera",
    "digital edition": "digitaledition",
    "digital": "digitaledition",
    "gaming console": "console",
    "slim fit": "slimfit",
}

#: Sibling words: a product with one of these is another product than its line without it.
TIERS = words(
    "pro plus max ultra mini lite fe air se slim classic edge neo ce xl digitaledition oled "
    "touchscreen gaming"
)

#: Condition: refurbished, renewed, used or open box is not new.
CONDITION_WORDS = (
    "refurbished",
    "renewed",
    "pre owned",
    "preowned",
    "open box",
    "second hand",
    "used",
    "reconditioned",
)

#: Nouns that make a title an accessory for something else (unless preceded by "with"/"and", or,
#: for "case", by a material: an Apple Watch's "Aluminium Case" is the watch).
ACCESSORY_NOUNS = frozenset(
    {
        "case",
        "cover",
        "protector",
        "tempered",
        "screen guard",
        "strap",
        "band",
        "skin",
        "sleeve",
        "pouch",
        "holder",
        "mount",
        "stand",
        "charger",
        "cable",
        "adapter",
        "adaptor",
        "dock",
        "earpads",
        "ear pads",
        "replacement",
        "lens protector",
        "stylus",
        "keyboard cover",
        "folio",
        "wallet",
        "bumper",
        "film",
        "sticker",
        "decal",
    }
)
ACCESSORY_PHRASES = ("compatible with", "designed for", "for use with", "fits ")
CASE_MATERIALS = frozenset({"aluminum", "steel", "titanium", "ceramic", "charging", "magsafe", "wireless"})

#: Words that make an offer a bundle (the product plus something else).
BUNDLE_WORDS = frozenset({"bundle", "combo", "kit"})

#: Words that say nothing about which product it is: regions, marketing, shop filler.
NOISE = words(
    "uae version middle east ksa gcc international global with and the a an of new latest "
    "original genuine official warranty year years local brand facetime smartphone smart phone "
    "mobile unlocked android ai dual sim esim 5g 4g lte 3g in by on to edition model storage "
    "rom memory ram inch renewed amazon exclusive free delivery fast charging gb tb for compatible "
    "designed fits "
    # protective claims on accessory listings, not what the accessory is
    "shockproof slimfit military grade drop protection protective anti scratch heavy duty premium"
)

#: Words that say what kind of thing it is, not which one: sites word these differently
#: ("Smartwatch" / "Smart Watch", "Wireless Headphones" / "Over-Ear Headphones").
DESCRIPTORS = words(
    "laptop notebook ultrabook headphones headphone earphones earbuds headset speaker camera tablet "
    "console smartwatch tv television display monitor wireless bluetooth portable thin light "
    "mirrorless noise cancelling canceling over on ear true hd uhd 4k 8k hdr led oled qled "
    "business device digital"
)

#: Kinds of thing a title can name that exclude each other: earbuds are not over-ear headphones, a
#: smart speaker is not a smart display. A title naming two kinds ("Earbuds Headphones") shares both.
PRODUCT_KINDS: dict[str, tuple[str, ...]] = {
    "earbuds": ("earbuds", "earbud", "earphones", "in ear", "true wireless"),
    "headphones": ("over ear", "on ear", "headset", "headphones", "headphone"),
    "speaker": ("speaker", "soundbar"),
    "display": ("smart display",),
}

#: Words that open the name of the device an accessory is for ("Case for iPhone 15", "Compatible
#: with Galaxy S24"); what comes before them names the accessory and its maker.
FITS_PHRASES = (("compatible", "with"), ("designed", "for"), ("for", "use", "with"), ("for",), ("fits",))
