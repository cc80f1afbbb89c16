"""The rules added after the held-out world set (docs/matching.md): connectivity, numeric specs with
units, kinds of product, an accessory's maker and the device it fits, "with ..." clauses, names read
from the first segment, blocking by the line word, and the tie-breaks of ``match_pairs``. Titles are
written the way amazon.ae and noon.com write them."""

from __future__ import annotations

import pytest

from looqta.match import engine, rules
from looqta.match.blocks import offer_features
from looqta.match.model import Offer, offer_key


def amazon(source_id: str, title: str) -> Offer:
    return Offer(key=offer_key("amazon", source_id), site="amazon", title=title)


def noon(source_id: str, title: str) -> Offer:
    return Offer(key=offer_key("noon", source_id), site="noon", title=title)


def verdict(left: str, right: str) -> rules.Verdict:
    return rules.judge(offer_features(amazon("a", left)), offer_features(noon("n", right)))


def matched(left: str, right: str) -> bool:
    return engine.decide(amazon("a", left), noon("n", right)) is not None


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Samsung Galaxy Tab S9 FE 5G, 128GB, Mint", "Samsung Galaxy Tab S9 FE Wi-Fi 128GB Mint"),
        ("Lenovo Tab M11 LTE, 128GB, Luna Grey", "Lenovo Tab M11 Wi-Fi Tablet 128GB Luna Grey"),
        ("Samsung Galaxy Watch 6 Classic LTE, 43mm, Silver", "Galaxy Watch 6 Classic Bluetooth 43mm Silver"),
    ],
)
def test_a_cellular_model_is_not_its_wifi_or_bluetooth_only_sibling(left: str, right: str) -> None:
    assert (verdict(left, right).rule, verdict(left, right).accepted) == ("link", False)


def test_a_bluetooth_version_is_a_spec_line_not_the_bluetooth_only_variant() -> None:
    left = "Samsung Galaxy Tab S9 FE 5G, 128GB, Mint, Bluetooth 5.3"
    assert verdict(left, "Galaxy Tab S9 FE 5G Mint 128GB").accepted
    assert offer_features(amazon("a", left)).link == "cellular"
    assert offer_features(amazon("a", "Sony WH-1000XM5 Headphones, Bluetooth 5.2, Black")).link is None


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (
            "Fujifilm X-T50 Mirrorless Camera, 40.2MP, Silver",
            "Fujifilm X T50 Mirrorless Camera 26.1MP Silver",
        ),
        (
            "Anker 20W USB-C Charger for Galaxy S24, White",
            "Anker 45W PD Charger For Samsung Galaxy S24 White",
        ),
        ("Xiaomi Redmi Pad SE 11 inch 90Hz, 128GB, Gray", "Redmi Pad SE 11 inch 120Hz 128GB Gray"),
    ],
)
def test_a_numeric_spec_that_differs_is_another_product(left: str, right: str) -> None:
    assert (verdict(left, right).rule, verdict(left, right).accepted) == ("spec", False)


def test_the_same_numeric_spec_still_matches() -> None:
    assert verdict(
        "Fujifilm X T50 Mirrorless Camera, 40.2MP, Silver", "Fujifilm X T50 40.2MP Silver"
    ).accepted


def test_earbuds_are_not_over_ear_headphones_and_a_speaker_is_not_a_display() -> None:
    earbuds = verdict(
        "Bose QuietComfort SC Wireless Headphones, Black",
        "Bose QuietComfort SC Noise Cancelling Earbuds Black",
    )
    assert (earbuds.rule, earbuds.accepted) == ("kind", False)
    display = verdict("Amazon Echo Show 8 Smart Display, Charcoal", "Echo Show 8 Smart Speaker Charcoal")
    assert (display.rule, display.accepted) == ("kind", False)
    both = verdict("JBL Tune Beam True Wireless Earbuds Headphones, White", "JBL Tune Beam Earbuds White")
    assert both.accepted


def test_two_makers_of_one_kind_of_accessory_for_one_device_are_two_products() -> None:
    found = verdict(
        "co2CREA Pouch Case for Logitech MX Keys S - Navy", "ProCase Pouch Case For Logitech MX Keys S Navy"
    )
    assert (found.rule, found.accepted) == ("maker", False)
    pouch = verdict(
        "ProCase Pouch Case for Anker PowerCore 10000 - Black",
        "ProCase Hard Travel Case For Anker PowerCore 10000 Black",
    )
    assert (pouch.rule, pouch.accepted) == ("maker", False)
    styled = verdict(
        "Spigen Case Compatible with Nord CE 3, Rugged Armor, Blue",
        "Spigen Silicone Case For OnePlus Nord CE 3 Blue",
    )
    assert (styled.rule, styled.accepted) == ("maker", False)


def test_an_accessory_whose_maker_one_site_leaves_out_matches_and_is_blocked_by_its_device() -> None:
    left = "Expert Shield Screen Protector Compatible with Alpha a7C II, Film, Clear"
    right = "Expert Shield Film Screen Protector For Sony Alpha a7C II Clear"
    assert matched(left, right)
    assert matched(
        "Spigen Rugged Armor Case for iPhone 15 Pro, Shockproof, Black",
        "Rugged Armor Case Cover For Apple iPhone 15 Pro Black",
    )
    feats = offer_features(noon("n", right))
    assert (feats.brand, feats.fit_brand) == (None, "sony")
    assert {"fit:sony", "line:alpha"} <= engine.blocking_keys(noon("n", right))


