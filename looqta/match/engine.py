"""The matcher: pure decisions over :class:`~looqta.match.model.Offer` values.

* :func:`blocking_keys` - the keys an offer is looked up by (brand, GTINs, model codes); two
  offers can only match when they share one. Store side indexes these.
* :func:`decide` - one pair: a :class:`Match` (rule + score) or ``None``. Precision first.
* :func:`assign` (from ``looqta.match.placement``) - one new offer against candidate products
  (id -> their offers, found through the blocking keys): the product it joins and the match that joined it, or
  ``None`` (it starts a product of its own).
* :func:`new_product_id` - the id of a product started by one offer (deterministic).
* :func:`group` - every offer into products; the canonical result that
  ``python -m looqta.match rebuild`` writes (order of the input does not matter).
* :func:`match_pairs` - two lists of offers into matched pairs (``python -m looqta.match pairs``).

The rules themselves are in :mod:`looqta.match.rules`; docs/matching.md explains them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from looqta.match.blocks import Blocks, bucket_tag, keys_of, offer_features, product_ids
from looqta.match.model import Match, Product
from looqta.match.placement import AMBIGUOUS_SCORE_GAP, same_site_allowed, site_of, vetoed
from looqta.match.placement import assign as assign  # the engine's API; one offer among products
from looqta.match.rules import judge

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from looqta.match.features import Features
    from looqta.match.model import Offer

#: Key prefixes narrow enough to look candidates up by (an identifier, or a line and a model token).
LOOKUP_PREFIXES = ("gtin:", "code:", "lm:")


def blocking_keys(offer: Offer) -> frozenset[str]:
    """:func:`keys_of` plus ``lm:<bucket>:<line>:<model token>`` keys (``lm:nd:iphone:15``): an offer
    that has an identifier or a model token is looked up by those (:func:`lookup_keys`), not by its
    whole brand. The bucket (``blocks.bucket_tag``: condition, accessory or device, what is bundled)
    is what two offers must share to match at all, so a phone's lookup never reads the hundreds of
    cases that fit it."""
    feats = offer_features(offer)
    tag = bucket_tag(feats)
    fine = {f"lm:{tag}:{feats.line}:{token}" for token in feats.model_tokens} if feats.line else set()
    return keys_of(feats) | fine


def lookup_keys(keys: frozenset[str] | set[str]) -> set[str]:
    """The keys to find an offer's candidate products by: its narrow keys when it has any (else the
    brand and line keys: a title with neither identifier nor model token can only be found so)."""
    narrow = {key for key in keys if key.startswith(LOOKUP_PREFIXES)}
    return narrow or set(keys)


def _match(left: Features, right: Features) -> Match | None:
    """The pair's match by the rules (the caller has checked that they share a blocking key)."""
    if left.key == right.key:
        return None
    verdict = judge(left, right)
    return Match(left.key, right.key, verdict.score, verdict.rule) if verdict.accepted else None


def decide(left: Offer, right: Offer) -> Match | None:
    mine, theirs = offer_features(left), offer_features(right)
    return _match(mine, theirs) if keys_of(mine) & keys_of(theirs) else None


def _site_clash(mine: Sequence[Features], theirs: Sequence[Features]) -> bool:
    """Whether joining the two groups would give one product two offers of a site without a GTIN."""
    return any(site_of(a) == site_of(b) and not same_site_allowed(a, b) for a in mine for b in theirs)


def new_product_id(offer: Offer) -> str:
    return product_ids([[offer_features(offer)]])[0]


