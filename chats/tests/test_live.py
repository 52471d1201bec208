"""Two real daphne processes sharing Redis and PostgreSQL, a real WebSocket client on each."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats import services
from chats.models import Message
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pair(db):
    """(chat, alice, bob, headers): a direct chat and a Bearer header per member (sessions are
    made here, outside the event loop)."""
    alice, bob = UserFactory.create_batch(2)
    chat, _ = services.chat_create(creator=alice, user_ids=[bob.pk])
    return chat, alice, bob, {alice: bearer(alice), bob: bearer(bob)}


def socket_url(address, chat, user):
    return f"ws://{address}/api/chats/ws/{chat.pk}/{user.pk}"


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {session_start(user=user).access}"}


async def test_a_message_sent_through_one_daphne_arrives_on_the_other(pair):
    chat, alice, bob, headers = pair
    alice_headers, bob_headers = headers[alice], headers[bob]
    with live.daphne() as first, live.daphne() as second:
        async with (
            connect(socket_url(first, chat, alice), additional_headers=alice_headers) as alice_socket,
            connect(socket_url(second, chat, bob), additional_headers=bob_headers) as bob_socket,
        ):
            await alice_socket.send(json.dumps({"message": "с первого сервера"}))
            received = json.loads(await asyncio.wait_for(bob_socket.recv(), timeout=5))
            echo = json.loads(await asyncio.wait_for(alice_socket.recv(), timeout=5))
            assert received == echo
            assert received["message"] == "с первого сервера"
            assert received["user"]["id"] == str(alice.pk)

            await bob_socket.send(json.dumps({"message": "со второго"}))
            answer = json.loads(await asyncio.wait_for(alice_socket.recv(), timeout=5))
            assert answer["message"] == "со второго"
            assert answer["id"] > received["id"]
    texts = await database_sync_to_async(lambda: list(Message.objects.order_by("id").values_list("text", flat=True)))()
    assert texts == ["с первого сервера", "со второго"]


async def close_code_after_sending(url, headers, text) -> int:
    async with connect(url, additional_headers=headers, max_size=None) as socket:
        await socket.send(text)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), timeout=5)
    assert closed.value.rcvd is not None, "dropped without a close frame"
    return closed.value.rcvd.code


async def test_a_frame_over_64_kb_closes_with_1009_on_live_daphne(pair):
    chat, alice, _, headers = pair
    with live.daphne() as address:
        url = socket_url(address, chat, alice)
        async with connect(url, additional_headers=headers[alice]) as socket:
            # Exactly 64 KB still passes (and is answered: it is too long a message).
            at_limit = json.dumps({"message": "x" * (65536 - len('{"message": ""}'))})
            assert len(at_limit) == 65536
            await socket.send(at_limit)
            assert json.loads(await asyncio.wait_for(socket.recv(), timeout=5)) == {"detail": services.LONG_MESSAGE}
        code = await close_code_after_sending(url, headers[alice], json.dumps({"message": "x" * 65536}))
    assert code == 1009
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_live_daphne_refuses_a_handshake_without_credentials(pair):
    chat, alice, _, _ = pair
    with live.daphne() as address:
        with pytest.raises(Exception) as refused:
            async with connect(socket_url(address, chat, alice)):
                pass
    assert "403" in str(refused.value)


async def test_the_query_string_token_works_on_live_daphne_and_stays_out_of_its_log(pair, tmp_path):
    chat, alice, _, headers = pair
    token = headers[alice]["Authorization"].removeprefix("Bearer ")
    log = tmp_path / "daphne.log"
    with live.daphne(log_path=log, LOG_LEVEL="INFO") as address:
        async with connect(f"{socket_url(address, chat, alice)}/?token={token}") as socket:
            await socket.send(json.dumps({"message": "токен в адресе"}))
            assert json.loads(await asyncio.wait_for(socket.recv(), timeout=5))["message"] == "токен в адресе"
    text = log.read_text()
    assert f"socket connect chat={chat.pk}" in text  # our socket line did record the socket
    assert token not in text


async def test_the_flood_bucket_and_the_socket_cap_are_shared_by_two_daphnes(pair):
    # One user, one socket on each of two processes: five messages in all, not five per
    # process; and a third socket over a cap of two is refused whichever process it reaches.
    chat, alice, _, headers = pair
    limits = {"CHAT_MESSAGE_RATE": "0.01", "CHAT_MESSAGE_BURST": "5", "WS_MAX_SOCKETS_PER_USER": "2"}
    with live.daphne(**limits) as first, live.daphne(**limits) as second:
        async with (
            connect(socket_url(first, chat, alice), additional_headers=headers[alice]) as on_first,
            connect(socket_url(second, chat, alice), additional_headers=headers[alice]) as on_second,
        ):
            for n in range(4):
                await on_first.send(json.dumps({"message": f"first {n}"}))
                await on_second.send(json.dumps({"message": f"second {n}"}))
            await asyncio.sleep(1)
            assert await database_sync_to_async(Message.objects.count)() == 5

            async with connect(socket_url(second, chat, alice), additional_headers=headers[alice]) as third:
                assert "detail" in json.loads(await asyncio.wait_for(third.recv(), timeout=5))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(third.recv(), timeout=5)
            assert closed.value.rcvd.code == 4429


async def test_a_cookie_socket_from_its_own_origin_with_a_port_opens_on_live_daphne(pair):
    """`make run` is one daphne on a port: the page's Origin carries that port. Another port of
    the same host (another service there) is another origin."""
    chat, alice, _, _ = pair
    access = (await database_sync_to_async(session_start)(user=alice)).access
    cookie = {"Cookie": f'ajs_user={{"id": 1}}; access_token={access}'}
    with live.daphne() as address:
        port = int(address.rsplit(":", 1)[1])
        async with connect(
            socket_url(address, chat, alice), origin=f"http://{address}", additional_headers=cookie
        ) as socket:
            await socket.send(json.dumps({"message": "из браузера"}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["message"] == "из браузера"
        with pytest.raises(Exception) as refused:
            async with connect(
                socket_url(address, chat, alice), origin=f"http://127.0.0.1:{port + 1}", additional_headers=cookie
            ):
                pass
    assert "403" in str(refused.value)
