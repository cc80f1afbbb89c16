"""Offers to products from a terminal.

    python -m looqta.match pairs LEFT.jsonl RIGHT.jsonl   matched pairs as JSON lines
    python -m looqta.match rebuild [...]                  re-match the store (looqta.match.rebuild)

Exit status: 0 done, 2 bad input (a missing file, a bad line: the message names it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from looqta.match.pairs import OffersFileError, pairs


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m looqta.match", description="Match offers across sites.")
    commands = parser.add_subparsers(dest="command", required=True)
    pair = commands.add_parser("pairs", help="matched pairs of two JSON Lines files of offers")
    pair.add_argument("left", type=Path, help='offers, a JSON object a line: {"id", "title", "brand"?, ...}')
    pair.add_argument("right", type=Path, help="the other site's offers, same shape")
    commands.add_parser("rebuild", help="re-match every offer in the store (idempotent)", add_help=False)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["rebuild"]:
        # The store side's module; imported here only, so ``pairs`` works without it.
        try:
            rebuild = importlib.import_module("looqta.match.rebuild")
        except ModuleNotFoundError as error:
            if error.name != "looqta.match.rebuild":
                raise
            print("error: rebuild is not available here (no looqta.match.rebuild)", file=sys.stderr)
            return 2
        return int(rebuild.main(argv[1:]) or 0)
    args = parse_args(argv)
    try:
        found = pairs(args.left, args.right)
    except OffersFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for pair in found:
        print(json.dumps(pair))
    return 0


if __name__ == "__main__":
    sys.exit(main())
