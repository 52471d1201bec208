"""Django's Redis cache with one connection pool (and one client) per server and process.

Django gives every thread, and every asyncio context, its own cache backend, and each backend
opens its own connection pool: under daphne every open WebSocket that touched the cache kept a
Redis connection of its own (Redis refuses clients beyond `maxclients`). Django's public
`pool_class` option decides how a backend gets its pool; this one hands every backend of the
process the same pool for the same server and options (figures: README "Performance and
tuning"). A pool is safe to share between threads, and reconnects by itself in a forked child.
"""

import pickle
import threading

import redis
from django.core.cache.backends.base import default_key_func
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient, RedisSerializer

from social.redis_client import HeldConnectionRedis

_pools: dict = {}
_clients: dict = {}
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


class SharedClientCacheClient(RedisCacheClient):
    """Django's cache client, handing out one `redis.Redis` per pool rather than a new one per
    cache call: building one fills a table of ~170 response callbacks, which cost more CPU than
    the command it was built for (0.2-0.3 ms; two of them, the shared post encodings' MGET and
    SET, on every page from deep in the feed: issue #26). Threads share it safely: it lends
    the connection it holds to one thread at a time, the others take one from the pool
    (social.redis_client)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._client = HeldConnectionRedis

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = _clients.get(pool)
        if client is None:
            # A race builds two, of which one is kept: harmless.
            client = _clients.setdefault(pool, self._client(connection_pool=pool))
        return client


class Serializer(RedisSerializer):
    """Django's serializer (integers as their digits, anything else pickled), reading a pickled
    value at once: Django's tries int() on every value first, and the ValueError it catches
    formats the repr of the whole value, 7.7 of 9.3 µs for a shared post encoding of 2.7 kB (20
    of them a page from another process's encodings, posts/fragments.py), more for a kept
    ranking (issue #26). A pickle (protocol 2 and later) opens with the PROTO opcode, which no
    integer's digits do."""

    def loads(self, data):
        if data[:1] == b"\x80":
            return pickle.loads(data)
        return super().loads(data)


# Every pair SET with its expiry: one command for the lot.
_SET_MANY_EXPIRING = """
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'EX', ARGV[1])
end
"""


class RedisCache(DjangoRedisCache):
    """Django's Redis cache, its backends sharing their pools (`SharedConnectionPool`) and
    reading pickled values at once (`Serializer`)."""

    def __init__(self, server, params):
        options = {"pool_class": SharedConnectionPool, "serializer": Serializer, **params.get("OPTIONS", {})}
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = SharedClientCacheClient
        self._made_prefixes: dict[str, str] = {}

    def _made_prefix(self, prefix: str) -> str | None:
        """The made key of `prefix` when appending a suffix to it makes the key of prefix +
        suffix (Django's default key function, `key_prefix:version:key`); None otherwise.
        Kept per prefix: making and checking it walks its characters, 6 µs of CPU on each
        shared read and write of post encodings (issue #26). A backend's key function, prefix
        and version are fixed when it is built."""
        made = self._made_prefixes.get(prefix)
        if made is None:
            if self.key_func is not default_key_func:
                return None
            if len(self._made_prefixes) >= 64:  # the callers' prefixes are few (one per origin)
                self._made_prefixes.clear()
            made = self._made_prefixes[prefix] = self.make_and_validate_key(prefix)
        return made

    def _made_keys(self, prefix: str, suffixes) -> list[str]:
        # The prefix's key made and checked once, not once per key: Django's
        # make_and_validate_key (its memcached checks walk every character) cost ~0.1 ms of
        # CPU for the 20 post encodings of a page, read and again written (issue #26).
        made = self._made_prefix(prefix) if prefix else None
        if made is None:
            return [self.make_and_validate_key(prefix + suffix) for suffix in suffixes]
        return [made + suffix for suffix in suffixes]

    def get_many_under(self, prefix: str, suffixes: list[str]) -> dict:
        """`get_many` of the keys `prefix + suffix`, answered {suffix: value}: one MGET.
        `suffixes` are key-safe text (hex digits)."""
        if not suffixes:
            return {}
        values = self._cache.get_client(None).mget(self._made_keys(prefix, suffixes))
        loads = self._cache._serializer.loads
        return {suffix: loads(value) for suffix, value in zip(suffixes, values, strict=True) if value is not None}

    def set_many_expiring(self, data: dict, timeout: int, *, prefix: str = "") -> None:
        """`set_many(data, timeout)` (timeout > 0) as one script: Django's sends an MSET and an
        EXPIRE per key in a MULTI, whose packing cost a page of 20 new post encodings more
        than a millisecond of CPU (posts/fragments.py, issue #26). With `prefix`, the keys of
        `data` are key-safe suffixes of it (as in `get_many_under`)."""
        keys = self._made_keys(prefix, data)
        values = [self._cache._serializer.dumps(value) for value in data.values()]
        if not keys:
            return
        client = self._cache.get_client(None, write=True)  # the pool's one client
        if len(keys) == 1:  # a like toggle's one moved encoding: no script for Redis to run
            # The command as is: redis-py's `set` checks and rebuilds its arguments, ~8 µs of
            # CPU a toggle (bench/redis_cpu.py "SET ex (raw)").
            client.execute_command("SET", keys[0], values[0], "EX", int(timeout))
        else:
            client.eval(_SET_MANY_EXPIRING, len(keys), *keys, int(timeout), *values)
