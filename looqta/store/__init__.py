"""looqta's MongoDB store: one module per job.

- :mod:`~looqta.store.config`: ``StoreConfig.from_settings`` (``MONGO_*`` and ``LOOQTA_STORE_*``).
- :mod:`~looqta.store.documents`: item -> BSON-ready document, or a rejection reason (pure).
- :mod:`~looqta.store.connection`: the one way to reach the store (``MONGO_URI`` or the embedded server).
- :mod:`~looqta.store.embedded`: the embedded SecantusDB server: find, start, stop it, and its process.
- :mod:`~looqta.store.repository`: the ``offers`` collection: indexes, bulk upserts, price history,
  search and history queries. :mod:`~looqta.store.layout`: an older store's layout brought up to date.
- :mod:`~looqta.store.spool`: the durable on-disk queue used while the store is unreachable.
- :mod:`~looqta.store.writer`: batching, spooling, retry with backoff, replay (asyncio, no Scrapy).
- ``python -m looqta.store``: the command-line tool (search, history, products, server
  status|start|stop); :mod:`~looqta.store.cli_options` (shared with the rebuild),
  :mod:`~looqta.store.product_table`.

Products (offers matched across sites) are ``looqta.match``'s: ``products.py`` writes them.

The Scrapy side is :class:`looqta.pipelines.store.MongoPipeline`.
"""
