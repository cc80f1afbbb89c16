"""The product lines the sandbox world draws from (``world.py``): brands, models and price ranges.

Each product is one combination of these choices; a line's weight sets its share of the world, so a
query such as "iphone 15 pro" matches a realistic share.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    """What one model of a line has where the line's choices do not fit it: its real name as it is
    spelled (``X100VI``, ``WH-1000XM5``: without the brand) and the variants, capacities and colours
    it is really sold in (an X-S20 has 26.1 MP, an Xbox Series S 512 GB; none: no capacity at all)."""

    model: str
    spelled: str = ""
    variants: tuple[str, ...] | None = None
    capacities: tuple[str, ...] | None = None
    colours: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Family:
    """One product line: every title of the family is built from these choices; ``as_sold`` says
    where a model's own name or options differ from the line's."""

    category: str
    brand: str
    line: str
    models: tuple[str, ...]
    variants: tuple[str, ...]
    capacities: tuple[str, ...]
    colours: tuple[str, ...]
    price_range: tuple[int, int]
    weight: float = 1.0
    as_sold: tuple[Model, ...] = ()

    def _model(self, model: str) -> Model:
        return next((m for m in self.as_sold if m.model == model), Model(model))

    def name(self, model: str) -> str:
        """The model's name without the brand: ``iPhone 15 Pro``, ``X100VI``, ``Flip 6``."""
        return self._model(model).spelled or f"{self.line} {model}"

    def variants_of(self, model: str) -> tuple[str, ...]:
        own = self._model(model).variants
        return self.variants if own is None else own

    def capacities_of(self, model: str) -> tuple[str, ...]:
        own = self._model(model).capacities
        return self.capacities if own is None else own

    def colours_of(self, model: str) -> tuple[str, ...]:
        own = self._model(model).colours
        return self.colours if own is None else own


_PHONE_COLOURS = ("Black", "White", "Blue", "Green", "Natural Titanium", "Pink", "Purple")
_DARK_LIGHT = ("Black", "Silver", "Space Grey", "White")
_PHONE_STORAGE = ("128GB", "256GB", "512GB", "1TB")
_RAM_SSD = ("8GB RAM 256GB SSD", "16GB RAM 512GB SSD", "16GB RAM 1TB SSD", "32GB RAM 1TB SSD")
_AIR_RAM_SSD = ("8GB RAM 256GB SSD", "8GB RAM 512GB SSD", "16GB RAM 512GB SSD", "24GB RAM 1TB SSD")
_S24_COLOURS = ("Onyx Black", "Marble Grey", "Cobalt Violet", "Amber Yellow")
_S24_ULTRA_COLOURS = ("Titanium Black", "Titanium Grey", "Titanium Violet", "Titanium Yellow")
_A55_COLOURS = ("Awesome Navy", "Awesome Iceblue", "Awesome Lilac")
_FLIP_COLOURS = ("Mint", "Graphite", "Cream", "Lavender")
_FOLD_COLOURS = ("Icy Blue", "Phantom Black", "Cream")

