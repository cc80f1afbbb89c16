"""Adding a site touches two modules: its spider and its sandbox stand-in (docs/sites.md, "Adding a site").

The test writes both for a made-up shop, "shopx", into a directory of its own and edits nothing:
the stand-in at ``looqta/sandbox/sites/shopx.py`` there (the registry searches such directories on
``sys.path``), the spider in a package added to ``SPIDER_MODULES`` (in the project it would be
``looqta/spiders/shopx.py``, already listed). The sandbox serves the shop on loopback, and
``scrapy crawl shopx`` with the project's settings reads it end to end, in the download slot its
spider declares.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
import urllib.request
from typing import TYPE_CHECKING

import pytest
from crawling import TEST_CRAWL_SETTINGS, run_crawl

from looqta.sandbox import sites
from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.client import SandboxProcess
from looqta.sandbox.server import SandboxConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SITE = "shopx"
PAGE_SIZE = 10
PRODUCTS = 400
QUERY = "galaxy"
PAGES = 3
#: The spider's politeness: one request at a time, 0.3 s apart (the sandbox profile names no slot
#: for shopx, so only the spider's default can space its requests).
DELAY_SECONDS = 0.3
#: The package of the new spider (the project's own is looqta.spiders).
SPIDERS = "newsite_spiders"

STAND_IN = '''
    """shopx stand-in: a plain server-rendered search with a "next" link."""

    from __future__ import annotations

    from html import escape

    from aiohttp import web

    from looqta.sandbox.blocks import akamai_challenge
    from looqta.sandbox.context import page_number, site_context
    from looqta.sandbox.markup import amount, document
    from looqta.sandbox.standin import StandIn

    PAGE_SIZE = {page_size}


    def new_id(rng):
        return "X" + "".join(rng.choices("0123456789", k=7))


    async def _search(request: web.Request) -> web.Response:
        context = site_context(request)
        page = page_number(request)
        result = context.catalogue.search(request.query.get("q", ""), page, PAGE_SIZE)
        cards = "".join(
            f'<li class="product" data-id="{{p.source_id}}">'
            f'<a href="/p/{{p.source_id}}">{{escape(p.title)}}</a>'
            f'<span class="price">AED {{amount(p.price)}}</span></li>'
            for p in result.products
        )
        following = f"/search?q={{result.query}}&page={{page + 1}}"
        more = f'<a rel="next" href="{{following}}">Next</a>' if result.has_next else ""
        body = f"<ul>{{cards}}</ul>{{more}}" if cards else '<p class="no-results">Nothing found</p>'
        return web.Response(text=document("shopx", body), content_type="text/html")


    def _captcha() -> str:
        return document("shopx", "<h1>shopx wants to know you are human</h1>")


    def add_routes(app: web.Application) -> None:
        app.router.add_get("/search", _search)


    STAND_IN = StandIn(
        name="shopx",
        add_routes=add_routes,
        new_id=new_id,
        challenge=akamai_challenge,
        block_pages={{"captcha": _captcha}},
    )
'''

SPIDER = '''
    """shopx: a search spider; the site, its selectors and its politeness, nothing else."""

    from __future__ import annotations

    from urllib.parse import urlencode

    from looqta.extract import css, extract, parse_currency, parse_price, value
    from looqta.spiders.base import PageType, SearchSpider

    CARD = "li.product"
    FIELDS = {{
        "source_id": (css("::attr(data-id)"),),
        "title": (css("a::text"),),
        "price": (css(".price::text"),),
        "currency": (css(".price::text"), value("AED", "site")),
    }}
    PARSERS = {{"price": parse_price, "currency": parse_currency}}


    class ShopxSpider(SearchSpider):
        name = "shopx"
        default_base_url = "https://www.shopx.example"
        download_slot = {{"concurrency": 1, "delay": {delay}, "jitter": 0.0}}
        page_types = {{
            "search": PageType("search", tuple(FIELDS), f"{{CARD}}, .no-results"),
        }}

        async def start(self):
            yield self.page_request(self.search_url(1), "search", self.parse_search, cb_kwargs={{"page": 1}})

        def search_url(self, page):
            return f"{{self.base_url}}/search?{{urlencode({{'q': self.args.q, 'page': page}})}}"

        def parse_search(self, response, page):
            for card in response.css(CARD):
                found = extract(card, "search", FIELDS, PARSERS)
                found.count_into(self.crawler.stats)
                yield self.result_item(found, response.urljoin(card.css("a::attr(href)").get()), response)
            if response.css("a[rel=next]") and self.args.allows_page(page + 1):
                yield self.page_request(
                    self.search_url(page + 1), "search", self.parse_search, cb_kwargs={{"page": page + 1}}
                )
'''


@pytest.fixture
def site_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory holding only the two new modules, at the paths they would have in the project,
    on the path of this process (its stand-in registry re-read) and of the processes it starts."""
    pack = tmp_path / "pack"
    stand_in = pack / "looqta" / "sandbox" / "sites" / f"{SITE}.py"
    spider = pack / SPIDERS / f"{SITE}.py"
    for path, text in (
        (stand_in, STAND_IN.format(page_size=PAGE_SIZE)),
        (spider, SPIDER.format(delay=DELAY_SECONDS)),
    ):
        path.parent.mkdir(parents=True)
        path.write_text(textwrap.dedent(text))
    (spider.parent / "__init__.py").touch()
    monkeypatch.setenv("PYTHONPATH", str(pack))  # the sandbox subprocess
    monkeypatch.syspath_prepend(str(pack))  # this process: its registry, read again
    monkeypatch.setattr(sites, "__path__", list(sites.__path__))
    sites.stand_ins.cache_clear()
    yield pack
    sites.stand_ins.cache_clear()
    for name in (f"{sites.__name__}.{SITE}", SPIDERS, f"{SPIDERS}.{SITE}"):
        sys.modules.pop(name, None)


