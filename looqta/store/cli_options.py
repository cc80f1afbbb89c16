"""The options every store command line shares (``--uri``, ``--database``, ``--data-dir``, ``-s``),
and the :class:`StoreConfig` they give: the crawl's settings, overridden from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.utils.project import get_project_settings

from looqta.store.config import StoreConfig

if TYPE_CHECKING:
    import argparse


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uri", help="MongoDB URI (default: MONGO_URI; empty: the embedded server)")
    parser.add_argument("--database", help="database name (default: MONGO_DATABASE)")
    parser.add_argument(
        "--data-dir", type=Path, help="embedded server directory (default: LOOQTA_STORE_DATA_DIR)"
    )
    parser.add_argument(
        "-s",
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="set a setting, as with scrapy (e.g. -s LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS=1)",
    )


def check_store_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if any("=" not in pair for pair in args.set):
        parser.error("-s takes NAME=VALUE")


def load_config(args: argparse.Namespace) -> StoreConfig:
    settings = get_project_settings()
    settings.setdict(dict(pair.split("=", 1) for pair in args.set), priority="cmdline")
    overrides = {
        "MONGO_URI": args.uri,
        "MONGO_DATABASE": args.database,
        "LOOQTA_STORE_DATA_DIR": args.data_dir,
    }
    given = {name: value for name, value in overrides.items() if value is not None}
    settings.setdict(given, priority="cmdline")
    return StoreConfig.from_settings(settings)