def group(offers: Iterable[Offer]) -> list[Product]:
    """Offers into products: matched pairs within blocks, merged best score first while no offer of
    one group vetoes an offer of the other (so A~B, B~C never pulls in a C that differs from A) and
    no site would hold two offers of one product without a GTIN saying so. An offer whose best
    candidates are near-tied and differ (as in :func:`match_pairs`) joins nothing."""
    blocks = Blocks(offers)
    feats = blocks.features
    edges = sorted(
        ((m, i, j) for i, j in blocks.candidate_pairs() if (m := _match(feats[i], feats[j]))),
        key=lambda e: (-e[0].score, -_overlap(feats[e[1]], feats[e[2]]), e[0].left, e[0].right),
    )
    near: dict[int, list[tuple[float, int]]] = {}
    for match, i, j in edges:
        near.setdefault(i, []).append((match.score, j))
        near.setdefault(j, []).append((match.score, i))
    cluster = list(range(len(feats)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(feats))}
    joined: dict[int, list[Match]] = {i: [] for i in range(len(feats))}
    torn: set[int] = set()

    def group_of(i: int) -> list[Features]:
        return [feats[x] for x in members[cluster[i]]]

    def is_torn(mine: int, partner: int, score: float) -> bool:
        """``mine`` has another candidate as good as ``partner``, of ``partner``'s site, still free to
        take it, and that candidate is another product than ``partner``."""
        return any(
            s >= score - AMBIGUOUS_SCORE_GAP
            and cluster[r] not in (cluster[mine], cluster[partner])
            and site_of(feats[r]) == site_of(feats[partner])
            and not _site_clash([feats[mine]], group_of(r))
            and vetoed(judge(feats[partner], feats[r]))
            for s, r in near[mine]
            if r != partner
        )

    for match, i, j in edges:
        a, b = cluster[i], cluster[j]
        if a == b or i in torn or j in torn:
            continue
        mine, theirs = group_of(i), group_of(j)
        if _site_clash(mine, theirs) or any(vetoed(judge(x, y)) for x in mine for y in theirs):
            continue
        torn_i, torn_j = is_torn(i, j, match.score), is_torn(j, i, match.score)
        if torn_i or torn_j:
            torn.update([i] if torn_i else [])
            torn.update([j] if torn_j else [])
            continue
        keep, gone = min(a, b), max(a, b)
        for x in members[gone]:
            cluster[x] = keep
        members[keep] += members.pop(gone)
        joined[keep] += [*joined.pop(gone), match]
    groups = [sorted(members[c]) for c in sorted(members)]
    ids = product_ids([[feats[i] for i in g] for g in groups])
    return [
        Product(id=pid, offers=tuple(feats[i].key for i in g), matches=tuple(joined[g[0]]))
        for pid, g in zip(ids, groups, strict=True)
    ]


def _overlap(left: Features, right: Features) -> float:
    """The share of the two titles' words they have in common: among equal scores, the pair that
    agrees on more of what the titles state goes first ("Nord 4 5G" before "Nord 4 Dual SIM")."""
    return len(left.all_words & right.all_words) / len(left.all_words | right.all_words)


def match_pairs(left: Sequence[Offer], right: Sequence[Offer]) -> list[Match]:
    """A 1:1 assignment, best score first (ties: the pair sharing more words); an offer whose best
    candidates are near-tied and differ from each other stays unmatched (a title without its colour
    against two colours)."""
    lefts = Blocks(left)
    rights = Blocks(right)
    edges: list[tuple[Match, int, int]] = []
    for i, mine in enumerate(lefts.features):
        for j in rights.lookup(mine, lefts.keys[i]):
            if match := _match(mine, rights.features[j]):
                edges.append((match, i, j))
    edges.sort(key=lambda e: (-e[0].score, -_overlap(lefts.features[e[1]], rights.features[e[2]]), e[0].left))
    by_left: dict[int, list[tuple[float, int]]] = {}
    by_right: dict[int, list[tuple[float, int]]] = {}
    for match, i, j in edges:
        by_left.setdefault(i, []).append((match.score, j))
        by_right.setdefault(j, []).append((match.score, i))
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs: list[Match] = []
    for match, i, j in edges:
        if i in used_left or j in used_right:
            continue
        close = match.score - AMBIGUOUS_SCORE_GAP
        rivals_r = [r for s, r in by_left[i] if r != j and r not in used_right and s >= close]
        rivals_l = [r for s, r in by_right[j] if r != i and r not in used_left and s >= close]
        left_torn = any(vetoed(judge(rights.features[j], rights.features[r])) for r in rivals_r)
        right_torn = any(vetoed(judge(lefts.features[i], lefts.features[r])) for r in rivals_l)
        if left_torn or right_torn:
            used_left.update([i] if left_torn else [])
            used_right.update([j] if right_torn else [])
            continue
        used_left.add(i)
        used_right.add(j)
        pairs.append(match)
    return sorted(pairs, key=lambda m: (m.left, m.right))
