"""The real-sites issue's goals, on crawls of the sandbox with every variant mixed.

* 5 % block pages of every kind: at least 0.99 of the products shown with an offer yield items
  with id, title, price and currency, no block page is parsed as a result page, and the run's
  health report is green;
* a browser wait for content a page lacks times out, and the page is parsed anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawling import run_crawl
from test_spider_amazon import expected_offers as amazon_offers
from test_spider_noon import expected_offers as noon_offers

from looqta.middlewares.blocks import BlocksConfig

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

MIXED_BLOCKS = {"captcha": 0.015, "interstitial": 0.01, "forbidden": 0.015, "server_error": 0.01}
REQUIRED = ("source_id", "title", "price", "currency")


def test_five_percent_blocks_on_both_sites_yield_99_percent_of_products(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = {"amazon": amazon_offers("samsung", 6), "noon": noon_offers("samsung", 6)}
    for site in expected:
        clean_sandbox.set_faults(site, blocks=MIXED_BLOCKS, block_seed=5)
        (tmp_path / site).mkdir()
        result = run_crawl(
            site,
            tmp_path / site,
            spider_args={"q": "samsung", "max_pages": 6, "base_url": clean_sandbox.url(site), "details": 1},
            settings={"LOOQTA_FILES_ENABLED": False},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        complete = {i["source_id"] for i in result.items if all(i.get(f) not in (None, "") for f in REQUIRED)}
        share = len(complete & set(expected[site])) / len(expected[site])
        assert share >= 0.99, (site, share)
        assert result.stat("looqta/blocks/total") > 0  # blocks were served, and recognised
        assert result.stat("looqta/pages/search/unparsed") == 0  # none was parsed as a result page
        assert result.stat("looqta/validate/dropped") == 0
        assert result.stats["finish_reason"] == "finished"
        assert result.stats["looqta/health/ok"] is True, result.stats.get("looqta/health/summary")
        served = clean_sandbox.faults(site)["blocked"]
        assert sum(served.values()) == result.stat("looqta/blocks/total")  # every block page caught


def test_a_rendered_page_without_its_content_is_parsed_after_the_wait(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # Scripts off: the browser cannot pass the challenge, so the results never appear.
    clean_sandbox.set_faults("amazon", challenge=1.0, path_prefix="/s")
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "base_url": clean_sandbox.url("amazon")},
        settings={
            "LOOQTA_FILES_ENABLED": False,
            "PLAYWRIGHT_CONTEXTS": {"default": {"java_script_enabled": False}},
            "LOOQTA_RENDER_WAIT_TIMEOUT_SECONDS": 1,
            "LOOQTA_BLOCKS_MAX_RETRIES": 2,
        },
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stat("looqta/render/amazon/search/wait_missed") == 2  # both browser tries
    assert result.stat("looqta/blocks/challenge") == 3  # ...were parsed: still a challenge
    assert result.stats["finish_reason"] == "blocked"


def test_block_backoff_doubles_per_block_in_a_row_up_to_its_cap() -> None:
    config = BlocksConfig(enabled=True, max_retries=3, backoff_seconds=5.0, backoff_max_seconds=30.0)
    assert [config.backoff(n) for n in (1, 2, 3, 4, 5)] == [5.0, 10.0, 20.0, 30.0, 30.0]
