"""looqta's Scrapy settings.

Only what looqta chooses differently from Scrapy's defaults is here, with the
reason. Secrets and per-machine values come from the environment, read here and
nowhere else.
"""

from __future__ import annotations

import os

BOT_NAME = "looqta"
SPIDER_MODULES = ["looqta.spiders"]
NEWSPIDER_MODULE = "looqta.spiders"
# `scrapy crawl` checks spider arguments before anything starts.
COMMANDS_MODULE = "looqta.commands"

# Identify ourselves and obey robots.txt: a price-comparison crawler runs every
# day against the same sites and must stay welcome there.
USER_AGENT = "looqta/0.1 (+https://looqta.example/bot)"
ROBOTSTXT_OBEY = True
# Protego (RFC 9309 wildcards), plus paths a site's owner has permitted in writing
# (looqta/robots.py): none by default. noon's robots.txt disallows search pages for
# crawlers it does not name (docs/sites.md, "robots.txt").
ROBOTSTXT_PARSER = "looqta.robots.PermittedRobotParser"
LOOQTA_ROBOTS_PERMITTED: dict[str, list[str]] = {}

# No telnet console: it listens on a local port with its password in the log (docs/security.md).
TELNETCONSOLE_ENABLED = False

FEED_EXPORT_ENCODING = "utf-8"
# CSV feeds write list and record columns (image_urls, files) as JSON, not Python reprs.
FEED_EXPORTERS = {
    "csv": "looqta.exporters.JsonColumnsCsvItemExporter",
    # Each line reaches the file as it is written: a killed crawl's feed ends on a whole line.
    "jsonlines": "looqta.exporters.FlushingJsonLinesItemExporter",
    "jsonl": "looqta.exporters.FlushingJsonLinesItemExporter",
}

# --- Per-site cooldowns ------------------------------------------------------
# Every request to a spider's own site goes to a download slot named after the
# spider (looqta.middlewares.slots), so its entry holds on the real site and in
# the sandbox alike. Each spider declares its site's entry (``download_slot``:
# "delay" is the site's floor, which SiteAutoThrottle never goes under;
# "concurrency" the most requests in flight to it); a DOWNLOAD_SLOTS entry set
# here or with -s replaces it.
# Scrapy's downloader with each slot's concurrency kept when requests burst into a slot
# without a delay (a Retry-After ending, the engine filling up): looqta/downloader.py.
DOWNLOADER = "looqta.downloader.Downloader"
# Any other host (image and document CDNs) starts at AUTOTHROTTLE_START_DELAY and
# is allowed as many in-flight requests as AutoThrottle's delay lets through.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
EXTENSIONS = {
    "scrapy.extensions.throttle.AutoThrottle": None,
    "looqta.extensions.autothrottle.SiteAutoThrottle": 0,
    "looqta.extensions.statsfile.StatsFile": 900,
    "scrapy.extensions.logstats.LogStats": None,
    "looqta.extensions.progress.Progress": 0,
    "looqta.extensions.metrics_endpoint.MetricsEndpoint": 800,
    "looqta.throttle.extension.ThrottleExtension": 100,
    "looqta.extensions.gcfreeze.GcFreeze": 0,
    # pymongo and protego at WARNING (LOOQTA_THIRD_PARTY_LOG_LEVEL), before any store call.
    "looqta.extensions.loglevels.ThirdPartyLogLevels": 0,
    # Run health at spider close; before MetricsEndpoint (800) and StatsFile (900), which report it.
    "spidermon.contrib.scrapy.extensions.Spidermon": 500,
    # A warm crawler's live snapshot in Redis for the search service (inert in other crawls).
    "looqta.search.presence.CrawlerPresence": 0,
}
# Objects alive at engine start are frozen out of full garbage collections, which
# otherwise stall the event loop 40-200 ms each (looqta/extensions/gcfreeze.py).
LOOQTA_GC_FREEZE_ENABLED = True
# Resource-aware concurrency (looqta/throttle): scales download slots, rendered
# pages and file workers while CPU < 80 %, memory < 85 % and >= 1 GiB stays free;
# every LOOQTA_THROTTLE_* setting is documented in docs/throttle.md.
LOOQTA_THROTTLE_ENABLED = True
# Where looqta keeps state (embedded database, file queue, Scrapyd, the registry
# of running crawls); absolute, so Scrapyd jobs agree with the shell.
LOOQTA_DATA_DIR = os.path.abspath(os.environ.get("LOOQTA_DATA_DIR") or ".looqta")
# Owner-only: the directory 0700, what a crawl creates 0600 (umask 077; feeds and logs too).
LOOQTA_PRIVATE_FILES_ENABLED = True

