"""What the real sites list among device results besides the devices: accessories made for a
device, and bundles. Renewed listings are the world's devices again, in another condition.

Lines whose variant or capacity words only describe a product ("Over-Ear Headphones",
"30 Hours Battery") are listed here too: for them those words are a listing's choice, not
another product.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The maker of the no-name accessories: the listings that name no brand ("Silicone Case for
#: iPhone 15 Pro, Black") are theirs; a branded accessory's title names its maker.
NO_NAME = "Generic"


@dataclass(frozen=True)
class Accessory:
    """An accessory type made for each device of a category, by these brands, in these styles."""

    kind: str
    brands: tuple[str, ...]
    styles: tuple[str, ...]
    colours: tuple[str, ...]
    price_range: tuple[int, int]

    @property
    def makers(self) -> tuple[str, ...]:
        """The brands and the no-name maker."""
        return (*self.brands, NO_NAME)


_CASE_BRANDS = ("Spigen", "OtterBox", "ESR", "UAG", "TORRAS")
_PROTECTOR_BRANDS = ("ESR", "Spigen", "amFilm", "ZAGG")
_CHARGER_BRANDS = ("Anker", "Belkin", "Ugreen", "Baseus")
_DARK = ("Black", "Grey", "Navy", "Beige", "Green", "Brown")

ACCESSORIES: dict[str, tuple[Accessory, ...]] = {
    "phone": (
        Accessory(
            "Case",
            _CASE_BRANDS,
            ("Ultra Hybrid", "Rugged Armor", "Silicone", "Clear MagSafe", "Defender"),
            ("Black", "Clear", "Blue", "Frost Grey", "Green", "Purple", "Red", "Pink"),
            (39, 199),
        ),
        Accessory(
            "Screen Protector",
            _PROTECTOR_BRANDS,
            ("Tempered Glass, 2 Pack", "Privacy Glass", "Full Coverage Glass, 3 Pack", "Matte Glass"),
            ("Clear", "Black Edge"),
            (25, 99),
        ),
        Accessory(
            "Charger", _CHARGER_BRANDS, ("20W USB-C", "30W GaN", "45W PD"), ("White", "Black"), (39, 149)
        ),
    ),
    "tablet": (
        Accessory(
            "Case", ("ESR", "Spigen", "Fintie", "ProCase"), ("Folio", "Rugged", "Keyboard"), _DARK, (49, 179)
        ),
        Accessory(
            "Screen Protector",
            _PROTECTOR_BRANDS,
            ("Paper-Feel Film", "Tempered Glass", "Matte Film"),
            ("Clear",),
            (29, 89),
        ),
    ),
    "watch": (
        Accessory(
            "Band",
            ("Spigen", "ESR", "Fintie"),
            ("Silicone Sport", "Milanese Loop", "Nylon", "Leather"),
            (*_DARK, "Pink", "Starlight", "Orange"),
            (29, 99),
        ),
        Accessory(
            "Screen Protector",
            _PROTECTOR_BRANDS,
            ("Tempered Glass", "Bumper Case", "Rugged Case"),
            ("Clear", "Black"),
            (19, 69),
        ),
    ),
    "laptop": (
        Accessory(
            "Laptop Sleeve",
            ("tomtoc", "Inateck", "MOSISO", "Incase"),
            ("Slim", "Hard Shell", "Padded"),
            _DARK,
            (59, 199),
        ),
        Accessory(
            "Laptop Charger",
            _CHARGER_BRANDS,
            ("65W USB-C", "100W GaN", "140W GaN"),
            ("White", "Black"),
            (99, 299),
        ),
    ),
    "headphones": (
        Accessory(
            "Case", ("Geekria", "ProCase", "Khanka"), ("Hard Shell", "Travel", "Silicone"), _DARK, (39, 129)
        ),
        Accessory("Ear Pads", ("Geekria", "WC", "Wicked"), ("Replacement", "Cooling Gel"), _DARK, (29, 99)),
    ),
    "tv": (
        Accessory(
            "Wall Mount",
            ("Mounting Dream", "Sanus", "Skill Tech", "Vogel's", "Perlegear"),
            ("Full Motion", "Tilt", "Fixed", "Ceiling", "Slim"),
            ("Black", "White"),
            (79, 399),
        ),
    ),
    "camera": (
        Accessory(
            "Bag",
            ("Lowepro", "Peak Design", "K&F Concept"),
            ("Sling", "Shoulder", "Backpack"),
            _DARK,
            (99, 499),
        ),
        Accessory(
            "Battery",
            ("Neewer", "SmallRig", "Wasabi"),
            ("2 Pack with Charger", "Single"),
            ("Black",),
            (79, 249),
        ),
        Accessory(
            "Screen Protector",
            ("JJC", "Expert Shield", "SmallRig"),
            ("Tempered Glass", "Film"),
            ("Clear",),
            (29, 79),
        ),
        Accessory(
            "Cage",
            ("SmallRig", "Ulanzi"),
            ("Full", "Half", "Top Handle"),
            ("Black", "Silver"),
            (149, 399),
        ),
    ),
    "speaker": (
        Accessory("Case", ("co2CREA", "Khanka", "Aenllosi"), ("Hard Travel", "Silicone"), _DARK, (29, 99)),
        Accessory(
            "Mount", ("Khanka", "Aenllosi"), ("Wall", "Bike", "Metal Wall"), ("Black", "White"), (25, 89)
        ),
    ),
    "console": (
        Accessory(
            "Carrying Case", ("Orzly", "Trunab", "tomtoc", "Hori"), ("Hard Shell", "Travel"), _DARK, (59, 199)
        ),
        Accessory(
            "Charging Station",
            ("PowerA", "OIVO", "Sony"),
            ("Dual Controller", "Fast", "Vertical Stand"),
            ("Black", "White"),
            (59, 199),
        ),
        Accessory(
            "Skin",
            ("dbrand", "Controller Gear"),
            ("Vinyl Skin", "Faceplate"),
            ("Black", "Camo", "Red"),
            (49, 149),
        ),
    ),
    "accessory": (
        Accessory("Case", ("ProCase", "Khanka", "co2CREA"), ("Hard Travel", "Pouch"), _DARK, (19, 69)),
    ),
}

#: What a bundle adds to a device of a category (a console with a game, a camera with a card).
BUNDLES: dict[str, tuple[str, ...]] = {
    "console": ("with Extra Controller", "with EA SPORTS FC 25"),
    "camera": ("with 64GB SD Card and Bag",),
    "phone": ("with Case and Screen Protector",),
    "laptop": ("with Sleeve and Wireless Mouse",),
}

#: Lines whose ``variants`` (first) and ``capacities`` (second) only describe the product: words
#: that never contradict each other (two sites may pick different ones for one product).
WORDS_ONLY: dict[tuple[str, str], tuple[bool, bool]] = {
    ("Sony", "WH"): (True, True),
    ("Bose", "QuietComfort"): (False, True),
    ("JBL", "Tune"): (False, True),
    ("Samsung", "Crystal UHD"): (True, False),
    ("LG", "OLED"): (True, False),
    ("Sony", "Bravia"): (True, True),
    ("TCL", "QLED"): (True, False),
    ("Garmin", "Forerunner"): (True, False),
    ("JBL", "Charge"): (True, True),
    ("Amazon", "Echo"): (False, True),
    ("Sony", "PlayStation"): (True, False),
    ("Nintendo", "Switch"): (True, False),
    ("Anker", "PowerCore"): (True, False),
    ("Logitech", "MX"): (False, True),
    ("ASUS", "ZenBook"): (True, False),
}
