"""The fan-out (social/fanout.py, docs/websocket.md "Fan-out"): one publish per chat event, routed
by each process to its own sockets of both kinds."""

import asyncio
import json

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import override_settings
from websockets.asyncio.client import connect

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats import services
from chats.tests.support import open_socket
from chats.tests.test_user_socket import open_user_socket
from chats.tests.test_websocket import close_code, nothing_more
from social import fanout
from testsupport import live

pytestmark = [pytest.mark.django_db(transaction=True)]


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def layer_groups() -> set[str]:
    """The channel-layer groups in Redis (channels_redis keeps one sorted set per group)."""
    return {
        key.decode().removeprefix("asgi:group:") for key in redis_client().scan_iter(match="asgi:group:*", count=1000)
    }


def subscriptions() -> int:
    """Subscribers of the fan-out channel on the Redis server (every process's, every loop's)."""
    [(_, count)] = redis_client().pubsub_numsub(fanout.channel_name())
    return count


def chats_with(user, count: int) -> list:
    """`count` (chat, other member) pairs: chats of `user` with one other member each."""
    others = UserFactory.create_batch(count)
    return [
        (services.chat_create(creator=other, user_ids=[user.pk], title=f"чат {i}")[0], other)
        for i, other in enumerate(others)
    ]


# --- subscriptions ------------------------------------------------------------------------------------
async def test_a_user_in_many_chats_holds_as_many_subscriptions_per_socket_as_a_user_in_one():
    few, many = await database_sync_to_async(UserFactory.create_batch)(2)
    await database_sync_to_async(chats_with)(few, 1)
    many_chats = await database_sync_to_async(chats_with)(many, 60)
    few_socket = await open_user_socket(few)
    subscribed = subscriptions()
    many_socket, many_second_tab = await open_user_socket(many), await open_user_socket(many)

    [few_consumer] = fanout.local_sockets(user_id=few.pk)
    many_consumers = fanout.local_sockets(user_id=many.pk)
    assert len(many_consumers) == 2  # one route per socket, not one per chat
    for consumer, user in ((few_consumer, few), *((consumer, many) for consumer in many_consumers)):
        # The user's group and the session's, in this process's routes: nothing per chat.
        groups = [f"user.{user.pk}", f"session.{consumer.scope['session_id']}"]
        assert sorted(consumer.fanout_route["groups"]) == sorted(groups)
        for group in groups:
            assert consumer in fanout.local_sockets(group=group)
        # And nothing in Redis: no channel-layer channel or group membership per socket.
        assert not hasattr(consumer, "channel_name")
        assert not set(groups) & layer_groups()
    # Opening sockets adds no subscription to Redis: the process holds one for all its sockets.
    assert subscriptions() == subscribed

    # And every chat's message still reaches both of the user's sockets.
    last, author = many_chats[-1]
    await database_sync_to_async(services.message_send)(chat=last, author=author, text="шестидесятый")
    for socket in (many_socket, many_second_tab):
        frame = await socket.receive_json_from(timeout=3)
        assert (frame["type"], frame["chat_id"], frame["message"]["message"]) == (
            "message.new",
            str(last.pk),
            "шестидесятый",
        )
        assert await nothing_more(socket)
    assert await nothing_more(few_socket)
    for socket in (few_socket, many_socket, many_second_tab):
        await socket.disconnect()
    assert fanout.local_sockets(user_id=many.pk) == []  # a closed socket leaves no route behind


async def test_a_chat_socket_is_routed_by_its_chat_and_leaves_no_route_when_closed():
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="двое")
    socket = await open_socket(chat, bob)
    [consumer] = fanout.local_sockets(chat_id=chat.pk)
    assert fanout.local_sockets(user_id=bob.pk) == []  # a chat socket gets no user-socket frames
    await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="тебе")
    assert (await socket.receive_json_from(timeout=3))["message"] == "тебе"
    assert await nothing_more(socket)
    await socket.disconnect()
    assert fanout.local_sockets(chat_id=chat.pk) == []
    assert fanout.local_sockets(group=f"chat.{chat.pk}.user.{bob.pk}") == []
    assert consumer.fanout_route is None