# Live metrics of every crawl on loopback (/metrics for Prometheus, /status.json).
LOOQTA_METRICS_ENABLED = True
LOOQTA_METRICS_HOST = "127.0.0.1"
LOOQTA_METRICS_PORT = 0  # 0: any free port, registered under LOOQTA_DATA_DIR/crawls
LOOQTA_METRICS_SAMPLE_INTERVAL_SECONDS = 5.0

# Final stats as JSON, e.g. "output/%(name)s.stats.json"; off when empty.
LOOQTA_STATS_FILE = ""

# Manual jobs ahead of bulk jobs across all sites (looqta.pqueues).
SCHEDULER_PRIORITY_QUEUE = "looqta.pqueues.JobAwarePriorityQueue"

# 429/503 + Retry-After: cool down that site only, retry a bounded number of times.
LOOQTA_RETRY_AFTER_ENABLED = True
LOOQTA_RETRY_AFTER_HTTP_CODES = [429, 503]
LOOQTA_RETRY_AFTER_MAX_RETRIES = 3
LOOQTA_RETRY_AFTER_MAX_SECONDS = 300.0
LOOQTA_RETRY_AFTER_DEFAULT_SECONDS = 5.0

# Every download (pages, redirects, robots.txt, files; rendered pages' own requests through the
# browser's abort rule) only from the site's own and CDN origins over http(s) (docs/security.md).
LOOQTA_GUARD_ENABLED = True
LOOQTA_GUARD_DNS_CACHE_SECONDS = 300.0

DOWNLOADER_MIDDLEWARES = {
    # First, before robots.txt is fetched for a host a hostile page named.
    "looqta.guard.middleware.OriginGuardMiddleware": 10,
    "looqta.middlewares.slots.SiteSlotMiddleware": 50,
    "looqta.middlewares.blocks.BlockMiddleware": 555,
    "looqta.middlewares.retry_after.RetryAfterMiddleware": 560,
    # Nearest the download handler: every answer passes them before a block or a 429 turns
    # it into a retry (which ends the answer's way back through the middlewares).
    "looqta.render.middleware.AdaptiveRenderMiddleware": 570,
    "looqta.middlewares.render.RenderMiddleware": 580,
}
SPIDER_MIDDLEWARES = {
    "looqta.render.middleware.PageCheckMiddleware": 450,
    # Nearest the engine: a warm crawler's searches counted from what the spider yields (looqta.search).
    "looqta.search.middleware.SearchOutputMiddleware": 10,
}

# Block pages (looqta/blocks.py, looqta/middlewares/blocks.py): the site cools down for
# 5 s doubled per block in a row (<= 300 s); a blocked request is retried 3 times.
LOOQTA_BLOCKS_ENABLED = True
LOOQTA_BLOCKS_MAX_RETRIES = 3
LOOQTA_BLOCKS_BACKOFF_SECONDS = 5.0
LOOQTA_BLOCKS_BACKOFF_MAX_SECONDS = 300.0

# Plain HTTP first; a page type moves to the browser when its plain answers are challenges
# or lack their content, and probes its way back (looqta/render/adaptive.py).
# "http" / "browser" pin every page type (benchmark baselines).
LOOQTA_RENDER_MODE = "adaptive"
LOOQTA_RENDER_PROBE_EVERY = 10
LOOQTA_RENDER_PROBE_EVERY_MAX = 80
LOOQTA_RENDER_PROBE_SUCCESSES = 2

# A browser that died mid-page raises playwright's errors: retry those pages.
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.CannotResolveHostError",
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "scrapy.exceptions.DownloadFailedError",
    "scrapy.exceptions.DownloadTimeoutError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError",
    "twisted.internet.error.ConnectionLost",
    OSError,
    "scrapy.core.downloader.handlers.http11.TunnelError",
    "looqta.internals.TargetClosedError",  # Playwright's, exported by no public module
    "playwright.async_api.TimeoutError",
]

