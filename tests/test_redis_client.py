"""The Redis client that runs a thread's commands on a held connection (social/redis_client.py),
as the cache and the fan-out's publisher use it: against the real Redis of the run."""

import os
import threading
import time

import pytest
import redis
from django.core.cache import cache

from social import fanout
from social.redis_client import HeldConnectionRedis


@pytest.fixture
def client(settings):
    client = HeldConnectionRedis.from_url(settings.REDIS_URL, socket_timeout=5)  # no retries
    yield client
    client.close()


@pytest.fixture
def probe(settings):
    probe = redis.Redis.from_url(settings.REDIS_URL)
    yield probe
    probe.close()


def test_a_threads_commands_run_on_one_connection_kept_out_of_the_pool(client):
    first = client.client_id()

    assert [client.client_id() for _ in range(3)] == [first] * 3
    # Held, not given back: the next command of any thread finds it without the pool.
    assert first not in {connection_id(c) for c in client.connection_pool._available_connections}


def connection_id(connection) -> int:
    connection.send_command("CLIENT", "ID")
    return connection.read_response()


def test_a_thread_finding_the_connection_lent_goes_through_the_pool(client, probe):
    probe.delete("held:wait")
    lent, results = threading.Event(), {}

    def blocked():
        results["held"] = client.client_id()
        lent.set()
        results["popped"] = client.blpop(["held:wait"], timeout=5)  # holds the lent connection

    thread = threading.Thread(target=blocked)
    thread.start()
    lent.wait(5)
    time.sleep(0.1)  # the BLPOP is on its way
    started = time.monotonic()
    other = client.client_id()
    waited = time.monotonic() - started
    probe.rpush("held:wait", b"x")
    thread.join(10)

    assert other != results["held"]  # a pooled connection, not the lent one
    assert waited < 1  # no queueing behind the blocked command
    assert results["popped"] == (b"held:wait", b"x")


def test_a_connection_the_server_closed_is_opened_again_for_the_next_command(client, probe):
    client.set("held:key", b"1")
    killed = client.client_id()
    probe.client_kill_filter(_id=killed)

    assert client.get("held:key") == b"1"
    assert client.client_id() != killed


def test_replies_of_many_threads_never_mix(client):
    errors = []

    def use(n: int):
        for i in range(200):
            value = f"{n}:{i}".encode()
            client.set(f"held:mix:{n}", value)
            if client.get(f"held:mix:{n}") != value:
                errors.append((n, i))

    threads = [threading.Thread(target=use, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    client.delete(*(f"held:mix:{n}" for n in range(8)))


def test_a_forked_child_holds_a_connection_of_its_own(client):
    parent = client.client_id()
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never its parent's socket
        try:
            os.write(writing, str(client.client_id()).encode())
        finally:
            os._exit(0)
    os.close(writing)
    child = int(os.read(reading, 64))
    os.waitpid(pid, 0)
    os.close(reading)

    assert child != parent
    assert client.client_id() == parent  # the parent's connection untouched by the child


def test_the_caches_shared_reads_survive_a_connection_the_server_closed(probe):
    cache.set_many_expiring({"ab": ("bytes", b"\x00")}, 30, prefix="held:")
    client = cache._cache.get_client(None)
    assert isinstance(client, HeldConnectionRedis)
    probe.client_kill_filter(_id=client.client_id())

    assert cache.get_many_under("held:", ["ab"]) == {"ab": ("bytes", b"\x00")}


def test_an_event_is_published_after_the_server_closed_the_publishers_connection(probe, settings):
    listener = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(fanout.channel_name())
    publisher = fanout._publisher_client()
    assert isinstance(publisher, HeldConnectionRedis)
    probe.client_kill_filter(_id=publisher.client_id())

    fanout.publish({"group": "user.x", "event": {"type": "notifications.read", "unread_count": 0}})

    message = None
    deadline = time.monotonic() + 5
    while message is None and time.monotonic() < deadline:
        message = listener.get_message(timeout=1)
    listener.close()
    assert message is not None
    assert fanout._event(message["data"])["event"]["type"] == "notifications.read"
