"""Rate limits when the shared cache's Redis is down (#19 item 16): each falls back to a limit
of its own process, logged once; never open, never a 500. The Redis here is the test's own,
started on a free port and killed by its pid; the machine's Redis is never touched."""

import logging
import subprocess
import time

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import override_settings

from accounts.tests.factories import UserFactory
from chats import services
from chats.consumers import TOO_FAST, TOO_MANY_SOCKETS
from chats.models import Message
from chats.tests.support import bearer_headers, new_session, open_socket, ws_path
from social import limits
from social.asgi import application
from testsupport.live import free_port

OUTAGE = "Redis unavailable"


@pytest.fixture
def own_redis():
    """A Redis of this test only; yields (url, its process)."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    probe = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)
    probe.close()
    limits.limits_cache.local.clear()
    limits.local.__init__()
    limits.recovered()  # an earlier test's outage must not hide this one's
    try:
        yield url, server
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        limits.limits_cache.local.clear()
        limits.local.__init__()


def cache_on(url: str):
    return override_settings(
        CACHES={"default": {"BACKEND": "social.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "t"}}
    )


def kill(server) -> None:
    server.kill()
    server.wait()


def outages_logged(caplog) -> int:
    return sum(OUTAGE in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_login_stays_limited_per_process_when_redis_is_down(anon_client, user, own_redis, caplog):
    url, server = own_redis
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    body = {"email": user.email, "password": "wrong"}
    with cache_on(url), caplog.at_level(logging.WARNING, logger="social.limits"):
        assert anon_client.post("/api/auth/login", body, format="json").status_code == 401  # Redis up
        kill(server)

        # This process's own bucket starts empty: `limit` more, then refused.
        statuses = [anon_client.post("/api/auth/login", body, format="json").status_code for _ in range(limit)]
        refused = anon_client.post("/api/auth/token", body, format="json")

    assert set(statuses) == {401}  # wrong password, as with Redis: no 500, no 503
    assert refused.status_code == 429  # the shared bucket's count went on in this process
    assert int(refused["Retry-After"]) > 0
    assert outages_logged(caplog) == 1  # once, not once per request


@pytest.mark.django_db
def test_register_has_its_own_per_process_bucket_when_redis_is_down(anon_client, own_redis):
    url, server = own_redis
    kill(server)
    with cache_on(url):
        statuses = [
            anon_client.post(
                "/api/auth/register",
                {"username": f"u{n}", "email": f"u{n}@example.com", "password": "Slozhniy-Parol-2026"},
                format="json",
            ).status_code
            for n in range(int(settings.AUTH_RATE_LIMIT.split("/")[0]) + 1)
        ]
    assert statuses[:-1] == [201] * (len(statuses) - 1)
    assert statuses[-1] == 429


@pytest.mark.django_db(transaction=True)
async def test_chat_flood_and_socket_cap_hold_per_process_when_redis_is_down(own_redis, caplog):
    url, server = own_redis
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="двое")
    with (
        cache_on(url),
        override_settings(CHAT_MESSAGE_RATE=0.01, CHAT_MESSAGE_BURST=3, WS_MAX_SOCKETS_PER_USER=2),
        caplog.at_level(logging.WARNING, logger="social.limits"),
    ):
        await database_sync_to_async(kill)(server)
        first = await open_socket(chat, alice)
        second = await open_socket(chat, alice)

        from channels.testing import WebsocketCommunicator

        third = WebsocketCommunicator(
            application, ws_path(chat, alice), headers=bearer_headers(await new_session(alice))
        )
        assert (await third.connect())[0]
        assert await third.receive_json_from(timeout=3) == {"detail": TOO_MANY_SOCKETS}
        assert (await third.receive_output(timeout=3))["code"] == 4429

        for n in range(5):
            await first.send_json_to({"message": f"m{n}"})
        frames = [await first.receive_json_from(timeout=3) for _ in range(5)]
        assert sum(frame == {"detail": TOO_FAST} for frame in frames) == 2
        assert await database_sync_to_async(Message.objects.count)() == 3
        for socket in (first, second):
            await socket.disconnect()
    assert outages_logged(caplog) == 1
