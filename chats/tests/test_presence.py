"""Presence (EXTENSIONS.md §1 `presence` frame, §2 "Presence", §8 `share_presence`) on real
sockets through the Redis channel layer; the profile's `online` and `last_seen`."""

import asyncio
from datetime import datetime

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from chats import services
from chats.tests.support import open_socket
from chats.tests.test_user_socket import open_user_socket
from chats.tests.test_websocket import nothing_more
from friends.services import friendship_add

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def friends(db):
    """(alice, bob, stranger): alice and bob are friends; the stranger is nobody's."""
    alice, bob, stranger = UserFactory.create_batch(3)
    friendship_add(user=alice, friend=bob)
    return alice, bob, stranger


def profile(client, user) -> dict:
    response = client.get(f"/api/users/{user.pk}")
    assert response.status_code == 200
    return response.json()


async def presence_frame(socket, timeout=3) -> dict:
    frame = await socket.receive_json_from(timeout=timeout)
    assert frame["type"] == "presence", frame
    return frame


async def test_a_friend_hears_the_first_socket_open_and_the_last_close(friends, client_for, settings):
    settings.PRESENCE_GRACE_SECONDS = 1
    alice, bob, stranger = friends
    alice_socket, stranger_socket = await open_user_socket(alice), await open_user_socket(stranger)
    phone = await open_user_socket(bob)
    assert await presence_frame(alice_socket) == {
        "type": "presence",
        "user_id": str(bob.pk),
        "online": True,
        "last_seen": None,
    }
    # A second socket of bob's (a chat socket counts too) announces nothing; nor does closing one.
    carol = await database_sync_to_async(UserFactory)()
    chat = await database_sync_to_async(services.chat_create)(creator=bob, user_ids=[carol.pk], title="x")
    chat_socket = await open_socket(chat[0], bob)
    await phone.disconnect()
    assert await nothing_more(alice_socket, timeout=2)
    viewer = await database_sync_to_async(client_for)(alice)
    assert (await database_sync_to_async(profile)(viewer, bob))["online"] is True

    before = timezone.now()
    await chat_socket.disconnect()
    offline = await presence_frame(alice_socket, timeout=5)
    assert (offline["user_id"], offline["online"]) == (str(bob.pk), False)
    last_seen = datetime.fromisoformat(offline["last_seen"])
    assert before <= last_seen <= timezone.now()
    shown = await database_sync_to_async(profile)(viewer, bob)
    assert (shown["online"], shown["last_seen"]) == (False, offline["last_seen"])
    # Nobody but friends heard any of it.
    assert await nothing_more(stranger_socket)
    for socket in (alice_socket, stranger_socket):
        await socket.disconnect()


async def test_a_reconnect_within_ten_seconds_announces_neither(friends):
    alice, bob, _ = friends
    alice_socket = await open_user_socket(alice)
    bob_socket = await open_user_socket(bob)
    assert (await presence_frame(alice_socket))["online"] is True
    await bob_socket.disconnect()
    await asyncio.sleep(1)
    bob_socket = await open_user_socket(bob)
    # Past the first close's grace period (10 s): neither the offline nor a second online.
    assert await nothing_more(alice_socket, timeout=11)
    await bob_socket.disconnect()
    await alice_socket.disconnect()


async def test_presence_shows_only_to_friends_and_to_the_user_themselves(friends, client_for):
    alice, bob, stranger = friends
    bob_socket = await open_user_socket(bob)
    as_alice, as_stranger, as_bob = await database_sync_to_async(
        lambda: [client_for(u) for u in (alice, stranger, bob)]
    )()
    for client, expected in ((as_alice, True), (as_bob, True), (as_stranger, None)):
        shown = await database_sync_to_async(profile)(client, bob)
        assert (shown["online"], shown["last_seen"]) == (expected, None)
    # Offline and never seen: a friend reads false; the stranger still null.
    assert (await database_sync_to_async(profile)(as_bob, alice))["online"] is False
    assert (await database_sync_to_async(profile)(as_stranger, alice))["online"] is None
    await bob_socket.disconnect()


async def test_a_user_who_does_not_share_presence_is_null_and_announces_nothing(friends, client_for, settings):
    settings.PRESENCE_GRACE_SECONDS = 1
    alice, bob, _ = friends
    as_bob, as_alice = await database_sync_to_async(lambda: [client_for(u) for u in (bob, alice)])()
    hidden = await database_sync_to_async(as_bob.patch)("/api/auth/settings", {"share_presence": False}, format="json")
    assert hidden.status_code == 200
    alice_socket = await open_user_socket(alice)
    bob_socket = await open_user_socket(bob)
    assert await nothing_more(alice_socket, timeout=1)
    shown = await database_sync_to_async(profile)(as_alice, bob)
    assert (shown["online"], shown["last_seen"]) == (None, None)
    # Their own profile still tells them.
    assert (await database_sync_to_async(profile)(as_bob, bob))["online"] is True
    await bob_socket.disconnect()
    assert await nothing_more(alice_socket, timeout=3)
    # The last close was still recorded, for when they share again.
    assert await database_sync_to_async(lambda: User.objects.get(pk=bob.pk).last_seen)() is not None
    await alice_socket.disconnect()


async def test_a_socket_over_the_cap_does_not_make_anyone_online(friends, client_for, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 0
    alice, bob, _ = friends
    from channels.testing import WebsocketCommunicator

    from chats.tests.support import bearer_headers, new_session
    from social.asgi import application

    refused = WebsocketCommunicator(application, "/api/ws", headers=bearer_headers(await new_session(bob)))
    assert (await refused.connect())[0]
    assert (await refused.receive_json_from(timeout=3))["type"] == "error"
    await refused.disconnect()
    as_alice = await database_sync_to_async(client_for)(alice)
    assert (await database_sync_to_async(profile)(as_alice, bob))["online"] is False


async def test_an_idle_socket_stays_online_past_the_ttl_without_flapping(friends, client_for, settings):
    # Short times, the same rule: the process refreshes before the presence expires.
    settings.PRESENCE_REFRESH_SECONDS, settings.PRESENCE_TTL_SECONDS = 1, 2.5
    alice, bob, _ = friends
    alice_socket = await open_user_socket(alice)
    bob_socket = await open_user_socket(bob)
    assert (await presence_frame(alice_socket))["online"] is True
    # Twice the ttl, and several sweeps, with no frame from bob: still online, nothing announced.
    assert await nothing_more(alice_socket, timeout=6)
    as_alice = await database_sync_to_async(client_for)(alice)
    assert (await database_sync_to_async(profile)(as_alice, bob))["online"] is True
    await bob_socket.disconnect()
    await alice_socket.disconnect()
