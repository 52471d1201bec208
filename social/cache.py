"""Django's Redis cache with one connection pool per server and process.

Django gives every thread, and every asyncio context, its own cache backend, and each backend
opens its own connection pool: under daphne every open WebSocket that touched the cache kept a
Redis connection of its own (Redis refuses clients beyond `maxclients`). Django's public
`pool_class` option decides how a backend gets its pool; this one hands every backend of the
process the same pool for the same server and options (figures: README "Performance and
tuning"). A pool is safe to share between threads, and reconnects by itself in a forked child.
"""

import threading

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

_pools: dict = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url, **kwargs):
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = super().from_url(url, **kwargs)
        return pool


class RedisCache(DjangoRedisCache):
    """Django's Redis cache, its backends sharing their pools (`SharedConnectionPool`)."""

    def __init__(self, server, params):
        options = {"pool_class": SharedConnectionPool, **params.get("OPTIONS", {})}
        super().__init__(server, {**params, "OPTIONS": options})
