"""Products as a shopper sees them: one offer per site unless a GTIN says otherwise, near ties
refused (``engine.group``, ``engine.assign``), and the plan for an arriving offer (``placement.place``)."""

from __future__ import annotations

from looqta.match import engine
from looqta.match.model import Offer
from looqta.match.placement import Placement, place

NATURAL = "Apple iPhone 15 Pro (256 GB) - Natural Titanium"
NOON_NATURAL = "iPhone 15 Pro 256GB Natural Titanium 5G With FaceTime - Middle East Version"
GTIN = "0194253401155"


def offer(key: str, title: str, **fields: str) -> Offer:
    return Offer(key=key, site=key.partition(":")[0], title=title, **fields)  # type: ignore[arg-type]


def sites_per_product(products: list[tuple[str, ...]]) -> list[list[str]]:
    return [sorted(key.partition(":")[0] for key in keys) for keys in products]


def test_group_puts_at_most_one_offer_of_a_site_in_a_product() -> None:
    offers = [
        offer("amazon:a1", NATURAL),
        offer("amazon:a2", "Apple iPhone 15 Pro 256GB Natural Titanium"),
        offer("noon:n1", NOON_NATURAL),
    ]
    products = [p.offers for p in engine.group(offers)]
    assert sorted(len(p) for p in products) == [1, 2]
    assert all(sites == sorted(set(sites)) for sites in sites_per_product(products))


def test_group_keeps_two_listings_of_one_site_together_when_their_gtin_agrees() -> None:
    offers = [
        offer("amazon:a1", NATURAL, gtin=GTIN),
        offer("amazon:a2", "Apple iPhone 15 Pro 256GB Natural Titanium", gtin=GTIN),
        offer("noon:n1", NOON_NATURAL),
    ]
    [product] = engine.group(offers)
    assert product.offers == ("amazon:a1", "amazon:a2", "noon:n1")


def test_group_leaves_an_offer_torn_between_two_different_products_alone() -> None:
    # Without its colour the amazon offer matches both noon offers equally; they differ (colour).
    offers = [
        offer("amazon:a", "Apple iPhone 15 (128 GB)"),
        offer("noon:black", "Apple iPhone 15 128GB Black"),
        offer("noon:blue", "Apple iPhone 15 128GB Blue"),
    ]
    assert [p.offers for p in engine.group(offers)] == [("amazon:a",), ("noon:black",), ("noon:blue",)]


def test_assign_skips_a_product_that_already_has_an_offer_of_the_site() -> None:
    candidates = {"p": [offer("amazon:a1", NATURAL), offer("noon:n1", NOON_NATURAL)]}
    assert engine.assign(offer("amazon:a2", "Apple iPhone 15 Pro 256GB Natural Titanium"), candidates) is None
    found = engine.assign(offer("noon:n2", NOON_NATURAL + " Dual eSIM"), {"q": [offer("amazon:a1", NATURAL)]})
    assert found is not None
    assert found[0] == "q"


def test_assign_refuses_near_tied_products_that_differ() -> None:
    candidates = {
        "black": [offer("noon:black", "Apple iPhone 15 128GB Black")],
        "blue": [offer("noon:blue", "Apple iPhone 15 128GB Blue")],
    }
    assert engine.assign(offer("amazon:a", "Apple iPhone 15 (128 GB)"), candidates) is None
    found = engine.assign(offer("amazon:b", "Apple iPhone 15 (128 GB) - Black"), candidates)
    assert found is not None
    assert found[0] == "black"


def test_place_joins_a_product_without_an_offer_of_its_site() -> None:
    plan = place(offer("noon:n1", NOON_NATURAL), {"p": [offer("amazon:a1", NATURAL)]})
    assert plan.product == "p"
    assert plan.detach == ()
    assert plan.match is not None
    assert (plan.match.left, plan.match.right) == ("noon:n1", "amazon:a1")


def test_place_takes_the_place_of_a_clearly_weaker_offer_of_its_site() -> None:
    candidates = {
        "p": [
            offer("noon:n", "Apple iPhone 15 Pro 256GB Natural Titanium Hexa"),
            offer("amazon:weak", "Apple iPhone 15 Pro 256GB Natural Titanium Zebra"),  # 0.865
        ]
    }
    plan = place(offer("amazon:strong", "Apple iPhone 15 Pro (256 GB) Natural Titanium Hexa"), candidates)
    assert plan.product == "p"
    assert plan.detach == (("p", "amazon:weak"),)
    assert plan.match is not None
    assert plan.match.right == "noon:n"
    assert plan.match.score == 1.0


def test_place_tears_a_pair_the_newcomer_is_as_good_for_and_joins_nothing() -> None:
    # noon's colourless offer matched amazon's Natural; amazon's Black matches it as well: noon's
    # offer cannot tell the two apart, so the pair is undone and Black starts a product of its own.
    candidates = {
        "p": [
            offer("noon:c", "Apple iPhone 15 Pro 256GB 5G - Middle East Version"),
            offer("amazon:natural", NATURAL),
        ]
    }
    plan = place(offer("amazon:black", "Apple iPhone 15 Pro (256 GB) - Black Titanium"), candidates)
    assert plan == Placement(None, None, (("p", "amazon:natural"),))


def test_place_leaves_a_pair_alone_when_the_newcomer_is_weaker() -> None:
    candidates = {
        "p": [
            offer("noon:n", "Apple iPhone 15 Pro 256GB Natural Titanium Hexa"),
            offer("amazon:strong", "Apple iPhone 15 Pro (256 GB) Natural Titanium Hexa"),
        ]
    }
    plan = place(offer("amazon:weak", "Apple iPhone 15 Pro 256GB Natural Titanium Zebra"), candidates)
    assert plan == Placement(None, None, ())


def test_place_starts_a_product_between_two_near_tied_different_products() -> None:
    candidates = {
        "black": [offer("noon:black", "Apple iPhone 15 128GB Black")],
        "blue": [offer("noon:blue", "Apple iPhone 15 128GB Blue")],
    }
    assert place(offer("amazon:a", "Apple iPhone 15 (128 GB)"), candidates) == Placement(None, None, ())


def test_a_devices_lookup_keys_never_meet_the_accessories_or_renewed_units_that_fit_it() -> None:
    phone = offer("amazon:p", "Samsung Galaxy S24 5G 256GB Onyx Black")
    case = offer("amazon:c", "Spigen Case for Samsung Galaxy S24 Black")
    renewed = offer("amazon:r", "Samsung Galaxy S24 256GB Onyx Black (Renewed)")
    other_phone = offer("noon:p", "Galaxy S24 Onyx Black 256GB - Middle East Version")
    lookup = engine.lookup_keys(engine.blocking_keys(phone))
    assert lookup == {"lm:nd:galaxy:s24"}
    assert not lookup & engine.blocking_keys(case)
    assert not lookup & engine.blocking_keys(renewed)
    assert lookup & engine.blocking_keys(other_phone)
    assert engine.decide(phone, case) is None  # what the keys leave out the rules refuse anyway
    assert engine.decide(phone, renewed) is None
