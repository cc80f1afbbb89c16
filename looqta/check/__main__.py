"""``python -m looqta.check SITE``: a canary crawl of one search, checked against the health thresholds.

    python -m looqta.check amazon                               # the real site, politely
    python -m looqta.check noon --base-url http://127.0.0.1:8001 --q "galaxy s24" --pages 2
    python -m looqta.check amazon --base-url URL --details --json

Exit status: 0 healthy, 1 below a threshold (or the crawl failed), 2 bad arguments.
A loopback --base-url (the sandbox) gets the sandbox profile (no politeness delays);
--sandbox-profile forces it, --polite refuses it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import TYPE_CHECKING

from scrapy.settings import Settings
from scrapy.spiderloader import SpiderLoader

from looqta.check import report
from looqta.check.crawl import SETTINGS_MODULE, Canary, is_loopback, run
from looqta.health.config import HealthConfig
from looqta.spiders.base import SpiderArgumentError

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_TIMEOUT_SECONDS = 900.0
LOG_TAIL_LINES = 30


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m looqta.check", description=__doc__.splitlines()[0])
    main.add_argument("site", help="a spider (python -m scrapy list): one per site")
    main.add_argument("--base-url", help="where the site is (default: the real site)")
    main.add_argument("--q", default="iphone", help="search words (default: %(default)s)")
    main.add_argument("--pages", type=int, default=1, help="search result pages (default: %(default)s)")
    main.add_argument("--details", action="store_true", help="also read every product page")
    main.add_argument("--json", action="store_true", help="print one JSON document")
    profile = main.add_mutually_exclusive_group()
    profile.add_argument("--sandbox-profile", action="store_true", default=None, help="no politeness delays")
    profile.add_argument(
        "--polite", dest="sandbox_profile", action="store_false", help="the real-site settings"
    )
    main.add_argument(
        "-s", "--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
        help="a Scrapy setting for the crawl (repeatable)",
    )  # fmt: skip
    main.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds")
    return main


def canary_from(options: argparse.Namespace, main: argparse.ArgumentParser) -> tuple[Canary, Settings]:
    """Validate the arguments as the crawl will (spider name, spider arguments); exit 2 if bad."""
    if options.pages < 1:
        main.error(f"--pages must be at least 1, got {options.pages}")
    settings = Settings()
    settings.setmodule(SETTINGS_MODULE)
    overrides: dict[str, str] = {}
    for pair in options.settings:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            main.error(f"-s takes NAME=VALUE, got {pair!r}")
        overrides[name] = value
    settings.setdict(overrides, priority="cmdline")
    spiders = SpiderLoader.from_settings(settings)
    if options.site not in spiders.list():
        main.error(f"unknown site {options.site!r}: choose from {', '.join(sorted(spiders.list()))}")
    spider = spiders.load(options.site)
    try:
        args = spider.check_arguments(
            {"q": options.q, "max_pages": options.pages, "base_url": options.base_url or ""}
        )
        health = HealthConfig.from_settings(settings)
    except (SpiderArgumentError, ValueError) as exc:
        main.error(str(exc))
    sandbox = is_loopback(args.base_url) if options.sandbox_profile is None else options.sandbox_profile
    canary = Canary(
        site=options.site,
        base_url=args.base_url,
        q=args.q,
        pages=options.pages,
        details=options.details,
        sandbox_profile=sandbox,
        settings=overrides,
    )
    return canary, health


def main(argv: Sequence[str] | None = None) -> int:
    command = parser()
    options = command.parse_args(argv)
    canary, health = canary_from(options, command)
    try:
        outcome = run(canary, options.timeout)
    except subprocess.TimeoutExpired:
        print(f"error: the crawl took longer than {options.timeout:g} s", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if outcome.stats is None:
        tail = "\n".join(outcome.log.splitlines()[-LOG_TAIL_LINES:])
        print(f"error: the crawl exited {outcome.returncode} without stats:\n{tail}", file=sys.stderr)
        return 1
    result = report.build(
        outcome.stats,
        health,
        site=canary.site,
        base_url=canary.base_url,
        q=canary.q,
        pages=canary.pages,
        details=canary.details,
        sandbox_profile=canary.sandbox_profile,
    )
    print(json.dumps(result, indent=1, default=str) if options.json else report.render(result))
    return 0 if result["health"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
