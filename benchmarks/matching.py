"""The matcher on two labelled two-site sets: precision, recall, F1, speed and memory (issue 21 point 4).

    .venv/bin/python -m benchmarks.matching [--set own|world|both] [--offers 10000]
        [--world-offers 3000] [--memory-offers 2500,5000] [--seed 1] [--write-set DIR] [--json out.json]

Two sets, written by different people, reported side by side so that tuning to one shows on the other:

* ``own`` (``benchmarks/matching_set.py``): written with the rules, in the same session; the rules
  were developed on it.
* ``world`` (``benchmarks/matching_world.py``): the sandbox world (``looqta/sandbox/world.py`` and the
  site title modules), written independently of the matcher; held out, never tuned on. Figures per
  world kind (device / accessory / renewed / bundle) and per category. ``--world-offers`` listings
  a site, seed 1234.

The own set is the sandbox's product families titled as amazon.ae and
noon.com title them, with hard negatives beside the products and products sold on one site only
while a sibling is on the other. ``looqta.match.engine.match_pairs`` pairs the amazon offers with
the noon offers in this process, one core; a pair is right when both offers are one product.

* **Quality**: precision, recall, F1 overall; recall per product category and per title variation
  (a pair counts under each variation either of its titles has); per hard-negative kind, how many
  negatives were wrongly matched.
* **Speed**: offers matched per second (both sides over the wall time of ``match_pairs``, features
  included), and ``group`` over all offers (what a rebuild does).
* **Memory**: tracemalloc's peak during ``match_pairs`` at each ``--memory-offers`` size (a separate
  run, so tracing does not slow the timed one); all-pairs matching would grow it with the square.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import matching_groups, matching_world
from benchmarks.matching_set import NEGATIVE_KINDS, SIDES, LabelledOffer, LabelledSet, build
from looqta.match import engine
from looqta.match.model import Offer, offer_key
from looqta.sandbox.families import FAMILIES

if TYPE_CHECKING:
    from looqta.match.model import Match

ROOT = Path(__file__).resolve().parents[1]
GOAL_PRECISION = 0.98
GOAL_RECALL = 0.90
GOAL_SECONDS_10K = 60.0


def offers_of(labelled: LabelledSet, side: str) -> list[Offer]:
    return [
        Offer(key=offer_key(side, o.id), site=side, title=o.title, brand=o.brand) for o in labelled.side(side)
    ]


def score(labelled: LabelledSet, pairs: list[Match]) -> dict[str, Any]:
    """Precision, recall and F1 overall; recall per category and variation; negatives matched."""
    by_key = {offer_key(o.side, o.id): o for o in labelled.offers}
    right = [p for p in pairs if by_key[p.left].identity == by_key[p.right].identity]
    possible = labelled.possible_pairs()
    overall = matching_world.prf(len(right), len(pairs), possible)
    found = {(p.left, p.right) for p in right}

    def category(offer: LabelledOffer) -> str:
        return FAMILIES[offer.identity.family].category

    per_category: dict[str, dict[str, Any]] = {}
    per_variation: dict[str, dict[str, Any]] = {}
    copies: dict[Any, list[list[LabelledOffer]]] = {}
    for offer in labelled.offers:
        copies.setdefault(offer.identity, [[], []])[SIDES.index(offer.side)].append(offer)
    for lefts, rights in copies.values():
        if not lefts or not rights:
            continue
        possible_here = min(len(lefts), len(rights))
        hits = sum(
            1 for a in lefts for b in rights if (offer_key(a.side, a.id), offer_key(b.side, b.id)) in found
        )
        row = per_category.setdefault(category(lefts[0]), {"possible": 0, "found": 0, "predicted": 0})
        row["possible"] += possible_here
        row["found"] += hits
        for variation in {t for o in (*lefts, *rights) for t in o.transforms}:
            vrow = per_variation.setdefault(variation, {"possible": 0, "found": 0})
            vrow["possible"] += possible_here
            vrow["found"] += hits
    for pair in pairs:
        per_category.setdefault(category(by_key[pair.left]), {"possible": 0, "found": 0, "predicted": 0})[
            "predicted"
        ] += 1
    for row in per_category.values():
        row |= matching_world.prf(row["found"], row["predicted"], row["possible"])
    for row in per_variation.values():
        row["recall"] = row["found"] / row["possible"] if row["possible"] else None
    negatives: dict[str, dict[str, int]] = {
        kind: {"offers": 0, "wrongly_matched": 0} for kind in NEGATIVE_KINDS
    }
    good = set(right)
    wrong = [p for p in pairs if p not in good]
    in_wrong = {p.left for p in wrong} | {p.right for p in wrong}
    for key, offer in by_key.items():
        if offer.negative:
            negatives[offer.negative]["offers"] += 1
            negatives[offer.negative]["wrongly_matched"] += int(key in in_wrong)
    rules: dict[str, int] = {}
    for pair in pairs:
        rules[pair.rule] = rules.get(pair.rule, 0) + 1
    return {
        "overall": overall,
        "per_category": dict(sorted(per_category.items())),
        "per_variation": dict(sorted(per_variation.items())),
        "negatives": negatives,
        "rules": dict(sorted(rules.items())),
        "false_pairs": [
            {"left": by_key[p.left].title, "right": by_key[p.right].title, "rule": p.rule, "score": p.score}
            for p in wrong
        ][:20],
    }


def timed_run(offers: int, seed: int) -> tuple[LabelledSet, list[Match], dict[str, Any]]:
    labelled = build(offers, seed)
    left, right = offers_of(labelled, SIDES[0]), offers_of(labelled, SIDES[1])
    cpu, wall = time.process_time(), time.perf_counter()
    pairs = engine.match_pairs(left, right)
    pair_wall, pair_cpu = time.perf_counter() - wall, time.process_time() - cpu
    cpu, wall = time.process_time(), time.perf_counter()
    products = engine.group([*left, *right])
    group_wall, group_cpu = time.perf_counter() - wall, time.process_time() - cpu
    speed = {
        "offers": len(left) + len(right),
        "left": len(left),
        "right": len(right),
        "match_pairs_seconds": pair_wall,
        "match_pairs_cpu_seconds": pair_cpu,
        "offers_per_second": (len(left) + len(right)) / pair_wall,
        "group_seconds": group_wall,
        "group_cpu_seconds": group_cpu,
        "group_products": len(products),
    }
    return labelled, pairs, speed


def peak_memory(offers: int, seed: int) -> dict[str, Any]:
    """tracemalloc's peak (MiB) while ``match_pairs`` runs on a set of ``offers`` offers."""
    labelled = build(offers, seed)
    left, right = offers_of(labelled, SIDES[0]), offers_of(labelled, SIDES[1])
    tracemalloc.start()
    try:
        engine.match_pairs(left, right)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"offers": len(left) + len(right), "peak_mib": peak / 2**20}


