"""The user socket `/api/ws` on two real daphne processes sharing Redis and PostgreSQL."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats import services
from chats.models import Message
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {session_start(user=user).access}"}


@pytest.fixture
def two_chats(db):
    """(group, direct, alice, bob, carol, headers): alice is in both chats."""
    alice, bob, carol = UserFactory.create_batch(3)
    group, _ = services.chat_create(creator=alice, user_ids=[bob.pk, carol.pk], title="группа")
    direct, _ = services.chat_create(creator=carol, user_ids=[alice.pk])
    return group, direct, alice, bob, carol, {user: bearer(user) for user in (alice, bob, carol)}


async def frame(socket) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout=5))


async def test_messages_of_every_chat_cross_two_daphnes_to_each_socket_once(two_chats):
    group, direct, alice, bob, carol, headers = two_chats
    with live.daphne() as first, live.daphne() as second:
        async with (
            connect(f"ws://{first}/api/ws", additional_headers=headers[alice]) as alice_socket,
            connect(f"ws://{second}/api/ws", additional_headers=headers[bob]) as bob_socket,
            connect(f"ws://{second}/api/ws", additional_headers=headers[carol]) as carol_socket,
            connect(f"ws://{first}/api/chats/ws/{group.pk}/{bob.pk}", additional_headers=headers[bob]) as bob_chat,
        ):
            for socket, user in ((alice_socket, alice), (bob_socket, bob), (carol_socket, carol)):
                assert await frame(socket) == {"type": "ready", "user_id": str(user.pk)}

            await bob_socket.send(json.dumps({"type": "message.send", "chat_id": str(group.pk), "message": "всем"}))
            for socket in (alice_socket, bob_socket, carol_socket):
                received = await frame(socket)
                assert received["type"] == "message.new"
                assert received["message"]["message"] == "всем"
            assert (await frame(bob_chat))["message"] == "всем"

            # The direct chat, sent from the other process, reaches alice on the same socket.
            await carol_socket.send(
                json.dumps({"type": "message.send", "chat_id": str(direct.pk), "message": "лично", "client_ref": "k"})
            )
            assert (await frame(carol_socket))["client_ref"] == "k"
            personal = await frame(alice_socket)
            assert (personal["chat_id"], personal["message"]["message"]) == (str(direct.pk), "лично")

            # Nothing arrived twice, and bob saw nothing of a chat he is not in.
            await alice_socket.send(json.dumps({"type": "ping"}))
            assert await frame(alice_socket) == {"type": "pong"}
            await bob_socket.send(json.dumps({"type": "ping"}))
            assert await frame(bob_socket) == {"type": "pong"}
    assert await database_sync_to_async(Message.objects.count)() == 2


def test_nginx_routes_the_user_socket_to_daphne(db):
    from scripts.serve import Shape, free_port

    alice, bob = UserFactory.create_batch(2)
    chat, _ = services.chat_create(creator=alice, user_ids=[bob.pk])
    alice_headers, bob_token = bearer(alice), session_start(user=bob).access

    async def exchange(port):
        async with (
            connect(f"ws://127.0.0.1:{port}/api/ws", additional_headers=alice_headers) as alice_socket,
            connect(f"ws://127.0.0.1:{port}/api/ws?token={bob_token}") as bob_socket,
        ):
            await frame(alice_socket), await frame(bob_socket)  # ready
            await alice_socket.send(json.dumps({"type": "message.send", "chat_id": str(chat.pk), "message": "nginx"}))
            return await frame(bob_socket)

    with Shape(free_port(), env=live.server_env(COOKIE_SECURE=0), workers=1) as shape:
        delivered = asyncio.run(exchange(shape.port))
    assert delivered["type"] == "message.new"
    assert delivered["message"]["message"] == "nginx"
