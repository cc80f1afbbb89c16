"""Rendered pages from a pool of open browser pages instead of one new page per request.

* :mod:`looqta.pagepool.config`  the ``LOOQTA_PAGE_POOL_*`` settings, checked once;
* :mod:`looqta.pagepool.limiter` how many pages render at once, a limit changeable at run time;
* :mod:`looqta.pagepool.pool`    slots of one private browser context + one page, reset between requests;
* :mod:`looqta.pagepool.handler` the Scrapy download handler over scrapy-playwright's, with
  ``page_limit`` / ``set_page_limit()``, registered with the throttle as a
  :class:`~looqta.throttle.pages.PooledPages` control;
* :mod:`looqta.pagepool.signals` ``page_pool_opened``, sent with each handler when it is built.

See ``docs/pagepool.md`` for the settings, the isolation rules and the benchmark.
"""
