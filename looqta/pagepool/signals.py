"""Signals of the page pool.

``page_pool_opened(handler)`` is sent when a :class:`~looqta.pagepool.handler.PooledPlaywrightDownloadHandler`
is built (Scrapy builds one per URL scheme, before the engine starts), so a component that resizes
rendering at run time can keep the handlers it must act on (the throttle gets its control
through :data:`looqta.throttle.controls.throttle_control_available` instead)::

    crawler.signals.connect(self._page_pool_opened, signal=page_pool_opened)
"""

from __future__ import annotations

page_pool_opened = object()