# --- outages ------------------------------------------------------------------------------------------
async def test_a_lost_subscription_closes_every_routed_socket_4503_and_the_next_socket_subscribes_again():
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="двое")
    user_socket, chat_socket = await open_user_socket(bob), await open_socket(chat, bob)

    # Drop this run's fan-out connection (named after its channel) and no one else's: events
    # published until it is back would be missed, so the sockets must not stay open.
    client = redis_client()
    ours = [entry["id"] for entry in client.client_list() if entry.get("name") == fanout.channel_name()]
    assert ours, "the fan-out subscription names its connection"
    for client_id in ours:
        client.client_kill_filter(_id=client_id)
    assert await close_code(user_socket, timeout=5) == 4503
    assert await close_code(chat_socket, timeout=5) == 4503
    assert fanout.local_sockets(user_id=bob.pk) == fanout.local_sockets(chat_id=chat.pk) == []

    again = await open_user_socket(bob)
    await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="снова")
    assert (await again.receive_json_from(timeout=3))["message"]["message"] == "снова"
    await again.disconnect()


async def test_without_redis_the_fan_out_stays_in_the_process():
    # The embedded quick start: no REDIS_URL, one process; the events go straight to its loop.
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="двое")
    with override_settings(REDIS_URL=""):
        user_socket, chat_socket = await open_user_socket(bob), await open_socket(chat, bob)
        await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="локально")
        assert (await user_socket.receive_json_from(timeout=3))["message"]["message"] == "локально"
        assert (await chat_socket.receive_json_from(timeout=3))["message"] == "локально"
        await user_socket.disconnect()
        await chat_socket.disconnect()


# --- two live processes -------------------------------------------------------------------------------
async def frames_until_quiet(socket, quiet: float = 0.7) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=quiet)))
        except TimeoutError:
            return frames


async def opened(url: str):
    return await connect(url, open_timeout=30)


@pytest.mark.live
async def test_every_message_crosses_two_daphnes_to_every_socket_of_both_kinds_exactly_once(db):
    members = await database_sync_to_async(UserFactory.create_batch)(6)
    chat, _ = await database_sync_to_async(services.chat_create)(
        creator=members[0], user_ids=[member.pk for member in members[1:]], title="шестеро"
    )
    tokens = [await database_sync_to_async(lambda user=user: session_start(user=user).access)() for user in members]
    with live.daphne() as first, live.daphne() as second:
        hosts = (first, second)
        async with asyncio.TaskGroup() as group:
            user_tasks = [group.create_task(opened(f"ws://{hosts[i % 2]}/api/ws?token={tokens[i]}")) for i in range(6)]
            chat_tasks = [
                group.create_task(
                    opened(f"ws://{hosts[(i + 1) % 2]}/api/chats/ws/{chat.pk}/{members[i].pk}?token={tokens[i]}")
                )
                for i in range(6)
            ]
        user_sockets = [task.result() for task in user_tasks]
        chat_sockets = [task.result() for task in chat_tasks]
        try:
            for socket, member in zip(user_sockets, members, strict=True):
                assert json.loads(await socket.recv()) == {"type": "ready", "user_id": str(member.pk)}
            # Two senders on two processes, each over the other kind of socket.
            sent = []
            for i in range(5):
                await user_sockets[0].send(
                    json.dumps({"type": "message.send", "chat_id": str(chat.pk), "message": f"u{i}"})
                )
                await chat_sockets[1].send(json.dumps({"message": f"c{i}"}))
                sent += [f"u{i}", f"c{i}"]
            for socket in user_sockets:
                texts = [frame["message"]["message"] for frame in await frames_until_quiet(socket)]
                assert sorted(texts) == sorted(sent)  # each once, nothing else
                assert [t for t in texts if t[0] == "u"] == [f"u{i}" for i in range(5)]  # per-sender order
                assert [t for t in texts if t[0] == "c"] == [f"c{i}" for i in range(5)]
            for socket in chat_sockets:
                texts = [frame["message"] for frame in await frames_until_quiet(socket)]
                assert sorted(texts) == sorted(sent)
                assert [t for t in texts if t[0] == "u"] == [f"u{i}" for i in range(5)]
        finally:
            await asyncio.gather(*(socket.close() for socket in [*user_sockets, *chat_sockets]))
