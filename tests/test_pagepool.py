"""The page pool's pure parts: the run-time page limit, its settings, its small decisions."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from scrapy.settings import Settings
from scrapy_playwright.page import PageMethod

from looqta.pagepool.config import PagePoolConfig, PagePoolConfigError
from looqta.pagepool.limiter import PageLimiter
from looqta.pagepool.page import web_origin
from looqta.pagepool.rules import changes_page_settings, page_failure, without_image_loading


async def settle() -> None:
    """Let every task that can run, run (no clock involved)."""
    for _ in range(5):
        await asyncio.sleep(0)


def started(tasks: list[asyncio.Task[None]]) -> int:
    return sum(task.done() for task in tasks)


def test_no_more_than_the_limit_hold_a_permit_and_waiters_start_in_order() -> None:
    async def scenario() -> None:
        limiter = PageLimiter(2)
        order: list[int] = []

        async def take(n: int) -> None:
            await limiter.acquire()
            order.append(n)

        tasks = [asyncio.create_task(take(n)) for n in range(5)]
        await settle()
        assert (limiter.in_use, limiter.waiting, order) == (2, 3, [0, 1])
        limiter.release()
        await settle()
        assert order == [0, 1, 2]
        limiter.release()
        limiter.release()
        await settle()
        assert order == [0, 1, 2, 3, 4]
        assert started(tasks) == 5

    asyncio.run(scenario())


def test_shrinking_keeps_pages_in_use_and_new_renders_wait_until_under_the_new_limit() -> None:
    async def scenario() -> None:
        limiter = PageLimiter(4)
        for _ in range(4):
            await limiter.acquire()
        limiter.set_limit(2)
        assert limiter.in_use == 4  # nobody was interrupted
        waiter = asyncio.create_task(limiter.acquire())
        await settle()
        limiter.release()  # 3 in use, still over 2
        limiter.release()  # 2 in use, still not under 2
        await settle()
        assert not waiter.done()
        limiter.release()  # 1 in use: the waiter may start
        await settle()
        assert waiter.done()
        assert limiter.in_use == 2

    asyncio.run(scenario())


def test_growing_starts_waiting_renders_at_once() -> None:
    async def scenario() -> None:
        limiter = PageLimiter(1)
        await limiter.acquire()
        tasks = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
        await settle()
        assert started(tasks) == 0
        limiter.set_limit(3)
        await settle()
        assert started(tasks) == 2
        assert (limiter.in_use, limiter.waiting) == (3, 1)

    asyncio.run(scenario())


def test_a_render_cancelled_while_waiting_takes_no_permit_with_it() -> None:
    async def scenario() -> None:
        limiter = PageLimiter(1)
        await limiter.acquire()
        cancelled = asyncio.create_task(limiter.acquire())
        later = asyncio.create_task(limiter.acquire())
        await settle()
        cancelled.cancel()
        await settle()
        limiter.release()
        await settle()
        assert later.done()
        assert (limiter.in_use, limiter.waiting) == (1, 0)
        limiter.release()
        async with limiter.permit():  # the fast path is free again
            assert limiter.in_use == 1
        assert limiter.in_use == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_a_page_limit_must_be_a_positive_int(bad: object) -> None:
    limiter = PageLimiter(2)
    with pytest.raises(ValueError, match="a page limit must be an int >= 1"):
        limiter.set_limit(bad)  # type: ignore[arg-type]
    assert limiter.limit == 2


def test_settings_are_read_with_defaults_and_bad_values_refused_at_start() -> None:
    config = PagePoolConfig.from_settings(Settings())
    assert config == PagePoolConfig(
        enabled=True,
        max_pages=4,
        page_max_uses=100,
        context_max_pages=10,
        isolated_contexts=(),
        clear_http_cache=True,
        reset_timeout_seconds=5.0,
        blank_reset=False,
        gc_every_uses=4,
    )
    with pytest.raises(PagePoolConfigError, match="LOOQTA_PAGE_POOL_GC_EVERY_USES must be >= 1"):
        PagePoolConfig.from_settings(Settings({"LOOQTA_PAGE_POOL_GC_EVERY_USES": 0}))
    with pytest.raises(PagePoolConfigError, match="LOOQTA_PAGE_POOL_PAGE_MAX_USES must be >= 1"):
        PagePoolConfig.from_settings(Settings({"LOOQTA_PAGE_POOL_PAGE_MAX_USES": 0}))
    with pytest.raises(PagePoolConfigError, match="RESET_TIMEOUT_SECONDS must be > 0"):
        PagePoolConfig.from_settings(Settings({"LOOQTA_PAGE_POOL_RESET_TIMEOUT_SECONDS": 0}))


def test_page_methods_that_change_the_page_itself_mark_it_for_closing() -> None:
    assert not changes_page_settings(None)
    assert not changes_page_settings([PageMethod("wait_for_selector", "#x"), PageMethod("evaluate", "1")])
    assert changes_page_settings([PageMethod("set_viewport_size", {"width": 1, "height": 1})])
    assert changes_page_settings({"init": PageMethod("add_init_script", "1")})
    assert changes_page_settings([PageMethod(lambda page: None)])  # could do anything


def test_why_a_page_cannot_serve_again() -> None:
    def slot(**state: object) -> SimpleNamespace:
        return SimpleNamespace(**({"crashed": False, "usable": True} | state))

    assert page_failure(slot(crashed=True), PlaywrightError("x")) == "crashed"  # type: ignore[arg-type]
    assert page_failure(slot(), PlaywrightError("Page.goto: Page crashed")) == "crashed"  # type: ignore[arg-type]
    assert page_failure(slot(usable=False), PlaywrightError("x")) == "closed"  # type: ignore[arg-type]
    assert page_failure(slot(), PlaywrightTimeoutError("x")) == "timeout"  # type: ignore[arg-type]
    assert page_failure(slot(), TimeoutError()) == "timeout"  # type: ignore[arg-type]
    assert page_failure(slot(), PlaywrightError("net::ERR_CONNECTION_REFUSED")) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8080/a?b#c", "http://127.0.0.1:8080"),
        ("https://User:pw@Noon.COM/x", "https://noon.com"),
        ("about:blank", None),
        ("data:text/html,x", None),
    ],
)
def test_origins_to_clear_are_those_of_web_documents_only(url: str, origin: str | None) -> None:
    assert web_origin(url) == origin


def test_image_loading_is_turned_off_keeping_playwrights_headless_blink_settings() -> None:
    options = without_image_loading({"headless": True, "args": ["--no-sandbox"]})
    assert options["args"][0] == "--no-sandbox"
    blink = options["args"][1]
    assert blink.startswith("--blink-settings=imagesEnabled=false,")
    assert "primaryPointerType=4" in blink
    assert without_image_loading({"headless": False})["args"] == ["--blink-settings=imagesEnabled=false"]
    mine = {"args": ["--blink-settings=foo=1"]}
    assert without_image_loading(mine) is mine  # someone else's choice stands
