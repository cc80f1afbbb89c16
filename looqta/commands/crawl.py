"""``scrapy crawl`` that refuses bad spider arguments up front, as a usage error.

Scrapy builds the spider inside the crawl's start-up, so an argument error
would surface as a traceback. Spiders that define ``check_arguments(kwargs)``
have their ``-a`` arguments checked here first: a bad one ends the command with
``crawl: error: <reason>`` and exit status 2, before any request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from looqta.spiders.base import SpiderArgumentError

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) == 1 and self.crawler_process is not None:
            try:
                spidercls = self.crawler_process.spider_loader.load(args[0])
            except KeyError:
                spidercls = None  # Scrapy's own command reports the unknown name
            check = getattr(spidercls, "check_arguments", None)
            if check is not None:
                try:
                    check(opts.spargs)
                except SpiderArgumentError as exc:
                    raise UsageError(str(exc), print_help=False) from exc
        super().run(args, opts)