FAMILIES: tuple[Family, ...] = (
    Family(
        "phone",
        "Apple",
        "iPhone",
        ("15", "15 Pro", "15 Pro Max", "14", "16"),
        ("5G", "Dual SIM", "eSIM"),
        _PHONE_STORAGE,
        _PHONE_COLOURS,
        (2499, 6999),
        0.25,
        as_sold=(
            Model("15", colours=("Black", "Blue", "Green", "Yellow", "Pink")),
            Model(
                "14",
                capacities=("128GB", "256GB", "512GB"),
                colours=("Midnight", "Starlight", "Blue", "Purple"),
            ),
            Model("16", capacities=("128GB", "256GB", "512GB"), colours=("Black", "White", "Pink", "Teal")),
            Model(
                "15 Pro", colours=("Natural Titanium", "Blue Titanium", "White Titanium", "Black Titanium")
            ),
            Model(
                "15 Pro Max",
                capacities=("256GB", "512GB", "1TB"),
                colours=("Natural Titanium", "Blue Titanium", "White Titanium", "Black Titanium"),
            ),
        ),
    ),
    Family(
        "phone",
        "Samsung",
        "Galaxy",
        ("S24", "S24 Ultra", "A55", "Z Flip5", "Z Fold5"),
        ("5G", "Dual SIM", "LTE"),
        _PHONE_STORAGE,
        _PHONE_COLOURS,
        (999, 7499),
        as_sold=(
            Model("S24", capacities=("128GB", "256GB", "512GB"), colours=_S24_COLOURS),
            Model("S24 Ultra", capacities=("256GB", "512GB", "1TB"), colours=_S24_ULTRA_COLOURS),
            Model("A55", variants=("5G", "Dual SIM"), capacities=("128GB", "256GB"), colours=_A55_COLOURS),
            Model("Z Flip5", variants=("5G",), capacities=("256GB", "512GB"), colours=_FLIP_COLOURS),
            Model("Z Fold5", variants=("5G",), capacities=("256GB", "512GB", "1TB"), colours=_FOLD_COLOURS),
        ),
    ),
    Family(
        "phone",
        "Google",
        "Pixel",
        ("8", "8 Pro", "8a", "7a", "9", "9 Pro", "9 Pro XL"),
        ("5G", "Unlocked"),
        ("128GB", "256GB"),
        ("Obsidian", "Hazel", "Porcelain", "Bay"),
        (1599, 4299),
        as_sold=(Model("7a", capacities=("128GB",)), Model("8a", capacities=("128GB",))),
    ),
    Family(
        "phone",
        "Xiaomi",
        "Redmi Note",
        ("13", "13 Pro", "13 Pro Plus", "12", "14", "14 Pro"),
        ("4G", "5G", "Dual SIM"),
        ("128GB", "256GB", "512GB"),
        ("Midnight Black", "Ocean Teal", "Aurora Purple"),
        (599, 1899),
        as_sold=(
            Model("13", capacities=("128GB", "256GB")),
            Model("12", capacities=("128GB", "256GB")),
            Model("14", capacities=("128GB", "256GB")),
            Model("13 Pro", capacities=("256GB", "512GB")),
            Model("13 Pro Plus", variants=("5G", "Dual SIM"), capacities=("256GB", "512GB")),
            Model("14 Pro", capacities=("256GB", "512GB")),
        ),
    ),
    Family(
        "phone",
        "OnePlus",
        "Nord",
        ("CE 3", "3", "4", "CE 4", "CE4 Lite"),
        ("5G", "Dual SIM"),
        ("128GB", "256GB"),
        ("Tempest Grey", "Misty Green"),
        (899, 1999),
        as_sold=(
            Model("CE 3", spelled="Nord CE3"),
            Model("CE 4", spelled="Nord CE4"),
            Model("CE4 Lite", capacities=("128GB",)),
        ),
    ),
    Family(
        "laptop",
        "Apple",
        "MacBook",
        ("Air M2", "Air M3", "Pro M3", "Pro M3 Max"),
        ("13-inch", "15-inch", "14-inch", "16-inch"),
        _RAM_SSD,
        _DARK_LIGHT,
        (3999, 14999),
        as_sold=(
            Model("Air M2", variants=("13-inch", "15-inch"), capacities=_AIR_RAM_SSD),
            Model("Air M3", variants=("13-inch", "15-inch"), capacities=_AIR_RAM_SSD),
            Model("Pro M3", variants=("14-inch",), capacities=("8GB RAM 512GB SSD", "8GB RAM 1TB SSD")),
            Model(
                "Pro M3 Max",
                variants=("14-inch", "16-inch"),
                capacities=("36GB RAM 1TB SSD", "48GB RAM 1TB SSD"),
            ),
        ),
    ),
    Family(
        "laptop",
        "Dell",
        "XPS",
        ("13", "14", "15", "16", "17"),
        ("Laptop", "Touchscreen Laptop"),
        _RAM_SSD,
        ("Platinum Silver", "Graphite"),
        (4299, 11999),
    ),
    Family(
        "laptop",
        "Lenovo",
        "ThinkPad",
        ("X1 Carbon", "T14", "E14", "X13 Yoga"),
        ("Business Laptop", "Gen 11", "Gen 4"),
        _RAM_SSD,
        ("Black", "Storm Grey"),
        (2999, 9999),
    ),
    Family(
        "laptop",
        "HP",
        "Pavilion",
        ("15", "14", "x360", "Plus 14", "Aero 13"),
        ("Laptop", "Gaming Laptop"),
        _RAM_SSD,
        ("Natural Silver", "Fog Blue"),
        (1999, 4999),
    ),
    Family(
        "laptop",
        "ASUS",
        "ZenBook",
        ("14 OLED", "S 13", "Duo", "15 OLED", "S 16"),
        ("Laptop", "Ultrabook"),
        _RAM_SSD,
        ("Jade Black", "Ponder Blue"),
        (2799, 8999),
    ),
    Family(
        "headphones",
        "Sony",
        "WH",
        ("1000XM5", "1000XM4", "CH720N", "CH520", "1000XM6"),
        ("Wireless Noise Cancelling Headphones", "Over-Ear Headphones"),
        ("30 Hours Battery", "Bluetooth 5.2"),
        ("Black", "Silver", "Midnight Blue"),
        (299, 1599),
        as_sold=(
            Model("1000XM5", spelled="WH-1000XM5", capacities=("30 Hours Battery", "Bluetooth 5.2")),
            Model("1000XM4", spelled="WH-1000XM4", capacities=("30 Hours Battery", "Bluetooth 5.0")),
            Model("CH720N", spelled="WH-CH720N", capacities=("35 Hours Battery", "Bluetooth 5.2")),
            Model(
                "CH520",
                spelled="WH-CH520",
                variants=("Wireless On-Ear Headphones",),
                capacities=("50 Hours Battery", "Bluetooth 5.2"),
            ),
            Model("1000XM6", spelled="WH-1000XM6", capacities=("30 Hours Battery", "Bluetooth 5.3")),
        ),
    ),
    Family(
        "headphones",
        "Bose",
        "QuietComfort",
        ("45", "Ultra", "Earbuds II", "Ultra Earbuds", "SC"),
        ("Wireless Headphones", "Noise Cancelling Earbuds"),
        ("Bluetooth", "USB-C"),
        ("Black", "White Smoke", "Sandstone"),
        (699, 1699),
    ),
    Family(
        "headphones",
        "Apple",
        "AirPods",
        ("Pro 2nd Generation", "3rd Generation", "Max"),
        ("with MagSafe Case", "with Lightning Case"),
        ("USB-C", "Lightning"),
        ("White", "Space Grey", "Sky Blue"),
        (599, 2499),
        0.6,
        as_sold=(
            Model(
                "Pro 2nd Generation",
                variants=("with MagSafe Charging Case",),
                capacities=("USB-C", "Lightning"),
                colours=("White",),
            ),
            Model(
                "3rd Generation",
                variants=("with Lightning Charging Case", "with MagSafe Charging Case"),
                capacities=(),
                colours=("White",),
            ),
            Model("Max", variants=("Wireless Over-Ear Headphones",), capacities=("Lightning", "USB-C")),
        ),
    ),
    Family(
        "headphones",
        "JBL",
        "Tune",
        ("760NC", "520BT", "Flex", "770NC", "Beam", "230NC"),
        ("Wireless Headphones", "True Wireless Earbuds"),
        ("Bluetooth 5.3", "USB-C"),
        ("Black", "Blue", "White"),
        (149, 499),
    ),
    Family(
        "tv",
        "Samsung",
        "Crystal UHD",
        ("43-inch CU7000", "55-inch CU7000", "65-inch CU8000", "75-inch CU7000", "85-inch DU8000"),
        ("Smart TV", "4K Smart TV"),
        ("2023 Model", "2024 Model"),
        ("Titan Grey", "Black"),
        (1499, 5499),
    ),
    Family(
        "tv",
        "LG",
        "OLED",
        ("evo C3 55-inch", "evo C3 65-inch", "B3 77-inch", "evo C4 55-inch", "evo G4 65-inch"),
        ("4K Smart TV", "webOS Smart TV"),
        ("2023 Model", "2024 Model"),
        ("Black",),
        (3999, 14999),
    ),
    Family(
        "tv",
        "Sony",
        "Bravia",
        ("X80L 55-inch", "X90L 65-inch", "A80L 77-inch", "X75WL 50-inch", "Bravia 7 65-inch"),
        ("Google TV", "4K HDR Smart TV"),
        ("2023 Model",),
        ("Black",),
        (2999, 15999),
        as_sold=(Model("Bravia 7 65-inch", spelled="Bravia 7 65-inch"),),
    ),
    Family(
        "tv",
        "TCL",
        "QLED",
        ("C645 55-inch", "C745 65-inch", "P735 50-inch", "C845 75-inch", "P755 43-inch"),
        ("Google TV", "4K Smart TV"),
        ("2023 Model", "2024 Model"),
        ("Black",),
        (1199, 3999),
    ),
    Family(
        "watch",
        "Apple",
        "Watch",
        ("Series 9", "SE", "Ultra 2"),
        ("GPS", "GPS + Cellular"),
        ("41mm", "45mm", "49mm"),
        ("Midnight", "Starlight", "Silver", "Product Red"),
        (999, 3499),
        as_sold=(
            Model("Series 9", capacities=("41mm", "45mm")),
            Model("SE", capacities=("40mm", "44mm")),
            Model(
                "Ultra 2", variants=("GPS + Cellular",), capacities=("49mm",), colours=("Natural", "Black")
            ),
        ),
    ),
    Family(
        "watch",
        "Samsung",
        "Galaxy Watch",
        ("6", "6 Classic", "FE"),
        ("Bluetooth", "LTE"),
        ("40mm", "44mm", "47mm"),
        ("Graphite", "Silver", "Gold"),
        (699, 1799),
        as_sold=(
            Model("6", capacities=("40mm", "44mm")),
            Model("6 Classic", capacities=("43mm", "47mm"), colours=("Black", "Silver")),
            Model("FE", capacities=("40mm",), colours=("Black", "Silver", "Pink Gold")),
        ),
    ),
    Family(
        "watch",
        "Garmin",
        "Forerunner",
        ("265", "965", "55", "165", "255"),
        ("GPS Running Smartwatch",),
        ("AMOLED", "MIP Display"),
        ("Black", "Whitestone", "Aqua"),
        (899, 2699),
    ),
    Family(
        "watch",
        "Huawei",
        "Watch GT",
        ("4", "3 Pro", "5", "5 Pro"),
        ("Smartwatch", "Classic"),
        ("41mm", "46mm"),
        ("Black", "Brown Leather", "Green"),
        (699, 1499),
        as_sold=(
            Model("3 Pro", capacities=("43mm", "46mm")),
            Model("5 Pro", capacities=("42mm", "46mm")),
        ),
    ),
    Family(
        "tablet",
        "Apple",
        "iPad",
        ("Air", "Pro 11-inch", "Pro 12.9-inch", "mini"),
        ("Wi-Fi", "Wi-Fi + Cellular"),
        ("64GB", "128GB", "256GB", "512GB"),
        ("Space Grey", "Starlight", "Purple", "Blue"),
        (1699, 6499),
        0.6,
        as_sold=(
            Model("Air", capacities=("128GB", "256GB", "512GB")),
            Model("Pro 11-inch", capacities=("256GB", "512GB", "1TB")),
            Model("Pro 12.9-inch", capacities=("256GB", "512GB", "1TB")),
            Model("mini", capacities=("64GB", "256GB")),
        ),
    ),
    Family(
        "tablet",
        "Samsung",
        "Galaxy Tab",
        ("S9", "S9 FE", "A9 Plus", "S10", "S10 Ultra"),
        ("Wi-Fi", "5G"),
        ("128GB", "256GB"),
        ("Graphite", "Beige", "Mint"),
        (699, 3999),
        as_sold=(
            Model("A9 Plus", capacities=("64GB", "128GB")),
            Model("S10 Ultra", capacities=("256GB", "512GB")),
        ),
    ),
    Family(
        "tablet",
        "Lenovo",
        "Tab",
        ("P11", "M10 Plus", "P12", "M11", "Tab Plus"),
        ("Wi-Fi", "LTE"),
        ("64GB", "128GB"),
        ("Storm Grey", "Oat"),
        (599, 1799),
        as_sold=(
            Model("P12", capacities=("128GB", "256GB")),
            Model("Tab Plus", spelled="Tab Plus", capacities=("128GB", "256GB")),
        ),
    ),
    Family(
        "camera",
        "Canon",
        "EOS",
        ("R50", "R8", "R6 Mark II", "R10", "R100"),
        ("Mirrorless Camera", "with RF 24-105mm Lens"),
        ("24.2MP", "45MP"),
        ("Black",),
        (2499, 11999),
        as_sold=(
            Model("R50", variants=("Mirrorless Camera", "with RF-S 18-45mm Lens"), capacities=("24.2MP",)),
            Model("R8", variants=("Mirrorless Camera", "with RF 24-50mm Lens"), capacities=("24.2MP",)),
            Model("R6 Mark II", capacities=("24.2MP",)),
            Model("R10", variants=("Mirrorless Camera", "with RF-S 18-45mm Lens"), capacities=("24.2MP",)),
            Model("R100", variants=("Mirrorless Camera", "with RF-S 18-45mm Lens"), capacities=("24.1MP",)),
        ),
    ),
    Family(
        "camera",
        "Sony",
        "Alpha",
        ("a7 IV", "a6400", "ZV-E10", "a7C II", "a6700"),
        ("Mirrorless Camera", "with 16-50mm Lens"),
        ("24.2MP", "33MP"),
        ("Black", "White"),
        (2499, 9999),
        as_sold=(
            Model("a7 IV", variants=("Mirrorless Camera", "with 28-70mm Lens"), capacities=("33MP",)),
            Model("a6400", capacities=("24.2MP",)),
            Model("ZV-E10", capacities=("24.2MP",)),
            Model("a7C II", variants=("Mirrorless Camera", "with 28-60mm Lens"), capacities=("33MP",)),
            Model("a6700", capacities=("26MP",)),
        ),
    ),
    Family(
        "camera",
        "Fujifilm",
        "X",
        ("T5", "S20", "100VI", "T50", "H2"),
        ("Mirrorless Camera", "Body Only"),
        ("26.1MP", "40.2MP"),
        ("Black", "Silver"),
        (3499, 7999),
        as_sold=(
            Model("T5", spelled="X-T5", capacities=("40.2MP",)),
            Model("S20", spelled="X-S20", capacities=("26.1MP",), colours=("Black",)),
            Model("100VI", spelled="X100VI", variants=("Digital Camera",), capacities=("40.2MP",)),
            Model("T50", spelled="X-T50", capacities=("40.2MP",)),
            Model("H2", spelled="X-H2", capacities=("40.2MP",), colours=("Black",)),
        ),
    ),
    Family(
        "speaker",
        "JBL",
        "Charge",
        ("5", "Flip 6", "Go 3", "Clip 5", "Xtreme 3"),
        ("Portable Bluetooth Speaker",),
        ("IP67 Waterproof", "20 Hours Playtime"),
        ("Black", "Blue", "Red", "Teal"),
        (149, 699),
        as_sold=(
            Model("5", capacities=("IP67 Waterproof", "20 Hours Playtime")),
            Model("Flip 6", spelled="Flip 6", capacities=("IP67 Waterproof", "12 Hours Playtime")),
            Model("Go 3", spelled="Go 3", capacities=("IP67 Waterproof", "5 Hours Playtime")),
            Model("Clip 5", spelled="Clip 5", capacities=("IP67 Waterproof", "12 Hours Playtime")),
            Model("Xtreme 3", spelled="Xtreme 3", capacities=("IP67 Waterproof", "15 Hours Playtime")),
        ),
    ),
    Family(
        "speaker",
        "Amazon",
        "Echo",
        ("Dot 5th Gen", "Show 8", "Pop", "Show 5", "Studio"),
        ("Smart Speaker with Alexa", "Smart Display"),
        ("Wi-Fi", "Bluetooth"),
        ("Charcoal", "Glacier White", "Deep Sea Blue"),
        (149, 699),
        as_sold=(
            Model("Dot 5th Gen", variants=("Smart Speaker with Alexa",)),
            Model("Show 8", variants=("Smart Display",)),
            Model("Pop", variants=("Smart Speaker with Alexa",)),
            Model("Show 5", variants=("Smart Display",)),
            Model("Studio", variants=("Smart Speaker with Alexa",)),
        ),
    ),
    Family(
        "console",
        "Sony",
        "PlayStation",
        ("5 Slim", "5 Digital Edition", "Portal", "5 Pro", "VR2"),
        ("Console", "Gaming Console"),
        ("1TB", "825GB"),
        ("White", "Midnight Black"),
        (799, 2499),
        as_sold=(
            Model("5 Slim", capacities=("1TB",), colours=("White",)),
            Model("5 Digital Edition", capacities=("825GB",), colours=("White",)),
            Model("Portal", variants=("Remote Player",), capacities=(), colours=("White",)),
            Model("5 Pro", capacities=("2TB",), colours=("White",)),
            Model("VR2", variants=("Headset",), capacities=(), colours=("White",)),
        ),
    ),
    Family(
        "console",
        "Microsoft",
        "Xbox",
        ("Series X", "Series S", "Series X Digital", "Series S 1TB"),
        ("Console",),
        ("1TB", "512GB"),
        ("Black", "Robot White"),
        (1099, 2199),
        as_sold=(
            Model("Series X", capacities=("1TB",), colours=("Black",)),
            Model("Series S", capacities=("512GB",), colours=("Robot White",)),
            Model(
                "Series X Digital",
                spelled="Xbox Series X Digital Edition",
                capacities=("1TB",),
                colours=("Robot White",),
            ),
            Model("Series S 1TB", spelled="Xbox Series S", capacities=("1TB",), colours=("Black",)),
        ),
    ),
    Family(
        "console",
        "Nintendo",
        "Switch",
        ("OLED Model", "Lite", "2"),
        ("Console", "Gaming Console"),
        ("64GB", "32GB"),
        ("Neon Red and Blue", "White", "Turquoise"),
        (699, 1499),
        as_sold=(
            Model("OLED Model", capacities=("64GB",), colours=("Neon Red and Blue", "White")),
            Model("Lite", capacities=("32GB",), colours=("Turquoise", "Yellow", "Grey")),
            Model("2", capacities=("256GB",), colours=("Black",)),
        ),
    ),
    Family(
        "accessory",
        "Anker",
        "PowerCore",
        ("10000", "20000", "737", "Nano", "MagGo 10000"),
        ("Power Bank", "Portable Charger"),
        ("PD 20W", "PD 65W", "USB-C"),
        ("Black", "White"),
        (59, 399),
        as_sold=(
            Model("10000", capacities=("PD 20W", "USB-C")),
            Model("20000", capacities=("PD 20W", "USB-C")),
            Model("737", spelled="737 Power Bank", capacities=("PD 140W", "USB-C")),
            Model("Nano", spelled="Nano Power Bank", capacities=("PD 30W", "USB-C")),
            Model("MagGo 10000", spelled="MagGo 10000", capacities=("PD 20W", "USB-C")),
        ),
    ),
    Family(
        "accessory",
        "Logitech",
        "MX",
        ("Master 3S", "Keys S", "Anywhere 3", "Master 4", "Keys Mini"),
        ("Wireless Mouse", "Wireless Keyboard"),
        ("Bluetooth", "USB Receiver"),
        ("Graphite", "Pale Grey"),
        (199, 599),
        as_sold=(
            Model("Master 3S", variants=("Wireless Mouse",)),
            Model("Keys S", variants=("Wireless Keyboard",)),
            Model("Anywhere 3", variants=("Wireless Mouse",)),
            Model("Master 4", variants=("Wireless Mouse",)),
            Model("Keys Mini", variants=("Wireless Keyboard",)),
        ),
    ),
)

FAMILY_WEIGHTS = tuple(family.weight for family in FAMILIES)