# --- Browser (scrapy-playwright + Debian's Chromium) -------------------------
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# scrapy-playwright's handler with a pool of reused pages (looqta/pagepool,
# docs/pagepool.md): ~2.4x scrapy-playwright's rendered pages/s at ~0.5x its CPU per page here.
# LOOQTA_PAGE_POOL_ENABLED = False (or meta looqta_page_pool=False) takes
# scrapy-playwright's own path: a new page per request.
DOWNLOAD_HANDLERS = {
    "http": "looqta.pagepool.handler.PooledPlaywrightDownloadHandler",
    "https": "looqta.pagepool.handler.PooledPlaywrightDownloadHandler",
    # No local files, inline data, FTP or S3, whatever a page links (docs/security.md).
    "file": None,
    "data": None,
    "ftp": None,
    "s3": None,
}
LOOQTA_PAGE_POOL_ENABLED = True
LOOQTA_PAGE_POOL_MAX_PAGES = 4
LOOQTA_PAGE_POOL_PAGE_MAX_USES = 100
LOOQTA_PAGE_POOL_CONTEXT_MAX_PAGES = 10
LOOQTA_PAGE_POOL_GC_EVERY_USES = 4
LOOQTA_PAGE_POOL_BLANK_RESET = False
# PrivateDataDirAddon: LOOQTA_DATA_DIR 0700 and the crawl's files 0600 (umask 077, looqta/datadir.py).
ADDONS = {"looqta.browser.BrowserAddon": 0, "looqta.datadir.PrivateDataDirAddon": 0}
# Path of the Chromium binary; found on PATH (chromium, chromium-browser,
# google-chrome) when unset. Nothing ever downloads a browser.
LOOQTA_CHROMIUM_PATH = os.environ.get("LOOQTA_CHROMIUM_PATH") or None
LOOQTA_BROWSER_HEADLESS = True
LOOQTA_BROWSER_ARGS: list[str] = []
# As root, Chromium runs as this user (created by deploy/bootstrap.sh) with its sandbox on;
# without the user it runs as root with --no-sandbox, and says so (docs/security.md).
LOOQTA_BROWSER_USER = "looqta-browser"
# How long a rendered page may take to show the content its spider waits for.
LOOQTA_RENDER_WAIT_TIMEOUT_SECONDS = 15.0
PLAYWRIGHT_BROWSER_TYPE = "chromium"
# Contexts are created on first use (a browser is launched only once a page needs it).
PLAYWRIGHT_CONTEXTS: dict[str, dict[str, object]] = {}
# Contexts are long-lived; a request naming one context more than this would
# wait forever (RenderMiddleware refuses it instead).
PLAYWRIGHT_MAX_CONTEXTS = 4
# Pages open at once per context: 2 cores run about 4 renders in parallel.
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000
PLAYWRIGHT_ABORT_REQUEST = "looqta.browser.should_abort_request"
PLAYWRIGHT_RESTART_DISCONNECTED_BROWSER = True

# --- Storage: MongoDB (pymongo) -------------------------------------------
# Production points MONGO_URI at a real MongoDB (4.2+). Empty: looqta starts
# and reuses its own MongoDB-wire server (SecantusDB) under LOOQTA_DATA_DIR/mongo,
# so the demo stores data with no set-up; stop it with
# `python -m looqta.store server stop`. The environment wins over this file.
MONGO_URI = os.environ.get("MONGO_URI", "")
MONGO_DATABASE = os.environ.get("MONGO_DATABASE", "looqta")
LOOQTA_STORE_DATA_DIR = os.path.join(LOOQTA_DATA_DIR, "mongo")
LOOQTA_STORE_SPOOL_DIR = os.path.join(LOOQTA_DATA_DIR, "spool")

