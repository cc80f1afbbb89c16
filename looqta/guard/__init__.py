"""The origin guard: every download goes only to the site's own origins and its CDN origins.

``addresses`` (which IP addresses a crawler must never reach), ``policy`` (which URLs a site's
crawl may fetch, a pure decision), ``resolve`` (names to addresses, off the reactor),
``middleware`` (the downloader middleware, and the browser's rule). docs/security.md says why.
"""