def test_the_registry_finds_the_new_stand_in_after_the_existing_ones(site_pack: Path) -> None:
    assert sites.names() == ("amazon", "noon", SITE)
    config = SandboxConfig(port=9000)
    assert [config.port_for(name) for name in config.sites] == [9000, 9001, 9002]  # amazon, noon as before
    assert [config.cdn_port_for(name) for name in config.sites] == [9003, 9004, 9005]
    assert Catalogue(SITE, 5).products[0].source_id.startswith("X")


def test_a_new_site_is_served_and_crawled_end_to_end_in_its_own_slot(site_pack: Path, tmp_path: Path) -> None:
    assert SITE not in TEST_CRAWL_SETTINGS["DOWNLOAD_SLOTS"]  # the slot comes from the spider alone
    shown = Catalogue(SITE, PRODUCTS).search_all(QUERY)
    assert len(shown) > PAGES * PAGE_SIZE
    expected = {p.source_id: p for p in shown[: PAGES * PAGE_SIZE]}
    with SandboxProcess(sites=(SITE,), products=PRODUCTS) as sandbox:
        base = sandbox.url(SITE)
        assert base.startswith("http://127.0.0.1:")
        sandbox.set_faults(SITE, blocks={"captcha": 1.0})
        with urllib.request.urlopen(f"{base}/search?q={QUERY}", timeout=10) as answer:
            assert "shopx wants to know you are human" in answer.read().decode()
        sandbox.clear_faults(SITE)
        sandbox.clear_requests(SITE)

        result = run_crawl(
            SITE,
            tmp_path,
            spider_args={"q": QUERY, "max_pages": PAGES, "base_url": base},
            settings={"LOOQTA_FILES_ENABLED": False, "SPIDER_MODULES": f"looqta.spiders,{SPIDERS}"},
            pythonpath=(site_pack,),
        )
        log = sandbox.requests(SITE)

    assert result.returncode == 0, result.stderr[-3000:]
    items = {item["source_id"]: item for item in result.items}
    assert set(items) == set(expected)
    for source_id, item in items.items():
        assert item["source"] == SITE
        assert item["title"] == expected[source_id].title
        assert item["price"] == str(expected[source_id].price)
        assert item["currency"] == "AED"
    assert result.stat("item_scraped_count") == len(expected)
    searches = [entry for entry in log if entry["path_qs"].startswith("/search")]
    assert len(searches) == PAGES
    times = sorted(entry["t"] for entry in log)  # robots.txt, then each page: one slot, 0.3 s apart
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps, log
    assert min(gaps) >= DELAY_SECONDS * 0.8, gaps
