"""The Redis cache: every backend of a process shares one connection pool (social/cache.py)."""

import threading

import redis
from django.core.cache import cache


def test_cache_backends_of_many_threads_share_their_connections(settings):
    # Django builds a cache backend per thread (and per asyncio context, i.e. per socket):
    # with a pool each, 20 threads held 20 connections while they lived.
    probe = redis.Redis.from_url(settings.REDIS_URL)
    cache.get("warm-up")
    before = probe.info("clients")["connected_clients"]
    used, release, one_at_a_time = threading.Barrier(21), threading.Event(), threading.Lock()

    def use_the_cache():
        with one_at_a_time:  # one command at a time: a shared pool needs one connection
            cache.get("any")
        used.wait()
        release.wait(10)

    threads = [threading.Thread(target=use_the_cache) for _ in range(20)]
    for thread in threads:
        thread.start()
    used.wait()
    during = probe.info("clients")["connected_clients"]
    release.set()
    for thread in threads:
        thread.join()
    probe.close()
    assert during - before <= 3, f"{during - before} new Redis connections for 20 threads"


def test_set_many_expiring_stores_every_value_with_its_expiry(settings):
    data = {"a": ("bytes", b"\x00\xff", 1.5), "b": 7, "c": {"nested": [1, 2]}}

    cache.set_many_expiring(data, 30)

    assert cache.get_many(["a", "b", "c", "missing"]) == data
    probe = redis.Redis.from_url(settings.REDIS_URL)
    ttls = [probe.ttl(cache.make_key(key)) for key in data]
    assert all(0 < ttl <= 30 for ttl in ttls), ttls


def test_set_many_expiring_of_one_value_stores_it_with_its_expiry(settings):
    # One value is sent as a plain SET (a like toggle's moved encoding), not the script.
    cache.set_many_expiring({"one": ("bytes", b"\x00")}, 30)

    assert cache.get("one") == ("bytes", b"\x00")
    probe = redis.Redis.from_url(settings.REDIS_URL)
    assert 0 < probe.ttl(cache.make_key("one")) <= 30


def test_set_many_expiring_of_nothing_stores_nothing():
    cache.set_many_expiring({}, 30)

    assert cache.get_many(["a"]) == {}
