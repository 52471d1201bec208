"""Limits shared by every process through Redis, with a per-process limit when Redis is down.

`limits_cache` is the cache every counting limit reads and writes (DRF's throttles: login,
token and register under AUTH_RATE_LIMIT): the shared cache, or this process's own memory
while the shared cache fails. Two more shapes live here: a token bucket (a chat sender's flood
control, per user across all their sockets and processes) and counted slots with expiring
entries (open sockets per user). Both run as one Lua script each, so a check and its update
are one atomic step on Redis, timed by Redis's own clock (processes on several machines need
not agree on the time).

Without Redis (`REDIS_URL` empty: one process) the same limits are kept in this process. When
Redis fails (down, unreachable, timing out), a limit does not fail open and does not answer a
500: it falls back to this process's own count, and says so once in the log until Redis answers
again. A per-process limit is looser (each process counts alone) but never absent.
"""

import logging
import threading
import time
from collections import defaultdict

import redis
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from social.cache import RedisCache

logger = logging.getLogger(__name__)

# What a Redis outage looks like from redis-py (refused, reset, timed out, a reply cut short).
REDIS_FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return taken
"""

# A slot is a sorted-set member scored by its expiry (ms): expired members are dropped before
# counting, so the slots of a process that died without releasing them free themselves.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
if redis.call('ZCARD', KEYS[1]) > cap then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
return 1
"""

_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""


class _Local:
    """The same limits kept in this process: without Redis, or while it is down."""

    def __init__(self):
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._slots: dict[str, dict[str, float]] = defaultdict(dict)

    def take(self, key: str, rate: float, burst: int) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            taken = tokens >= 1
            self._buckets[key] = (tokens - 1 if taken else tokens, now)
            if len(self._buckets) > 100_000:  # full buckets of idle users carry no state
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < burst}
            return taken

    def claim(self, key: str, member: str, cap: int, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            slots = self._slots[key]
            for other, expiry in list(slots.items()):
                if expiry <= now:
                    del slots[other]
            if member not in slots and len(slots) >= cap:
                return False
            slots[member] = now + ttl
            return True

    def refresh(self, key: str, member: str, ttl: float) -> None:
        with self._lock:
            slots = self._slots.get(key)
            if slots is not None and member in slots:
                slots[member] = time.monotonic() + ttl

    def release(self, key: str, member: str) -> None:
        with self._lock:
            slots = self._slots.get(key)
            if slots is not None:
                slots.pop(member, None)
                if not slots:
                    del self._slots[key]


local = _Local()
_outage_logged = threading.Event()
# After a failure the limits skip Redis for this long: a dead Redis costs each call a connection
# attempt and redis-py's retries, which must not be paid on every request of an outage.
RETRY_AFTER_OUTAGE_SECONDS = 5.0
_skip_redis_until = 0.0


def redis_client() -> redis.Redis | None:
    """The process's shared Redis client of the default cache (social/cache.py), or None when
    the cache is not Redis."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)
    return None


def redis_skipped() -> bool:
    """True for a few seconds after a failure: the limits count in this process meanwhile."""
    return time.monotonic() < _skip_redis_until


def outage(what: str, error: Exception) -> None:
    """Note a Redis failure behind a limit: logged once until Redis answers again."""
    global _skip_redis_until
    _skip_redis_until = time.monotonic() + RETRY_AFTER_OUTAGE_SECONDS
    if not _outage_logged.is_set():
        _outage_logged.set()
        logger.warning("Redis unavailable (%s: %s): rate limits fall back to per-process counts", what, error)


def recovered() -> None:
    global _skip_redis_until
    _skip_redis_until = 0.0
    if _outage_logged.is_set():
        _outage_logged.clear()
        logger.warning("Redis answers again: rate limits are shared again")


def state_reset() -> None:
    """Forget an outage and this process's own counts (tests: like `health.reset_cache`, so an
    outage one test provoked does not carry its per-process counting into the next)."""
    global _skip_redis_until
    _skip_redis_until = 0.0
    _outage_logged.clear()
    local.__init__()
    limits_cache.local.clear()


def _run(script: str, key: str, *args) -> int | None:
    """Run a script on Redis; None when there is no Redis or it failed (then: per-process)."""
    client = redis_client()
    if client is None or redis_skipped():
        return None
    try:
        result = client.eval(script, 1, cache.make_key(key), *args)
    except REDIS_FAILURES as error:
        outage(key.split(":", 1)[0], error)
        return None
    recovered()
    return int(result)


def bucket_take(key: str, *, rate: float, burst: int) -> bool:
    """Take one token from the bucket `key` (`rate` per second refill, `burst` deep): False when
    it is empty. Shared by every process through Redis; per process without it."""
    taken = _run(_TAKE, key, rate, burst)
    if taken is None:
        return local.take(key, rate, burst)
    return bool(taken)


def slot_claim(key: str, member: str, *, cap: int, ttl: float) -> bool:
    """Claim one of `cap` slots under `key` for `member` for `ttl` seconds: False when all are
    taken. The holder refreshes it (`slots_refresh`) more often than `ttl` and releases it."""
    claimed = _run(_CLAIM, key, member, cap, int(ttl * 1000))
    if claimed is None:
        return local.claim(key, member, cap, ttl)
    return bool(claimed)


def slots_refresh(slots: list[tuple[str, str]], *, ttl: float) -> None:
    """Keep each (key, member) slot another `ttl` seconds, all in one round trip: a process
    refreshes all its sockets' slots at once."""
    client = redis_client()
    if client is not None and not redis_skipped():
        try:
            pipeline = client.pipeline(transaction=False)
            for key, member in slots:
                pipeline.eval(_REFRESH, 1, cache.make_key(key), member, int(ttl * 1000))
            pipeline.execute()
        except REDIS_FAILURES as error:
            outage("ws-sockets", error)
        else:
            recovered()
            return
    for key, member in slots:
        local.refresh(key, member, ttl)


def slot_release(key: str, member: str) -> None:
    client = redis_client()
    local.release(key, member)
    if client is None or redis_skipped():
        return
    try:
        client.zrem(cache.make_key(key), member)
    except REDIS_FAILURES as error:
        outage(key.split(":", 1)[0], error)


class _LimitsCache:
    """The cache API the limits use (get, set, add, incr, delete), on the shared cache, or on a
    local-memory cache of this process while the shared one fails: a limit is never lifted
    (failing open) and never a 500. Only Redis's outage errors fall back; a programming error
    still raises."""

    def __init__(self):
        self.local = LocMemCache("social-limits-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})

    def _call(self, method: str, *args, **kwargs):
        if redis_skipped():
            return getattr(self.local, method)(*args, **kwargs)
        try:
            result = getattr(caches["default"], method)(*args, **kwargs)
        except REDIS_FAILURES as error:
            outage("cache", error)
            return getattr(self.local, method)(*args, **kwargs)
        if isinstance(caches["default"], RedisCache):
            recovered()
        return result

    def get(self, key, default=None):
        return self._call("get", key, default)

    def set(self, key, value, timeout=None):
        return self._call("set", key, value, timeout)

    def add(self, key, value, timeout=None):
        return self._call("add", key, value, timeout)

    def incr(self, key, delta=1):
        return self._call("incr", key, delta)

    def delete(self, key):
        return self._call("delete", key)


limits_cache = _LimitsCache()