# --- Redis: the searches' queue and stream (looqta/redisstore, docs/redis.md) ---
# Production points REDIS_URL at its Redis (redis://:PASSWORD@HOST:PORT/0). Empty:
# looqta starts and reuses Debian's redis-server on 127.0.0.1 with a password and
# the append-only file, under LOOQTA_DATA_DIR/redis; stop it with
# `python -m looqta.redisstore server stop`. The environment wins over this file.
REDIS_URL = os.environ.get("REDIS_URL", "")
LOOQTA_REDIS_DATA_DIR = os.path.join(LOOQTA_DATA_DIR, "redis")
# Warm crawlers (`scrapy crawl <site> -a warm=1`, docs/search.md): searches at once per crawler,
# manual and bulk apart so a shopper's search is taken while bulk work fills the crawler.
LOOQTA_WARM_MAX_MANUAL_SEARCHES = 4
LOOQTA_WARM_MAX_BULK_SEARCHES = 2
# The search service (`python -m looqta.serve`, looqta/serve/config.py, docs/search.md): the sites a
# query goes to, how long a finished search is served from the cache (then served stale while it is
# refreshed), how many searches may run at once (beyond: 429) and how long a site may take.
LOOQTA_SEARCH_SITES = ["amazon", "noon"]
LOOQTA_SEARCH_CACHE_SECONDS = 900
LOOQTA_SEARCH_STALE_SECONDS = 3600
LOOQTA_SEARCH_MAX_IN_FLIGHT = 8
LOOQTA_SEARCH_SITE_TIMEOUT_SECONDS = 30

# --- Files: durable queue + fixed pool of worker processes (looqta/files) ----
# Images and documents of each item are downloaded by Scrapy (per-site cooldowns
# apply), queued on disk and processed by LOOQTA_FILES_MAX_WORKERS processes
# (default: the CPU count): checksum, content-addressed store, thumbnails,
# PDF/DOCX text. One queue per spider: %(name)s is the spider's name; two crawls
# of one spider share it, each working its own items (docs/files.md, "Runs").
# With the store pipeline, each item's file records are then set on its stored
# product (looqta/records.py); a worker writes those of items whose crawl died.
LOOQTA_FILES_DIR = os.path.join(LOOQTA_DATA_DIR, "files", "%(name)s")
# An item's first 20 files are downloaded; the rest are counted (looqta/files/over_cap).
LOOQTA_FILES_MAX_PER_ITEM = 20

ITEM_PIPELINES = {
    "looqta.pipelines.validate.ValidationPipeline": 100,
    # After validation: a first sighting that is dropped must not hide a good second one.
    "looqta.pipelines.dedup.DedupPipeline": 150,
    "looqta.pipelines.store.MongoPipeline": 300,
    # After the store: the product is written first, its file records are set on it later.
    "looqta.pipelines.files.FilesPipeline": 400,
    # Last: with JOBDIR, an item a resumed job exported already is not exported again.
    "looqta.pipelines.exported.ExportOncePipeline": 900,
}

# --- Run health (looqta/health: Spidermon monitors at spider close) -----------
# A finished run is "green" when every check holds, else "RED" with the failed checks
# logged (ERROR) and recorded in the stats (looqta/health/...); `python -m looqta.check`
# holds a canary crawl to the same thresholds. Shares are fractions (0.98 = 98 %).
LOOQTA_HEALTH_ENABLED = True
LOOQTA_HEALTH_MIN_ITEMS = 1
# Share of scraped items with the field non-empty, per ProductItem field.
LOOQTA_HEALTH_FIELD_COVERAGE = {
    "source_id": 0.98,
    "title": 0.98,
    "price": 0.98,
    "currency": 0.98,
    "rating": 0.8,
}
# Items dropped by validation over items validated.
LOOQTA_HEALTH_MAX_VALIDATION_ERROR_SHARE = 0.02
# Block pages over the site's answers (block pages + pages that were not blocks).
LOOQTA_HEALTH_MAX_BLOCK_SHARE = 0.2
LOOQTA_HEALTH_ALLOWED_FINISH_REASONS = ["finished"]
SPIDERMON_ENABLED = True
SPIDERMON_SPIDER_CLOSE_MONITORS = ["looqta.health.monitors.HealthSuite"]
# Spidermon counts each item's non-empty fields (None counts as empty) for the coverage checks.
SPIDERMON_ADD_FIELD_COVERAGE = True
SPIDERMON_FIELD_COVERAGE_SKIP_NONE = True
