"""looqta's Redis: the searches' queue and stream, on a real ``redis-server``.

- :mod:`~looqta.redisstore.config`: ``RedisConfig.from_settings`` (``REDIS_URL``, ``LOOQTA_REDIS_*``).
- :mod:`~looqta.redisstore.server`: the embedded ``redis-server`` on 127.0.0.1 (``REDIS_URL`` empty).
- :mod:`~looqta.redisstore.client`: the one way to reach Redis, embedded or not (``connect``).
- :mod:`~looqta.redisstore.addon`: ``EmbeddedRedisAddon`` fills ``REDIS_URL`` for scrapy-redis.
- ``python -m looqta.redisstore server start|status|stop``: the embedded server from a terminal.

docs/redis.md.
"""