def write_set(labelled: LabelledSet, directory: Path) -> None:
    """The set as ``amazon.jsonl`` / ``noon.jsonl`` (what ``python -m looqta.match pairs`` reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    for side in SIDES:
        lines = [
            json.dumps({"id": o.id, "title": o.title, **({"brand": o.brand} if o.brand else {})})
            for o in labelled.side(side)
        ]
        (directory / f"{side}.jsonl").write_text("\n".join(lines) + "\n")


def table(result: dict[str, Any]) -> str:
    quality, speed = result["quality"], result["speed"]
    o = quality["overall"]
    lines = [
        f"matching: {speed['offers']} offers ({speed['left']} amazon, {speed['right']} noon), "
        f"seed {result['seed']}",
        "",
        "| set | pairs possible | predicted | right | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|",
        f"| all | {o['possible']} | {o['predicted']} | {o['true']} | {o['precision']:.4f} "
        f"| {o['recall']:.4f} | {o['f1']:.4f} |",
    ]
    for name, row in quality["per_category"].items():
        lines.append(
            f"| {name} | {row['possible']} | {row['predicted']} | {row['found']} | {row['precision']:.4f} "
            f"| {row['recall']:.4f} | {row['f1']:.4f} |"
        )
    lines += ["", "| title variation | pairs with it | found | recall |", "|---|---|---|---|"]
    for name, row in quality["per_variation"].items():
        lines.append(f"| {name} | {row['possible']} | {row['found']} | {row['recall']:.4f} |")
    lines += ["", "| hard negative | offers | wrongly matched |", "|---|---|---|"]
    for name, row in quality["negatives"].items():
        lines.append(f"| {name} | {row['offers']} | {row['wrongly_matched']} |")
    lines += [
        "",
        f"match_pairs: {speed['match_pairs_seconds']:.2f} s wall "
        f"({speed['match_pairs_cpu_seconds']:.2f} s CPU), "
        f"{speed['offers_per_second']:.0f} offers/s; group: {speed['group_seconds']:.2f} s, "
        f"{speed['group_products']} products",
        "memory (tracemalloc peak during match_pairs): "
        + ", ".join(f"{m['offers']} offers {m['peak_mib']:.1f} MiB" for m in result["memory"]),
        "rules of the pairs: " + ", ".join(f"{k} {v}" for k, v in quality["rules"].items()),
        "",
        "goals: "
        + ", ".join(
            f"{k} {'met' if v['met'] else 'NOT met'} ({v['value']})" for k, v in result["goals"].items()
        ),
    ]
    return "\n".join(lines)


def goals(
    quality: dict[str, Any],
    speed: dict[str, Any],
    world: dict[str, Any] | None = None,
    groups: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    o = quality["overall"]
    found = {
        "precision": {"value": round(o["precision"], 4), "met": o["precision"] >= GOAL_PRECISION},
        "recall": {"value": round(o["recall"], 4), "met": o["recall"] >= GOAL_RECALL},
    }
    if speed["offers"] >= 10_000:
        seconds = speed["match_pairs_seconds"]
        found["10k_offers_seconds"] = {"value": round(seconds, 2), "met": seconds < GOAL_SECONDS_10K}
    if world is not None:
        w = world["quality"]["overall"]
        for name, goal in (("precision", GOAL_PRECISION), ("recall", GOAL_RECALL)):
            found[f"world_{name}"] = {"value": round(w[name], 4), "met": w[name] >= goal}
    if groups:  # the products after the reconciler (or a rebuild); one-at-a-time figures are reported only
        for name, goal in (("precision", GOAL_PRECISION), ("recall", GOAL_RECALL)):
            value = groups["group"][name]
            found[f"products_{name}"] = {"value": round(value, 4), "met": value >= goal}
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.matching", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set", choices=("own", "world", "both"), default="both", help="labelled set(s) (default: both)"
    )
    parser.add_argument(
        "--world-offers", type=int, default=3000, help="world set: listings per site (default: 3000)"
    )
    parser.add_argument("--offers", type=int, default=10_000, help="offers in the timed set (both sites)")
    parser.add_argument(
        "--memory-offers",
        default="2500,5000",
        help="comma-separated set sizes whose peak memory is measured (default: 2500,5000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the set's seed (default: 1)")
    parser.add_argument(
        "--write-set", type=Path, help="also write the set as DIR/amazon.jsonl, DIR/noon.jsonl"
    )
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    if args.offers < 10:
        parser.error(f"--offers: must be >= 10, got {args.offers}")
    if args.world_offers < 10:
        parser.error(f"--world-offers: must be >= 10, got {args.world_offers}")
    try:
        args.memory_offers = [int(n) for n in args.memory_offers.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--memory-offers: comma-separated integers, got {args.memory_offers!r}")
    if any(n < 10 for n in args.memory_offers):
        parser.error("--memory-offers: each size must be >= 10")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: no directory {args.json.parent}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    world = None
    groups: dict[str, Any] = {}
    if args.set in ("world", "both"):
        log(f"building the world set ({args.world_offers} listings a site) and matching it")
        world = matching_world.run(args.world_offers)
        log("grouping the world set into products (rebuild and as offers arrive)")
        groups = matching_groups.run(args.world_offers)
    if args.set == "world":
        assert world is not None
        print(matching_world.table(world) + "\n\n" + matching_groups.table(groups))
        if args.json is not None:
            done = {"benchmark": "matching", "world": world, "products": groups}
            args.json.write_text(json.dumps(done, indent=1) + "\n")
        return 0
    log(f"building the set ({args.offers} offers) and matching it")
    labelled, pairs, speed = timed_run(args.offers, args.seed)
    if args.write_set is not None:
        write_set(labelled, args.write_set)
    quality = score(labelled, pairs)
    memory = []
    for size in args.memory_offers:
        log(f"peak memory at {size} offers")
        memory.append(peak_memory(size, args.seed))
    result = {
        "benchmark": "matching",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "seed": args.seed,
        "load_average_at_end": os.getloadavg(),
        "speed": speed,
        "memory": memory,
        "quality": quality,
        "goals": goals(quality, speed, world, groups if world is not None else None),
    }
    if world is not None:
        result["world"] = world
        result["products"] = groups
    print(table(result))
    if world is not None:
        print("\n" + matching_world.table(world) + "\n\n" + matching_groups.table(groups))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