def test_an_accessory_for_another_brand_or_colour_is_another_product() -> None:
    brand = verdict("Spigen Case for Galaxy S24, Black", "Spigen Case For Google Pixel 8 Black")
    assert not brand.accepted
    clear = verdict(
        "Spigen Tempered Glass Screen Protector for Garmin Forerunner 55 - Clear",
        "Tempered Glass Screen Protector For Garmin Forerunner 55 Black",
    )
    assert (clear.rule, clear.accepted) == ("colour", False)


def test_between_two_accessory_listings_the_one_naming_the_same_maker_scores_higher() -> None:
    named = verdict(
        "Inateck Slim Laptop Sleeve for Dell XPS 16 - Grey", "Inateck Slim Laptop Sleeve For Dell XPS 16 Grey"
    )
    unnamed = verdict(
        "Slim Laptop Sleeve for XPS 16, Grey", "Inateck Slim Laptop Sleeve For Dell XPS 16 Grey"
    )
    assert named.accepted
    assert unnamed.accepted
    assert named.score > unnamed.score


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (
            "JBL Tune 770NC Wireless Headphones, USB-C, Black | Up to 70 Hours Battery",
            "Tune 770NC Wireless Headphones Bluetooth 5.3 Black",
        ),
        (
            "Nintendo Switch Lite Console, 32GB, Turquoise",
            "Nintendo Switch Lite Gaming Console 32GB Turquoise",
        ),
        (
            "Sony Alpha a7C II Mirrorless Camera, 33MP, Silver with 64GB SD Card and Bag",
            "Alpha a7C II Mirrorless Camera 33MP Silver With 64GB SD Card and Bag",
        ),
        (
            "LG 65 Inch OLED evo C3 4K Smart TV (2023 Model), Black | Smart TV with Voice Control",
            "LG OLED evo C3 65-inch webOS Smart TV 2023 Model Black",
        ),
        (
            "Amazon Echo Show 8 Smart Speaker with Alexa, Bluetooth, Charcoal",
            "Echo Show 8 Smart Speaker with Alexa Wi-Fi Charcoal",
        ),
        (
            "Apple Watch SE [GPS 44mm] Smartwatch with Midnight Aluminium Case (Renewed)",
            "Renewed - Apple Watch SE GPS 44mm Midnight",
        ),
    ],
)
def test_brandless_lines_marketing_after_a_bar_and_console_words_still_match(left: str, right: str) -> None:
    assert matched(left, right), verdict(left, right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (
            "Sony PlayStation 5 Slim Console, 1TB, White with EA SPORTS FC 25",
            "Sony PlayStation 5 Slim Console 1TB White",
        ),
        (
            "Apple AirPods Pro 2 with MagSafe Case (USB-C) - White",
            "Apple AirPods Pro 2 with Lightning Case White",
        ),
        (
            "Dell XPS 14 Laptop, 16GB RAM 512GB SSD, Graphite",
            "Dell XPS 14 Laptop 16GB RAM 512GB SSD Graphite With Sleeve and Wireless Mouse",
        ),
    ],
)
def test_what_a_with_clause_adds_is_another_product(left: str, right: str) -> None:
    assert (verdict(left, right).rule, verdict(left, right).accepted) == ("bundle", False)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (
            "Microsoft Xbox Series X Digital Console, 1TB, Robot White",
            "Microsoft Xbox Series X Console 1TB Robot White",
        ),
        (
            "Dell XPS 13 Touchscreen Laptop, 16GB RAM 512GB SSD, Platinum",
            "Dell XPS 13 Laptop 16GB RAM 512GB SSD Platinum",
        ),
        (
            "Renewed - Samsung Galaxy Tab S9 Ultra Wi-Fi 256GB Graphite",
            "Samsung Galaxy Tab S9 Wi-Fi, 256GB, Graphite (Renewed)",
        ),
    ],
)
def test_digital_edition_touchscreen_and_a_tier_after_renewed_are_siblings(left: str, right: str) -> None:
    assert (verdict(left, right).rule, verdict(left, right).accepted) == ("tier", False)


def test_match_pairs_gives_a_tie_to_the_pair_that_shares_more_words() -> None:
    left = [
        amazon("a1", "OnePlus Nord 4 Dual SIM, 256 GB, Obsidian"),
        amazon("a2", "OnePlus Nord 4 5G, 256 GB, Obsidian"),
    ]
    right = [
        noon("n1", "OnePlus Nord 4 5G Obsidian 256GB"),
        noon("n2", "OnePlus Nord 4 Dual SIM Obsidian 256GB"),
    ]
    pairs = {(m.left, m.right) for m in engine.match_pairs(left, right)}
    assert pairs == {("amazon:a1", "noon:n2"), ("amazon:a2", "noon:n1")}


def test_accessories_for_two_brands_devices_of_one_model_name_are_two_products() -> None:
    found = verdict(
        "Tempered Glass Screen Protector for Nokia G42, Clear",
        "Tempered Glass Screen Protector For Moto G42 Clear",
    )
    assert (found.rule, found.accepted) == ("brand", False)


def test_protective_claims_are_not_an_accessory_style() -> None:
    left = "Rugged Armor Case for iPhone 15 Pro, Military Grade Drop Protection, Black"
    assert matched(left, "Spigen Rugged Armor Case For Apple iPhone 15 Pro Black"), verdict(
        left, "Spigen ..."
    )
