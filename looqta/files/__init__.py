"""File work off the crawl's event loop: a durable task queue and a pool of worker processes.

This package knows files, not Scrapy. ``looqta.pipelines.files`` is the only bridge:
it downloads through Scrapy and hands bodies to :class:`~looqta.files.service.FileService`.

* :mod:`looqta.files.config`  the typed, validated configuration;
* :mod:`looqta.files.queue`   the SQLite (WAL) task queue: tasks leave it only with a recorded result;
* :mod:`looqta.files.runs`    which run owns what in a queue, and whether that run is still alive;
* :mod:`looqta.files.checks`  what a body is (sniffed type, hostile names, zip bombs);
* :mod:`looqta.files.storage` content-addressed keys and the ``FilesStore`` backends (by URI scheme);
* :mod:`looqta.files.work`    the worker functions, plain functions on paths;
* :mod:`looqta.files.pool`    the process pool (pebble), its repair, resizing and in-process fallback;
* :mod:`looqta.files.service` the asyncio side: spool, dispatch, retry, chain the tasks of a file.
"""
