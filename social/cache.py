"""Django's Redis cache with one connection pool, and one redis-py client, per process.

Django gives every thread, and every asyncio context, its own cache backend, and each backend
opens its own connection pool. Under daphne each WebSocket runs in its own context, so every
open socket kept its own Redis connection after its token check: 1,000 idle sockets held 1,000
connections to Redis (Redis refuses clients beyond `maxclients`, 10,000 by default) and ~16 KB
of memory each (measured with the idle-socket probe of `make bench`). Here every backend of a
process shares one pool per server, so a process holds as many connections as it runs cache
calls at once.

Django also builds a new `redis.Redis` for every cache call, which cost about 0.07 ms (its
table of response callbacks): a third of the token revocation check that every authenticated
request makes. A `redis.Redis` is safe to share between threads (it takes a connection from
the pool per command), and a pool reconnects by itself in a forked child.
"""

import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_pools: dict = {}
_clients: dict = {}
_lock = threading.Lock()


class _SharedPoolClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        server = self._servers[self._get_connection_pool_index(write)]
        key = (server, self._pool_class)
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(server, **self._pool_options)
        return pool

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = _clients.get(pool)
        if client is None:
            client = _clients.setdefault(pool, self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedPoolClient
