"""A like toggle's Redis commands before and after they ran on a held connection (issue #26),
in one process, the forms alternating: "before" is the cache's and the publisher's clients as
they were (plain `redis.Redis` on the same pools: a pooled connection taken and given back
around each command; the moved encoding's SET through redis-py's `set`; the key prefix made
and checked on every read and write), "after" the code as it is (social.redis_client,
social.cache). Two measures, each ROUNDS rounds alternating:
- the Redis work alone of a toggle whose previous rev another worker made: the shared
  encoding's GET (`fragments._shared_get`), its SET (`fragments._shared_put`) and the
  notification's PUBLISH (`fanout.publish`), N times;
- whole toggles through Django's test client (`bench/like_cpu.py`'s data and toggles), this
  process's encodings forgotten before each, as on a worker that did not make the last change.
Prints µs / ms of CPU, min / median / max over the rounds. Not collected by the suite; run it
by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_redis_held_ab.py -q -s
"""

import os
import statistics
import time
import uuid

import pytest
import redis
from django.core.cache import cache
from django.core.cache.backends.base import default_key_func

from bench.like_cpu import paths  # noqa: F401
from posts import fragments
from social import cache as social_cache
from social import fanout

ROUNDS, N, TOGGLES = 15, 300, 100


def _made_prefix_before(self, prefix):
    if self.key_func is not default_key_func:
        return None
    return self.make_and_validate_key(prefix)


def _set_many_expiring_before(self, data, timeout, *, prefix=""):
    keys = self._made_keys(prefix, data)
    values = [self._cache._serializer.dumps(value) for value in data.values()]
    if not keys:
        return
    client = self._cache.get_client(None, write=True)
    if len(keys) == 1:
        client.set(keys[0], values[0], ex=int(timeout))
    else:
        client.eval(social_cache._SET_MANY_EXPIRING, len(keys), *keys, int(timeout), *values)


def _forms(monkeypatch):
    pool = cache._cache._get_connection_pool(True)
    after_cache = cache._cache.get_client(None, write=True)
    after_publisher = fanout._publisher_client()
    before_cache = redis.Redis(connection_pool=pool)
    before_publisher = redis.Redis(connection_pool=after_publisher.connection_pool)
    made_after, set_after = social_cache.RedisCache._made_prefix, social_cache.RedisCache.set_many_expiring

    def use(form):
        before = form == "before"
        monkeypatch.setitem(social_cache._clients, pool, before_cache if before else after_cache)
        monkeypatch.setattr(fanout, "_publisher", before_publisher if before else after_publisher)
        monkeypatch.setattr(social_cache.RedisCache, "_made_prefix", _made_prefix_before if before else made_after)
        monkeypatch.setattr(
            social_cache.RedisCache, "set_many_expiring", _set_many_expiring_before if before else set_after
        )

    return use


def _line(name, values, unit):
    return f"{name:7s} min {min(values):7.3f} med {statistics.median(values):7.3f} max {max(values):7.3f} {unit}"


@pytest.mark.django_db(transaction=True)
def test_like_redis_held_ab(api, paths, monkeypatch):  # noqa: F811 (the fixture)
    use = _forms(monkeypatch)
    forms = ("before", "after")
    origin, post_id = ("http", "testserver"), uuid.uuid4()
    liker = b'{"id":"%s","username":"someone","email":null,"avatar":null}' % uuid.uuid4().hex.encode()
    entry = fragments._Encoded.assemble(
        rev=5,
        pre=b'{"id":"x","description":"' + b"d" * 300 + b'","likes":',
        likers=(liker,) * 10,
        liker_ids=(str(uuid.uuid4()),) * 10,
        likes_count=40,
        tail=b',"created_at":"2026-12-01T00:00:00Z"}',
        until=time.monotonic() + 600,
    )
    event = {"group": f"user.{uuid.uuid4()}", "event": {"type": "notification", "unread_count": 3}}

    def redis_work():
        for _ in range(N):
            fragments._shared_get([post_id], origin)
            fragments._shared_put({post_id: entry}, origin)
            fanout.publish(event)

    def toggles_elsewhere(n):
        for i in range(n):
            fragments._store.clear()
            assert api.patch(paths[i % len(paths)]).status_code == 200

    work = {form: [] for form in forms}
    whole = {form: [] for form in forms}
    for form in forms:
        use(form)
        redis_work()
        toggles_elsewhere(20)
    for _ in range(ROUNDS):
        for form in forms:
            use(form)
            start = time.process_time()
            redis_work()
            work[form].append((time.process_time() - start) * 1e6 / N)
            toggles_elsewhere(10)
            start = time.process_time()
            toggles_elsewhere(TOGGLES)
            whole[form].append((time.process_time() - start) * 1000 / TOGGLES)
    print(f"\nload average {os.getloadavg()[0]:.1f}; {ROUNDS} rounds alternating")
    print("GET + SET + PUBLISH of a toggle, µs of CPU:")
    for form in forms:
        print("  " + _line(form, work[form], "µs"))
    print(f"a whole toggle (another worker's last change), ms of CPU over {TOGGLES}:")
    for form in forms:
        print("  " + _line(form, whole[form], "ms"))
