"""Rendered pages from a pool of open browser pages instead of one new page per request.

* :mod:`looqta.pagepool.config`   the ``LOOQTA_PAGE_POOL_*`` settings, checked once;
* :mod:`looqta.pagepool.limiter`  how many pages render at once, a limit changeable at run time;
* :mod:`looqta.pagepool.rules`    which requests are pooled, what they may do to a page, page failures;
* :mod:`looqta.pagepool.page`     a pooled page and its context: routing, what happened to it;
* :mod:`looqta.pagepool.reset`    the reset of a page between two requests;
* :mod:`looqta.pagepool.pool`     leasing pages, closing them at their limits, retiring contexts;
* :mod:`looqta.pagepool.contexts` the pool's browser contexts, from scrapy-playwright's handler;
* :mod:`looqta.pagepool.handler`  the Scrapy download handler over scrapy-playwright's, registered
  with the throttle as a :class:`~looqta.throttle.pages.PooledPages` control;
* :mod:`looqta.pagepool.signals`  ``page_pool_opened``, sent with each handler when it is built.

See ``docs/pagepool.md`` for the settings, the isolation rules and the benchmark.
"""
