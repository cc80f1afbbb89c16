"""File work off the crawl's event loop: a durable task queue and a pool of worker processes.

This package knows files, not Scrapy. ``looqta.pipelines.files`` is the only bridge:
it downloads through Scrapy and hands bodies to :class:`~looqta.files.service.FileService`.

* :mod:`looqta.files.config`    the typed, validated configuration (``FilesConfig.from_settings``);
* :mod:`looqta.files.tasks`     the task types in one table: worker function, next step, record fields;
* :mod:`looqta.files.work`      the worker functions, plain functions on paths;
* :mod:`looqta.files.schema`    the queue's SQLite file: tables, rows, the shared connection;
* :mod:`looqta.files.queue`     batches, files and tasks: tasks leave it only with a recorded result;
* :mod:`looqta.files.ownership` which run owns what, leases, taking over what dead runs left;
* :mod:`looqta.files.runs`      a run's identity, and whether it is still alive (pure);
* :mod:`looqta.files.checks`    what a body is (sniffed type, hostile names, zip bombs);
* :mod:`looqta.files.storage`   content-addressed keys and the ``FilesStore`` backends (by URI scheme);
* :mod:`looqta.files.pool`      the process pool (pebble), repair, resizing; no pool: tasks fail;
* :mod:`looqta.files.lifecycle` start, lease, repair, drain, close of one run;
* :mod:`looqta.files.dispatch`  claim, launch, settle, retry;
* :mod:`looqta.files.service`   the facade the pipeline (and the throttle) use;

The store is reached only through :mod:`looqta.records`, the contract both packages share.
"""
