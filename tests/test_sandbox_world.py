"""The sandbox's shared world: the same products on both sites, titled each site's way."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import defaultdict

import pytest

from looqta.extract import parse_gtin
from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.client import PROJECT_ROOT
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
