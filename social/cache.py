"""Django's Redis cache with one redis-py client per connection pool.

Django's client builds a new `redis.Redis` for every cache call, and building one (its table
of response callbacks) cost about 0.07 ms: a third of the token revocation check that every
authenticated request makes (profiled on the feed, README "Performance and tuning"). A
`redis.Redis` is safe to share between threads: it takes a connection from its pool per
command.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ReusedClients(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusedClients
