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


def test_keys_under_a_prefix_are_the_keys_of_prefix_and_suffix(settings):
    # The prefix's key is made once for all its suffixes: the same keys as made one by one.
    data = {"0a1b": ("bytes", b"\x00"), "ff": 3}

    cache.set_many_expiring(data, 30, prefix="page:")

    assert cache.get_many(["page:0a1b", "page:ff"]) == {"page:0a1b": ("bytes", b"\x00"), "page:ff": 3}
    assert cache.get_many_under("page:", ["ff", "missing", "0a1b"]) == data
    assert cache.get_many_under("page:", []) == {}
    probe = redis.Redis.from_url(settings.REDIS_URL)
    assert all(0 < probe.ttl(cache.make_key("page:" + suffix)) <= 30 for suffix in data)


def test_values_under_a_prefix_come_back_whatever_their_kind():
    # Integers are stored as their digits, anything else pickled: both read back as they were.
    data = {"a1": -42, "b2": 0, "c3": "text", "d4": b"\x80 raw bytes", "e5": ("encoding", b"x" * 5000, (b"{}",))}
    cache.set_many_expiring(data, 30, prefix="kinds:")
    cache.set("kinds:f6", 7)

    assert cache.get_many_under("kinds:", [*data, "f6"]) == {**data, "f6": 7}
    assert [cache.get(f"kinds:{key}") for key in data] == list(data.values())
    assert cache.incr("kinds:f6") == 8 and cache.get("kinds:f6") == 8


def test_keys_under_a_prefix_follow_another_key_function(settings):
    # A key function other than Django's default need not append: each key is made whole.
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_FUNCTION": "tests.test_cache.reversed_key"}}
    from django.core.cache import caches

    reversing = caches.create_connection("default")
    reversing.set_many_expiring({"ab": 1}, 30, prefix="page:")

    assert reversing.get("page:ab") == 1
    assert reversing.get_many_under("page:", ["ab"]) == {"ab": 1}
    assert redis.Redis.from_url(settings.REDIS_URL).get("ba:egap") is not None
    reversing.delete("page:ab")


def reversed_key(key, key_prefix, version):
    return key[::-1]


def test_keys_under_a_prefix_are_made_with_each_backends_own_key_prefix(settings):
    # A backend keeps the made prefix it computed: another backend (another KEY_PREFIX) makes
    # its own and never reads the first one's keys.
    from django.core.cache import caches

    first = caches.create_connection("default")
    first.set_many_expiring({"ab": 1}, 30, prefix="page:")
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": "other"}}
    other = caches.create_connection("default")
    other.set_many_expiring({"ab": 2}, 30, prefix="page:")

    assert first.get_many_under("page:", ["ab"]) == {"ab": 1}
    assert other.get_many_under("page:", ["ab"]) == {"ab": 2}
    assert other.get("page:ab") == 2 and first.get("page:ab") == 1
    other.delete("page:ab")
    first.delete("page:ab")
