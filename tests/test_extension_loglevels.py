"""Third-party loggers at WARNING unless asked: the levels set, kept and asked for, and a real crawl's log."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import pytest
from crawling import run_crawl
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from looqta.extensions.loglevels import DEFAULT_LOGGERS, ThirdPartyLogLevels

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess


@pytest.fixture(autouse=True)
def unset_levels() -> Iterator[None]:
    """Each test starts and ends with the third-party loggers as a fresh process has them."""
    for name in DEFAULT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for name in DEFAULT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def build(**settings: object) -> ThirdPartyLogLevels:
    return ThirdPartyLogLevels(get_crawler(settings_dict=settings))


def test_third_party_loggers_are_set_to_warning_at_crawl_start() -> None:
    extension = build()
    assert extension.changed == ["pymongo", "protego"]
    assert logging.getLogger("pymongo.command").getEffectiveLevel() == logging.WARNING
    assert not logging.getLogger("pymongo.topology").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("scrapy").level == logging.NOTSET  # Scrapy's own are not third-party


def test_a_level_someone_set_is_kept() -> None:
    logging.getLogger("pymongo").setLevel(logging.DEBUG)
    assert build().changed == ["protego"]
    assert logging.getLogger("pymongo").level == logging.DEBUG


def test_a_second_crawl_in_the_process_applies_the_same_level() -> None:
    build()
    assert build().changed == ["pymongo", "protego"]


def test_the_level_and_loggers_are_settings() -> None:
    extension = build(LOOQTA_THIRD_PARTY_LOG_LEVEL="debug", LOOQTA_THIRD_PARTY_LOGGERS=["pymongo"])
    assert extension.changed == ["pymongo"]
    assert logging.getLogger("pymongo").level == logging.DEBUG
    assert logging.getLogger("protego").level == logging.NOTSET


def test_an_empty_level_leaves_them_alone_and_a_bad_one_fails_at_start() -> None:
    with pytest.raises(NotConfigured):
        build(LOOQTA_THIRD_PARTY_LOG_LEVEL="")
    with pytest.raises(ValueError, match="LOOQTA_THIRD_PARTY_LOG_LEVEL must be a logging level name"):
        build(LOOQTA_THIRD_PARTY_LOG_LEVEL="LOUD")


PYMONGO_DEBUG = re.compile(r"^\S+ \S+ \[pymongo[.\]][^\n]* DEBUG: ", re.MULTILINE)


@pytest.mark.parametrize(("level", "pymongo_debug"), [("WARNING", False), ("", True)])
def test_a_crawl_log_at_debug_has_no_pymongo_debug_records(
    clean_sandbox: SandboxProcess, tmp_path: Path, level: str, pymongo_debug: bool
) -> None:
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 1, "base_url": clean_sandbox.url("noon")},
        settings={"LOG_LEVEL": "DEBUG", "LOOQTA_FILES_ENABLED": False, "LOOQTA_THIRD_PARTY_LOG_LEVEL": level},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stat("looqta/store/written") > 0  # the items went through pymongo
    assert "[scrapy.core.engine] DEBUG: Crawled (200)" in result.stderr  # the crawl's own DEBUG records stay
    assert bool(PYMONGO_DEBUG.search(result.stderr)) is pymongo_debug  # "": the flood this prevents
