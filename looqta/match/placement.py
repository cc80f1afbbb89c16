"""Where one arriving offer goes among stored products (incremental matching), as a plan.

``engine.assign`` only ever adds: an offer that arrives early joins the best product it sees, and a
better partner arriving later could not take its place. :func:`place` reads the candidates the way
``engine.group`` reads all offers, one site at a time:

* a product with no offer of the newcomer's site: it may **join** (no member vetoes it);
* a product holding an offer ``y`` of the newcomer's site (and no GTIN saying both are one product):
  the newcomer scores against the product's other offers clearly better than ``y`` does: it
  **takes y's place** (``y`` is detached); about as well, and the two differ: the product's other
  offers cannot tell them apart, so ``y`` is detached and neither joins (**torn**, as
  ``engine.match_pairs`` leaves an offer with two near-tied candidates unmatched); worse: no;
* of the products it may join, the best; none when the best two are near-tied and differ.

Pure: the caller (``looqta.match.incremental``) applies the plan - detaches first, each detached
offer placed again by ``engine.assign`` among the other products - with its conditional writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from looqta.match.blocks import keys_of, offer_features
from looqta.match.features import Features
from looqta.match.model import Match
from looqta.match.rules import judge

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from looqta.match.model import Offer
    from looqta.match.rules import Verdict


#: Two candidates of one offer this close in score, and different products: too close to call.
AMBIGUOUS_SCORE_GAP = 0.02


def vetoed(verdict: Verdict) -> bool:
    """A veto (attribute, tier, condition...) as opposed to a title that scored too low."""
    return not verdict.accepted and verdict.rule != "title"


def same_site_allowed(left: Features, right: Features) -> bool:
    """Two offers of one site are one product only when a GTIN says so: a shop lists a product once
    (a second listing is a variant, a bundle or a seller's copy the title cannot tell apart)."""
    return bool(left.gtins & right.gtins)


def site_of(feats: Features) -> str:
    return feats.key.partition(":")[0]


@dataclass(frozen=True)
class Placement:
    """The plan for one offer: detach these (product id, offer key) first, then join ``product``
    through ``match`` (``product`` None: the offer starts a product of its own)."""

    product: str | None
    match: Match | None
    detach: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Fit:
    score: float
    match: Match
    partner: Features


def _best(mine: Features, members: Sequence[Features]) -> _Fit | bool | None:
    """``mine``'s best accepted match among ``members``; False when one of them vetoes it."""
    best: _Fit | None = None
    for member in members:
        verdict = judge(mine, member)
        if vetoed(verdict):
            return False
        accepted = verdict.accepted and mine.key != member.key and keys_of(mine) & keys_of(member)
        if accepted and (best is None or (verdict.score, member.key) > (best.score, best.partner.key)):
            best = _Fit(verdict.score, Match(mine.key, member.key, verdict.score, verdict.rule), member)
    return best


def _ranked(
    mine: Features, candidates: Mapping[str, Sequence[Offer]], take_places: bool
) -> tuple[list[tuple[_Fit, str, tuple[str, str] | None]], list[tuple[str, str]]]:
    """The products ``mine`` may join, best first (with the same-site offer it would take the place
    of), and the pairs it tears; without ``take_places`` a product holding an offer of its site is
    skipped."""
    ranked: list[tuple[_Fit, str, tuple[str, str] | None]] = []
    detach: list[tuple[str, str]] = []
    for product_id in sorted(candidates):
        members = [offer_features(member) for member in candidates[product_id]]
        same = [m for m in members if site_of(m) == site_of(mine) and not same_site_allowed(mine, m)]
        if len(same) > (1 if take_places else 0):
            continue
        others = [m for m in members if m not in same]
        fit = _best(mine, others)
        if not isinstance(fit, _Fit):
            continue
        if not same:
            ranked.append((fit, product_id, None))
            continue
        held = _best(same[0], others)
        held_score = held.score if isinstance(held, _Fit) else 0.0
        if fit.score > held_score + AMBIGUOUS_SCORE_GAP:
            ranked.append((fit, product_id, (product_id, same[0].key)))
        elif fit.score >= held_score - AMBIGUOUS_SCORE_GAP and vetoed(judge(mine, same[0])):
            detach.append((product_id, same[0].key))
    ranked.sort(key=lambda r: (-r[0].score, r[1]))
    return ranked, detach


def _torn(ranked: list[tuple[_Fit, str, tuple[str, str] | None]]) -> bool:
    """No best product, or the best two are near-tied and differ: the offer cannot tell them apart."""
    return not ranked or any(
        fit.score >= ranked[0][0].score - AMBIGUOUS_SCORE_GAP
        and vetoed(judge(ranked[0][0].partner, fit.partner))
        for fit, _, _ in ranked[1:]
    )


def assign(offer: Offer, candidates: Mapping[str, Sequence[Offer]]) -> tuple[str, Match] | None:
    """The product whose offers this one matches best, none of them vetoing it and none of them of
    the offer's site (unless a GTIN agrees); ties go to the smallest product id. ``None`` when the
    best two products are near-tied and differ (the offer cannot tell them apart: it starts its own)."""
    ranked, _ = _ranked(offer_features(offer), candidates, take_places=False)
    return None if _torn(ranked) else (ranked[0][1], ranked[0][0].match)


def place(offer: Offer, candidates: Mapping[str, Sequence[Offer]]) -> Placement:
    """:func:`assign`, also taking the place of a weaker offer of the site or tearing a pair (module doc)."""
    ranked, detach = _ranked(offer_features(offer), candidates, take_places=True)
    if _torn(ranked):
        return Placement(None, None, tuple(detach))
    fit, product_id, taken = ranked[0]
    return Placement(product_id, fit.match, tuple([*detach, *([taken] if taken else [])]))
