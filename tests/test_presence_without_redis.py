"""Presence without Redis (`make run`: one process keeps it) and while Redis is down (nothing
announced, profiles show null, never a 500 and never a refused socket). The Redis killed here
is the test's own (tests/test_limits_without_redis.py `own_redis`)."""

import time

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from chats.tests.test_user_socket import open_user_socket
from friends import presence
from friends.services import friendship_add
from tests.test_limits_without_redis import cache_on, kill, own_redis  # noqa: F401 - own_redis: a fixture

LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture
def friends(db):
    alice, bob = UserFactory.create_batch(2)
    friendship_add(user=alice, friend=bob)
    return alice, bob


def shown(user, viewer):
    user.refresh_from_db()
    return presence.presence_shown(user=user, viewer=viewer, is_friend=True)


@override_settings(CACHES=LOCAL_CACHE)
def test_without_redis_one_process_keeps_presence_itself(friends):
    alice, bob = friends
    assert shown(bob, alice) == (False, None)
    assert presence.presence_keep(user_ids=[bob.pk]) == [str(bob.pk)]
    assert presence.presence_keep(user_ids=[bob.pk]) == []
    assert shown(bob, alice) == (True, None)
    presence.presence_touch(user_id=bob.pk)
    assert presence.presence_close(user_id=bob.pk) is True
    closed_at = timezone.now()
    presence.presence_announce(user_id=bob.pk, online=False, last_seen=closed_at)
    assert shown(bob, alice) == (False, closed_at)


@override_settings(CACHES=LOCAL_CACHE, PRESENCE_TTL_SECONDS=0.001)
def test_without_redis_an_expired_presence_is_swept_once(friends):
    _, bob = friends
    presence.presence_keep(user_ids=[bob.pk])
    time.sleep(0.01)  # past the 1 ms ttl
    swept = presence.presence_sweep()
    assert [user_id for user_id, _ in swept] == [str(bob.pk)]
    assert presence.presence_sweep() == []


@pytest.mark.django_db(transaction=True)
async def test_while_redis_is_down_sockets_open_and_profiles_show_null(own_redis, client_for):  # noqa: F811
    url, server = own_redis
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    await database_sync_to_async(friendship_add)(user=alice, friend=bob)
    as_alice = await database_sync_to_async(client_for)(alice)
    with cache_on(url):
        await database_sync_to_async(kill)(server)
        alice_socket = await open_user_socket(alice)
        bob_socket = await open_user_socket(bob)
        response = await database_sync_to_async(as_alice.get)(f"/api/users/{bob.pk}")
        assert response.status_code == 200
        assert (response.json()["online"], response.json()["last_seen"]) == (None, None)
        await bob_socket.disconnect()
        await alice_socket.send_json_to({"type": "ping"})
        assert await alice_socket.receive_json_from(timeout=3) == {"type": "pong"}
        await alice_socket.disconnect()
