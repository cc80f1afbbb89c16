"""The sandbox's shared world: the same products on both sites, titled each site's way."""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
from collections import defaultdict

import pytest

from looqta.extract import parse_gtin
from looqta.sandbox.catalogue import Catalogue, Product, tokenize
from looqta.sandbox.client import PROJECT_ROOT
from looqta.sandbox.sites.amazon_titles import MARKETING
from looqta.sandbox.world import World

SITES = ("amazon", "noon")


@pytest.fixture(scope="module")
def catalogues() -> dict[str, Catalogue]:
    return {site: Catalogue(site) for site in SITES}


def _digest(seed: int) -> str:
    """The titles, keys and prices of both sites' first 2,000 products, hashed."""
    text = "\n".join(
        f"{p.key}|{p.source_id}|{p.title}|{p.price}|{p.model_code}|{p.gtin}"
        for site in SITES
        for p in Catalogue(site, 2000, seed).products
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_same_product_is_sold_on_both_sites_under_different_titles(
    catalogues: dict[str, Catalogue],
) -> None:
    amazon = {p.key: p for p in catalogues["amazon"].products}
    noon = {p.key: p for p in catalogues["noon"].products}
    both = amazon.keys() & noon.keys()
    assert 0.55 < len(both) / len(amazon) < 0.9  # a good share on both sites, not all
    differ = sum(amazon[key].title != noon[key].title for key in both)
    assert differ / len(both) > 0.95
    for key in both:  # one product: one spec, one brand, one model number
        assert amazon[key].spec == noon[key].spec
        assert amazon[key].model_code == noon[key].model_code
        assert amazon[key].source_id != noon[key].source_id
    iphones = [
        key
        for key in both
        if amazon[key].spec.kind == "device" and amazon[key].spec.line == "iPhone"  # type: ignore[union-attr]
    ]
    assert iphones
    for key in iphones:  # amazon: "Apple iPhone 15 Pro (256 GB...) - Natural Titanium"; noon: "... 256GB ..."
        spec = amazon[key].spec
        assert spec is not None
        storage = spec.capacity.replace("GB", " GB").replace("TB", " TB")
        assert amazon[key].title.startswith(f"Apple {spec.name} ({storage}")
        assert amazon[key].title.endswith(f") - {spec.colour}")
        assert f"{spec.name} {spec.capacity} {spec.colour}" in noon[key].title
        assert noon[key].title.endswith("- Middle East Version")
    # Some noon titles leave the brand out, as the real ones do; the site's search still finds them.
    brandless = [noon[k] for k in both if not noon[k].title.startswith(noon[k].brand)]
    assert brandless
    assert brandless[0].source_id in {p.source_id for p in catalogues["noon"].search_all(brandless[0].brand)}


def test_products_sold_on_one_site_only_and_siblings_split_between_sites(
    catalogues: dict[str, Catalogue],
) -> None:
    keys = {site: {p.key for p in catalogues[site].products} for site in SITES}
    only = {site: keys[site] - keys[other] for site, other in (SITES, SITES[::-1])}
    assert all(len(only[site]) > 1000 for site in SITES)
    specs = {p.key: p.spec for site in SITES for p in catalogues[site].products}
    # A device whose one storage/colour variant is on amazon only while a sibling is on noon only.
    by_device: dict[tuple[str, str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for site in SITES:
        for key in only[site]:
            spec = specs[key]
            assert spec is not None
            if spec.kind == "device":
                by_device[spec.device][site].add(key)
    split = [device for device, sites in by_device.items() if sites["amazon"] and sites["noon"]]
    assert len(split) > 10


def test_the_world_holds_accessories_renewed_devices_and_bundles(catalogues: dict[str, Catalogue]) -> None:
    products = catalogues["amazon"].products + catalogues["noon"].products
    kinds = {p.spec.kind for p in products if p.spec}
    assert kinds == {"device", "accessory", "renewed", "bundle"}
    for product in products:
        spec = product.spec
        assert spec is not None
        if spec.kind == "accessory":
            assert spec.fits.split(" ", 1)[1] in product.title  # "... for iPhone 15 Pro ..."
        if spec.kind in ("device", "accessory"):
            assert parse_gtin(product.gtin) == product.gtin  # an EAN-13 with a valid check digit
        else:
            assert product.gtin == ""  # renewed and bundles have no barcode of their own
        assert product.model_code
    renewed = [p for p in catalogues["amazon"].products if p.spec and p.spec.kind == "renewed"]
    assert all(p.title.endswith("(Renewed)") for p in renewed)
    assert all(
        p.title.startswith("Renewed - ") for p in catalogues["noon"].products if p.spec.kind == "renewed"
    )  # type: ignore[union-attr]
    # A renewed phone keeps the model number of the same phone new.
    new = {
        (p.spec.device, p.spec.variant, p.spec.capacity, p.spec.colour): p
        for p in products
        if p.spec.kind == "device"
    }  # type: ignore[union-attr]
    pairs = [
        (p, new[key])
        for p in renewed
        if (key := (p.spec.device, p.spec.variant, p.spec.capacity, p.spec.colour)) in new  # type: ignore[union-attr]
    ]
    assert pairs
    assert all(old.model_code == fresh.model_code and old.key != fresh.key for old, fresh in pairs)


def test_catalogues_are_stable_across_runs_and_sizes() -> None:
    small, large = Catalogue("noon", 300, seed=11), Catalogue("noon", 3000, seed=11)
    assert small.products == large.products[:300]  # a smaller catalogue is the start of a larger one
    fresh = World(11)  # not the cached world the catalogues share
    assert [fresh.spec(i) for i in range(50)] == [World(11).spec(i) for i in range(50)]
    # Another process (another hash seed) draws the same world, titles and prices.
    code = (
        f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
        "from test_sandbox_world import _digest; print(_digest(11))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT / "tests",
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    )
    assert other.stdout.strip() == _digest(11)
    assert _digest(12) != _digest(11)


def test_site_titles_differ_the_way_the_real_sites_do(catalogues: dict[str, Catalogue]) -> None:
    amazon, noon = catalogues["amazon"].products, catalogues["noon"].products
    assert any(re.search(r"\(\d+ GB", p.title) for p in amazon)  # "(256 GB)"
    assert not any(re.search(r"\d+ GB", p.title) for p in noon)  # "256GB"
    assert any(p.title.endswith("UAE Version") for p in amazon)
    codes_in_titles = {
        site: sum(p.model_code in p.title for p in ps) for site, ps in (("amazon", amazon), ("noon", noon))
    }
    assert all(count > 100 for count in codes_in_titles.values())
    shared = {p.key: p for p in amazon}
    one_site_code = [
        p
        for p in noon
        if p.key in shared and p.model_code in p.title and p.model_code not in shared[p.key].title
    ]
    assert one_site_code  # the model number in one site's title only


# What real listings can say ---------------------------------------------------------------------
#: The real models (the makers' spec sheets): the name a title spells, without the brand, and the
#: storage, megapixels, case sizes, screen sizes, watts and battery hours each is sold with. Written
#: from the products, not from the generator, so a draw outside them is caught.
_PHONE = ("128GB", "256GB", "512GB")
_LAPTOP = ("256GB", "512GB", "1TB")
REAL_MODELS: dict[tuple[str, str, str], tuple[str, frozenset[str]]] = {
    device: (name, frozenset(specs))
    for device, name, specs in (
        (("Apple", "iPhone", "15"), "iPhone 15", _PHONE),
        (("Apple", "iPhone", "15 Pro"), "iPhone 15 Pro", (*_PHONE, "1TB")),
        (("Apple", "iPhone", "15 Pro Max"), "iPhone 15 Pro Max", ("256GB", "512GB", "1TB")),
        (("Apple", "iPhone", "14"), "iPhone 14", _PHONE),
        (("Apple", "iPhone", "16"), "iPhone 16", _PHONE),
        (("Samsung", "Galaxy", "S24"), "Galaxy S24", _PHONE),
        (("Samsung", "Galaxy", "S24 Ultra"), "Galaxy S24 Ultra", ("256GB", "512GB", "1TB")),
        (("Samsung", "Galaxy", "A55"), "Galaxy A55", ("128GB", "256GB")),
        (("Samsung", "Galaxy", "Z Flip5"), "Galaxy Z Flip5", ("256GB", "512GB")),
        (("Samsung", "Galaxy", "Z Fold5"), "Galaxy Z Fold5", ("256GB", "512GB", "1TB")),
        (("Google", "Pixel", "7a"), "Pixel 7a", ("128GB",)),
        (("Google", "Pixel", "8a"), "Pixel 8a", ("128GB", "256GB")),
        (("Xiaomi", "Redmi Note", "13 Pro Plus"), "Redmi Note 13 Pro Plus", ("256GB", "512GB")),
        (("OnePlus", "Nord", "CE 3"), "Nord CE3", ("128GB", "256GB")),
        (("OnePlus", "Nord", "CE 4"), "Nord CE4", ("128GB", "256GB")),
        (("Google", "Pixel", "8"), "Pixel 8", ("128GB", "256GB")),
        (("Google", "Pixel", "8 Pro"), "Pixel 8 Pro", (*_PHONE, "1TB")),
        (("Google", "Pixel", "9"), "Pixel 9", ("128GB", "256GB")),
        (("Google", "Pixel", "9 Pro"), "Pixel 9 Pro", (*_PHONE, "1TB")),
        (("Google", "Pixel", "9 Pro XL"), "Pixel 9 Pro XL", (*_PHONE, "1TB")),
        (("Xiaomi", "Redmi Note", "12"), "Redmi Note 12", ("128GB", "256GB")),
        (("Xiaomi", "Redmi Note", "13"), "Redmi Note 13", ("128GB", "256GB")),
        (("Xiaomi", "Redmi Note", "13 Pro"), "Redmi Note 13 Pro", ("256GB", "512GB")),
        (("Xiaomi", "Redmi Note", "14"), "Redmi Note 14", ("128GB", "256GB")),
        (("Xiaomi", "Redmi Note", "14 Pro"), "Redmi Note 14 Pro", ("256GB", "512GB")),
        (("OnePlus", "Nord", "3"), "Nord 3", ("128GB", "256GB")),
        (("OnePlus", "Nord", "4"), "Nord 4", _PHONE),
        (("OnePlus", "Nord", "CE4 Lite"), "Nord CE4 Lite", ("128GB", "256GB")),
        *((("Dell", "XPS", m), f"XPS {m}", _LAPTOP) for m in ("13", "14", "15", "16", "17")),
        *(
            (("Lenovo", "ThinkPad", m), f"ThinkPad {m}", _LAPTOP)
            for m in ("X1 Carbon", "T14", "E14", "X13 Yoga")
        ),
        *(
            (("HP", "Pavilion", m), f"Pavilion {m}", _LAPTOP)
            for m in ("15", "14", "x360", "Plus 14", "Aero 13")
        ),
        *(
            (("ASUS", "ZenBook", m), f"ZenBook {m}", _LAPTOP)
            for m in ("14 OLED", "S 13", "Duo", "15 OLED", "S 16")
        ),
        (("Samsung", "Galaxy Tab", "S9"), "Galaxy Tab S9", _PHONE),
        (("Samsung", "Galaxy Tab", "S9 FE"), "Galaxy Tab S9 FE", ("128GB", "256GB")),
        (("Samsung", "Galaxy Tab", "S10"), "Galaxy Tab S10", _PHONE),
        (("Samsung", "Galaxy Tab", "S10 Ultra"), "Galaxy Tab S10 Ultra", ("256GB", "512GB", "1TB")),
        (("Lenovo", "Tab", "P11"), "Tab P11", ("64GB", "128GB")),
        (("Lenovo", "Tab", "M10 Plus"), "Tab M10 Plus", ("64GB", "128GB")),
        (("Lenovo", "Tab", "P12"), "Tab P12", ("128GB", "256GB")),
        (("Lenovo", "Tab", "M11"), "Tab M11", ("64GB", "128GB")),
        (("Apple", "MacBook", "Air M2"), "MacBook Air M2", ("13-inch", "15-inch", *_LAPTOP)),
        (("Apple", "MacBook", "Air M3"), "MacBook Air M3", ("13-inch", "15-inch", *_LAPTOP)),
        (("Apple", "MacBook", "Pro M3"), "MacBook Pro M3", ("14-inch", "512GB", "1TB")),
        (("Apple", "MacBook", "Pro M3 Max"), "MacBook Pro M3 Max", ("14-inch", "16-inch", "1TB", "2TB")),
        (("Sony", "WH", "1000XM5"), "WH-1000XM5", ("30h",)),
        (("Sony", "WH", "1000XM4"), "WH-1000XM4", ("30h",)),
        (("Sony", "WH", "CH720N"), "WH-CH720N", ("35h",)),
        (("Sony", "WH", "CH520"), "WH-CH520", ("50h",)),
        (("Sony", "WH", "1000XM6"), "WH-1000XM6", ("30h",)),
        (("Apple", "Watch", "Series 9"), "Watch Series 9", ("41mm", "45mm")),
        (("Apple", "Watch", "SE"), "Watch SE", ("40mm", "44mm")),
        (("Apple", "Watch", "Ultra 2"), "Watch Ultra 2", ("49mm",)),
        (("Samsung", "Galaxy Watch", "6"), "Galaxy Watch 6", ("40mm", "44mm")),
        (("Samsung", "Galaxy Watch", "6 Classic"), "Galaxy Watch 6 Classic", ("43mm", "47mm")),
        (("Samsung", "Galaxy Watch", "FE"), "Galaxy Watch FE", ("40mm",)),
        (("Huawei", "Watch GT", "4"), "Watch GT 4", ("41mm", "46mm")),
        (("Huawei", "Watch GT", "3 Pro"), "Watch GT 3 Pro", ("43mm", "46mm")),
        (("Huawei", "Watch GT", "5"), "Watch GT 5", ("41mm", "46mm")),
        (("Huawei", "Watch GT", "5 Pro"), "Watch GT 5 Pro", ("42mm", "46mm")),
        (("Apple", "iPad", "Air"), "iPad Air", ("128GB", "256GB", "512GB", "1TB")),
        (("Apple", "iPad", "Pro 11-inch"), "iPad Pro 11-inch", ("11-inch", "256GB", "512GB", "1TB", "2TB")),
        (("Apple", "iPad", "Pro 12.9-inch"), "iPad Pro 12.9-inch", ("12.9-inch", "256GB", "512GB", "1TB")),
        (("Apple", "iPad", "mini"), "iPad mini", ("64GB", "256GB")),
        (("Samsung", "Galaxy Tab", "A9 Plus"), "Galaxy Tab A9 Plus", ("64GB", "128GB")),
        (("Lenovo", "Tab", "Tab Plus"), "Tab Plus", ("128GB", "256GB")),
        (("Canon", "EOS", "R50"), "EOS R50", ("24.2MP",)),
        (("Canon", "EOS", "R8"), "EOS R8", ("24.2MP",)),
        (("Canon", "EOS", "R6 Mark II"), "EOS R6 Mark II", ("24.2MP",)),
        (("Canon", "EOS", "R10"), "EOS R10", ("24.2MP",)),
        (("Canon", "EOS", "R100"), "EOS R100", ("24.1MP",)),
        (("Sony", "Alpha", "a7 IV"), "a7 IV", ("33MP",)),
        (("Sony", "Alpha", "a6400"), "a6400", ("24.2MP",)),
        (("Sony", "Alpha", "ZV-E10"), "ZV-E10", ("24.2MP",)),
        (("Sony", "Alpha", "a7C II"), "a7C II", ("33MP",)),
        (("Sony", "Alpha", "a6700"), "a6700", ("26MP",)),
        (("Fujifilm", "X", "T5"), "X-T5", ("40.2MP",)),
        (("Fujifilm", "X", "S20"), "X-S20", ("26.1MP",)),
        (("Fujifilm", "X", "100VI"), "X100VI", ("40.2MP",)),
        (("Fujifilm", "X", "T50"), "X-T50", ("40.2MP",)),
        (("Fujifilm", "X", "H2"), "X-H2", ("40.2MP",)),
        (("JBL", "Charge", "5"), "Charge 5", ("20h",)),
        (("JBL", "Charge", "Flip 6"), "Flip 6", ("12h",)),
        (("JBL", "Charge", "Go 3"), "Go 3", ("5h",)),
        (("JBL", "Charge", "Clip 5"), "Clip 5", ("12h",)),
        (("JBL", "Charge", "Xtreme 3"), "Xtreme 3", ("15h",)),
        (("Sony", "PlayStation", "5 Slim"), "PlayStation 5 Slim", ("1TB",)),
        (("Sony", "PlayStation", "5 Digital Edition"), "PlayStation 5 Digital Edition", ("825GB",)),
        (("Sony", "PlayStation", "5 Pro"), "PlayStation 5 Pro", ("2TB",)),
        (("Sony", "PlayStation", "Portal"), "PlayStation Portal", ()),
        (("Sony", "PlayStation", "VR2"), "PlayStation VR2", ()),
        (("Microsoft", "Xbox", "Series X"), "Xbox Series X", ("1TB",)),
        (("Microsoft", "Xbox", "Series X Digital"), "Xbox Series X Digital Edition", ("1TB",)),
        (("Microsoft", "Xbox", "Series S"), "Xbox Series S", ("512GB", "1TB")),
        (("Microsoft", "Xbox", "Series S 1TB"), "Xbox Series S", ("512GB", "1TB")),
        (("Nintendo", "Switch", "OLED Model"), "Switch OLED Model", ("64GB",)),
        (("Nintendo", "Switch", "Lite"), "Switch Lite", ("32GB",)),
        (("Nintendo", "Switch", "2"), "Switch 2", ("256GB",)),
        (("Anker", "PowerCore", "10000"), "PowerCore 10000", ("20W",)),
        (("Anker", "PowerCore", "20000"), "PowerCore 20000", ("20W",)),
        (("Anker", "PowerCore", "737"), "737 Power Bank", ("140W",)),
        (("Anker", "PowerCore", "Nano"), "Nano Power Bank", ("30W",)),
        (("Anker", "PowerCore", "MagGo 10000"), "MagGo 10000", ("20W",)),
    )
}
#: How a title states each kind of spec (a lens "24-105mm", "16GB RAM" and "64GB SD Card" are not
#: the device's own); the value is normalised to the table's spelling ("256 GB" -> "256GB").
_SPECS: dict[str, re.Pattern[str]] = {
    "storage": re.compile(r"\b(\d+) ?(GB|TB)\b(?! RAM| SD)"),
    "megapixels": re.compile(r"\b(\d+(?:\.\d+)?) ?(MP)\b"),
    "case": re.compile(r"(?<![-\d.])\b(\d+) ?(mm)\b"),
    "screen": re.compile(r"\b(\d+(?:\.\d+)?)(-inch|-Inch)"),
    "watts": re.compile(r"\b(\d+)(W)\b"),
    "hours": re.compile(r"\b(\d+) (Hours)\b"),
}
_UNIT = {
    "GB": "GB",
    "TB": "TB",
    "MP": "MP",
    "mm": "mm",
    "-inch": "-inch",
    "-Inch": "-inch",
    "W": "W",
    "Hours": "h",
}
#: Words that do not tell one product from another: the region, marketing, the keyboard's languages.
_NOT_DEFINING = re.compile(
    "|".join(
        re.escape(words)
        for words in (
            "UAE Version",
            "Middle East Version",
            "English/Arabic Keyboard",
            *itertools.chain(*MARKETING.values()),
        )
    )
)


def _specs(title: str) -> dict[str, set[str]]:
    """Each kind of spec the title states, e.g. ``{"storage": {"1TB", "512GB"}}``."""
    found = {kind: {f"{n}{_UNIT[u]}" for n, u in pattern.findall(title)} for kind, pattern in _SPECS.items()}
    return {kind: values for kind, values in found.items() if values}


def contradictions(product: Product) -> list[str]:
    """What no real listing of ``product`` would say: two storage sizes (or megapixels, case sizes)
    for one product, a spec the model is not sold with, its name misspelt, two connectors."""
    spec, title = product.spec, product.title
    assert spec is not None
    wrong = []
    own = spec.kind != "accessory"  # an accessory's title states its own specs (a "45W" charger)
    specs = _specs(title) if own else {}
    wrong += [f"two {kind}: {sorted(values)}" for kind, values in specs.items() if len(values) > 1]
    real = REAL_MODELS.get(spec.device)
    if real is not None:
        name, sold = real
        if name.lower() not in title.lower():
            wrong.append(f"the model is spelt otherwise than {name!r}")
        units = {re.sub(r"[\d.]+", "", value) for value in sold}
        wrong += [
            f"{value} is not a {name}"
            for values in specs.values()
            for value in values
            if re.sub(r"[\d.]+", "", value) in units and value not in sold
        ]
        if own and not sold and "storage" in specs:
            wrong.append(f"a {name} has no storage to state")
    if own and "Lightning" in title and "USB-C" in title:
        wrong.append("two connectors")
    return wrong


def _defining(product: Product) -> str:
    """The title's words that tell products apart (without the region, marketing, model number)."""
    title = _NOT_DEFINING.sub(" ", product.title).replace(product.model_code, " ")
    return " ".join(tokenize(title))


def test_world_titles_say_what_real_listings_could(catalogues: dict[str, Catalogue]) -> None:
    for site, catalogue in catalogues.items():
        assert len(catalogue.products) == 10_000
        wrong = {p.title: found for p in catalogue.products if (found := contradictions(p))}
        assert not wrong, f"{site}: {len(wrong)} impossible titles, e.g. {list(wrong.items())[:5]}"
        keys: dict[str, set[str]] = defaultdict(set)
        for product in catalogue.products:
            keys[_defining(product)].add(product.key)
        alike = {title: sorted(ks) for title, ks in keys.items() if len(ks) > 1}
        assert not alike, f"{site}: {len(alike)} titles name two products, e.g. {list(alike.items())[:5]}"
    # Every model the world draws with a storage, a sensor or a case size is in the table.
    measured = {
        p.spec.device
        for c in catalogues.values()
        for p in c.products
        if p.spec and p.spec.kind == "device" and {"storage", "megapixels", "case"} & _specs(p.title).keys()
    }
    assert not measured - REAL_MODELS.keys()
