"""Who registers which control: components announce theirs through ``throttle_control_available``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from scrapy import signals
from scrapy.core.downloader import Slot
from scrapy.utils.test import get_crawler
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from looqta.middlewares.render import RenderMiddleware
from looqta.middlewares.slots import SiteSlotMiddleware
from looqta.pagepool.handler import PooledPlaywrightDownloadHandler
from looqta.throttle.controls import throttle_control_available
from looqta.throttle.downloader import DownloadSlots
from looqta.throttle.pages import PlaywrightPages


def crawler_with(handlers: dict[str, Any]) -> tuple[Any, list[Any]]:
    """A crawler whose engine's downloader holds ``handlers``, and the controls sent on it."""
    crawler = get_crawler(settings_dict={"EXTENSIONS_BASE": {}})  # nothing else on engine_started
    downloader = SimpleNamespace(
        total_concurrency=16, slots={"site": Slot(8, 0.0)}, handlers=SimpleNamespace(_handlers=handlers)
    )
    crawler.engine = SimpleNamespace(downloader=downloader)  # type: ignore[assignment]
    sent: list[Any] = []
    crawler.signals.connect(
        lambda control: sent.append(control), signal=throttle_control_available, weak=False
    )
    return crawler, sent


def test_the_slot_middleware_registers_the_downloader_when_the_engine_starts() -> None:
    crawler, sent = crawler_with({})
    middleware = SiteSlotMiddleware(crawler)  # kept: signals hold receivers weakly
    assert sent == []
    crawler.signals.send_catch_log(signals.engine_started)
    del middleware
    assert len(sent) == 1
    assert isinstance(sent[0], DownloadSlots)
    sent[0].apply(2, None)
    assert crawler.engine.downloader.total_concurrency == 2
    assert crawler.engine.downloader.slots["site"].concurrency == 2


def test_the_render_middleware_registers_plain_playwright_handlers_only() -> None:
    plain = object.__new__(ScrapyPlaywrightDownloadHandler)
    pooled = object.__new__(PooledPlaywrightDownloadHandler)  # registers its own control
    crawler, sent = crawler_with({"http": plain, "https": plain, "ftp": pooled, "data": object()})
    middleware = RenderMiddleware(crawler)  # kept: signals hold receivers weakly
    crawler.signals.send_catch_log(signals.engine_started)
    del middleware
    assert len(sent) == 1
    assert isinstance(sent[0], PlaywrightPages)
    assert sent[0].handlers == [plain]


def test_without_a_playwright_handler_nothing_is_registered_for_pages() -> None:
    crawler, sent = crawler_with({"http": object()})
    middleware = RenderMiddleware(crawler)  # kept: signals hold receivers weakly
    crawler.signals.send_catch_log(signals.engine_started)
    del middleware
    assert sent == []
