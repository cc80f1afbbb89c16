"""The ordered rules: vetoes first (precision), then what makes a match, each a named predicate.

A veto names what differs ("storage", "tier", "accessory"); a match names the rule that made
it ("gtin", "model_code", "title") and its score. ``judge`` walks them in order and returns the
first that applies, so every decision is explainable. Thresholds are in docs/matching.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from looqta.match import identifiers, specs

if TYPE_CHECKING:
    from collections.abc import Callable

    from looqta.match.features import Features

#: Titles whose name tokens score at least this (0..1) are one product, the vetoes passed.
TITLE_MIN_SCORE = 0.86
#: With a shared model code, the names need only agree this much (a sanity check).
CODE_MIN_SCORE = 0.6
#: A shared code's match scores at least this, above any title-only match of equal names.
CODE_SCORE_FLOOR = 0.9
#: How much two accessories' differing own words (maker, style) lower a title match's score.
MAKER_WEIGHT = 0.03


@dataclass(frozen=True)
class Verdict:
    rule: str
    score: float
    accepted: bool


def _differ(left: object, right: object) -> bool:
    """Both sides state the attribute and they disagree (a missing value vetoes nothing)."""
    return left is not None and right is not None and left != right


def _disjoint(left: frozenset[str], right: frozenset[str]) -> bool:
    return bool(left) and bool(right) and not (left & right)


def _unmatched(mine: frozenset[str], theirs: frozenset[str]) -> set[str]:
    """Model tokens of one side the other lacks; a long token inside another counts as present
    (``1000xm5`` in ``wh1000xm5``)."""
    return {
        t
        for t in mine - theirs
        if not any(len(short) >= 4 and short in long for o in theirs for short, long in ((t, o), (o, t)))
    }


def _absent(names: frozenset[str], words: frozenset[str]) -> set[str]:
    """Name words of one side the other does not have, alone or inside a longer word (``wh`` and
    ``1000xm5`` are in ``wh1000xm5``; ``x`` leads ``x100vi``)."""
    return {n for n in names - words if not any(_inside(n, w) for w in words)}


def _inside(name: str, word: str) -> bool:
    if len(name) == 1:
        return word.startswith(name) and word[1:2].isdigit()
    return name in word or (len(word) >= 2 and word in name)


VETOES: tuple[tuple[str, Callable[[Features, Features], bool]], ...] = (
    ("condition", lambda a, b: a.refurbished != b.refurbished),
    ("accessory", lambda a, b: bool(a.accessory) != bool(b.accessory) or _disjoint(a.accessory, b.accessory)),
    (
        "bundle",
        lambda a, b: a.bundle != b.bundle or bool(a.extras - b.all_words) or bool(b.extras - a.all_words),
    ),
    ("brand", lambda a, b: _differ(a.brand, b.brand) or _differ(a.fit_brand, b.fit_brand)),
    ("maker", lambda a, b: bool(a.maker_words - b.own_words) and bool(b.maker_words - a.own_words)),
    ("gtin", lambda a, b: bool(a.gtins) and bool(b.gtins) and not (a.gtins & b.gtins)),
    ("storage", lambda a, b: _differ(a.storage_gb, b.storage_gb)),
    ("memory", lambda a, b: _differ(a.memory_gb, b.memory_gb)),
    ("colour", lambda a, b: _disjoint(a.colours, b.colours)),
    ("size", lambda a, b: _differ(a.size_in, b.size_in) or _differ(a.size_mm, b.size_mm)),
    ("pack", lambda a, b: a.pack != b.pack),
    ("year", lambda a, b: _differ(a.year, b.year)),
    ("network", lambda a, b: _disjoint(a.network, b.network) or a.cellular != b.cellular),
    ("connector", lambda a, b: _disjoint(a.connectors, b.connectors)),
    ("link", lambda a, b: _differ(a.link, b.link)),
    ("spec", lambda a, b: specs.numeric_conflict(a.specs, b.specs)),
    ("kind", lambda a, b: specs.kinds_conflict(a.kinds, b.kinds)),
    ("model_code", lambda a, b: identifiers.codes_conflict(a.codes, b.codes)),
    (
        "name",
        lambda a, b: bool(_absent(a.head_name, b.all_words)) and bool(_absent(b.head_name, a.all_words)),
    ),
    ("tier", lambda a, b: bool(a.tiers - b.all_tiers) or bool(b.tiers - a.all_tiers)),
    (
        "model",
        lambda a, b: (
            bool(_unmatched(a.model_tokens, b.model_tokens))
            and bool(_unmatched(b.model_tokens, a.model_tokens))
        ),
    ),
)


def name_score(left: Features, right: Features) -> float:
    """rapidfuzz's token-set ratio of the name tokens (line, model; no brand, colours, units, noise);
    1.0 when one name, spaces removed, is inside the other ("x100vi" in "x 100vi body only"): the
    token-set ratio's subset rule, whatever the sites' spacing."""
    mine, theirs = left.name.replace(" ", ""), right.name.replace(" ", "")
    if mine and theirs and (mine in theirs or theirs in mine):
        return 1.0
    return fuzz.token_set_ratio(left.name, right.name) / 100


def judge(left: Features, right: Features) -> Verdict:
    """The first veto that applies, else the first match rule that holds, else "title" refused."""
    for rule, vetoes in VETOES:
        if vetoes(left, right):
            return Verdict(rule, 0.0, accepted=False)
    if left.gtins & right.gtins:
        return Verdict("gtin", 1.0, accepted=True)
    score = name_score(left, right)
    if identifiers.codes_agree(left.codes, right.codes) and score >= CODE_MIN_SCORE:
        return Verdict("model_code", round(CODE_SCORE_FLOOR + (1 - CODE_SCORE_FLOOR) * score, 4), True)
    return Verdict("title", round(score * _agreement(left, right), 4), accepted=score >= TITLE_MIN_SCORE)


def _agreement(left: Features, right: Features) -> float:
    """1.0, or a little less for two accessories whose own words (maker, style) differ: between a
    listing that names its maker and two that leave it out, the one that agrees wins."""
    mine, theirs = left.maker_words, right.maker_words
    if not (left.accessory and (mine or theirs)):
        return 1.0
    return 1 - MAKER_WEIGHT * (1 - len(mine & theirs) / len(mine | theirs))
