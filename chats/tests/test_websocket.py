"""WebSocket: Channels' communicator against `social.asgi.application` and the Redis layer."""

import asyncio
import json

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import user_deactivate
from accounts.tests.factories import UserFactory
from chats import services
from chats.consumers import BAD_CLIENT_REF, NO_MESSAGE, NOT_JSON, TOO_FAST
from chats.models import Chat, Message
from chats.tests.support import bearer_headers, new_session, open_socket, refused, ws_path
from social.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trio(db):
    """(chat, alice, bob, carol): a three-person chat and its members."""
    alice, bob, carol = UserFactory.create_batch(3)
    chat, _ = services.chat_create(creator=alice, user_ids=[bob.pk, carol.pk], title="трое")
    return chat, alice, bob, carol


async def nothing_more(socket, timeout=0.3) -> bool:
    return await socket.receive_nothing(timeout=timeout)


async def close_code(socket, timeout=2) -> int:
    output = await socket.receive_output(timeout=timeout)
    assert output["type"] == "websocket.close", output
    return output.get("code", 1000)


# --- delivery ---------------------------------------------------------------------------------------
async def test_a_message_reaches_every_member_socket_once_the_sender_included(trio):
    chat, alice, bob, carol = trio
    sockets = [await open_socket(chat, member) for member in (alice, bob, carol)]
    second_alice_tab = await open_socket(chat, alice)
    await sockets[0].send_json_to({"message": "всем привет"})
    frames = [await socket.receive_json_from(timeout=3) for socket in [*sockets, second_alice_tab]]
    stored = await database_sync_to_async(Message.objects.get)()
    for frame in frames:
        assert frame["id"] == stored.pk
        assert frame["message"] == "всем привет"
        assert frame["user"]["id"] == str(alice.pk)
        assert set(frame) == {"id", "message", "created_at", "user"}
        assert set(frame["user"]) == {"id", "username", "email", "avatar"}
    for socket in [*sockets, second_alice_tab]:
        assert await nothing_more(socket)
        await socket.disconnect()


def _redis_clients(redis_client) -> int:
    return redis_client.info("clients")["connected_clients"]


async def test_open_sockets_share_their_processs_redis_connections(trio, settings):
    # Each socket runs in its own asyncio context, where Django builds a cache backend of its
    # own: with Django's Redis backend every socket kept a connection of its own after its
    # token check (social/cache.py).
    chat, alice, bob, carol = trio
    probe = redis.Redis.from_url(settings.REDIS_URL)
    before = await asyncio.to_thread(_redis_clients, probe)

    sockets = [await open_socket(chat, member) for member in (alice, bob, carol) * 10]
    during = await asyncio.to_thread(_redis_clients, probe)

    assert during - before <= 3, f"{during - before} new Redis connections for {len(sockets)} sockets"
    for socket in sockets:
        await socket.disconnect()
    probe.close()


async def test_the_sender_learns_the_id_of_its_stored_message(trio):
    chat, alice, *_ = trio
    socket = await open_socket(chat, alice)
    await socket.send_json_to({"message": "эхо"})
    frame = await socket.receive_json_from(timeout=3)
    message = await database_sync_to_async(Message.objects.get)(pk=frame["id"])
    assert message.text == "эхо"
    assert message.user_id == alice.pk
    chat_after = await database_sync_to_async(Chat.objects.get)(pk=chat.pk)
    assert chat_after.last_message_at == message.created_at
    await socket.disconnect()


async def test_each_senders_messages_arrive_in_the_order_sent(trio):
    chat, alice, bob, carol = trio
    listener = await open_socket(chat, carol)
    alice_socket = await open_socket(chat, alice)
    bob_socket = await open_socket(chat, bob)
    for i in range(8):
        await alice_socket.send_json_to({"message": f"a{i}"})
        await bob_socket.send_json_to({"message": f"b{i}"})
    frames = [await listener.receive_json_from(timeout=5) for _ in range(16)]
    from_alice = [f["message"] for f in frames if f["user"]["id"] == str(alice.pk)]
    from_bob = [f["message"] for f in frames if f["user"]["id"] == str(bob.pk)]
    assert from_alice == [f"a{i}" for i in range(8)]
    assert from_bob == [f"b{i}" for i in range(8)]
    for socket in (listener, alice_socket, bob_socket):
        await socket.disconnect()


async def test_a_message_sent_over_rest_free_service_reaches_sockets_only_after_commit(trio):
    chat, alice, bob, _ = trio
    socket = await open_socket(chat, bob)

    def send_and_roll_back():
        from django.db import transaction

        with transaction.atomic():
            services.message_send(chat=chat, author=alice, text="передумал")
            transaction.set_rollback(True)

    await database_sync_to_async(send_and_roll_back)()
    assert await nothing_more(socket, timeout=0.5)
    await socket.disconnect()


async def test_an_idle_socket_still_receives_after_six_seconds_of_silence(trio):
    chat, alice, bob, _ = trio
    idle = await open_socket(chat, bob)
    # Longer than redis-py 8's default socket_timeout of 5 s (channels_redis issue #422).
    await asyncio.sleep(6)
    sender = await open_socket(chat, alice)
    await sender.send_json_to({"message": "ты тут?"})
    frame = await idle.receive_json_from(timeout=3)
    assert frame["message"] == "ты тут?"
    await idle.disconnect()
    await sender.disconnect()


# --- handshake --------------------------------------------------------------------------------------
async def test_a_non_member_is_refused(trio):
    chat, *_ = trio
    stranger = await database_sync_to_async(UserFactory)()
    tokens = await new_session(stranger)
    assert await refused(ws_path(chat, stranger), bearer_headers(tokens))


async def test_a_client_id_other_than_the_callers_is_refused(trio):
    chat, alice, bob, _ = trio
    tokens = await new_session(alice)
    assert await refused(ws_path(chat, bob), bearer_headers(tokens))
    assert await refused(f"/api/chats/ws/{chat.pk}/not-a-uuid", bearer_headers(tokens))


async def test_an_anonymous_or_badly_authenticated_handshake_is_refused(trio):
    chat, alice, *_ = trio
    assert await refused(ws_path(chat, alice))
    assert await refused(ws_path(chat, alice), [(b"authorization", b"Bearer not-a-token")])
    assert await refused(ws_path(chat, alice) + "?token=garbage")


async def test_an_unknown_or_malformed_chat_is_refused(trio):
    _, alice, *_ = trio
    tokens = await new_session(alice)
    assert await refused(f"/api/chats/ws/3f0e7a5e-0000-4000-8000-000000000000/{alice.pk}", bearer_headers(tokens))
    assert await refused(f"/api/chats/ws/nope/{alice.pk}", bearer_headers(tokens))
    assert await refused("/api/somewhere/else", bearer_headers(tokens))


async def test_the_token_in_the_query_string_is_accepted_without_origin(trio):
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    socket = WebsocketCommunicator(application, ws_path(chat, alice) + f"/?token={tokens.access}")
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"message": "через токен"})
    assert (await socket.receive_json_from(timeout=3))["message"] == "через токен"
    await socket.disconnect()


async def test_the_bearer_header_is_accepted_without_origin(trio):
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    socket = WebsocketCommunicator(application, ws_path(chat, alice), headers=bearer_headers(tokens))
    connected, _ = await socket.connect()
    assert connected
    await socket.disconnect()


@override_settings(ALLOWED_HOSTS=["chat.example"], CSRF_TRUSTED_ORIGINS=["https://app.example"])
async def test_the_cookie_is_accepted_only_from_an_allowed_origin(trio):
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    cookie = (b"cookie", f"access_token={tokens.access}".encode())
    path = ws_path(chat, alice)
    assert await refused(path, [cookie, (b"origin", b"https://evil.example")])
    assert await refused(path, [cookie])  # no Origin at all
    for origin in (b"https://chat.example", b"https://app.example"):
        socket = WebsocketCommunicator(application, path, headers=[cookie, (b"origin", origin)])
        connected, _ = await socket.connect()
        assert connected, origin
        await socket.disconnect()


async def test_a_token_of_an_ended_session_is_refused(trio):
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    await database_sync_to_async(client.delete)("/api/auth/logout")
    assert await refused(ws_path(chat, alice), bearer_headers(tokens))


# --- error frames and limits ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ("not json", NOT_JSON),
        ("[1, 2]", NOT_JSON),
        ("{}", NO_MESSAGE),
        ('{"message": 5}', NO_MESSAGE),
        ('{"message": ""}', services.EMPTY_MESSAGE),
        ('{"message": "   "}', services.EMPTY_MESSAGE),
        (json.dumps({"message": "я" * 4001}), services.LONG_MESSAGE),
    ],
)
async def test_a_bad_frame_gets_a_detail_frame_and_the_socket_stays_open(trio, frame, detail):
    chat, alice, *_ = trio
    socket = await open_socket(chat, alice)
    await socket.send_to(text_data=frame)
    assert await socket.receive_json_from(timeout=3) == {"detail": detail}
    await socket.send_json_to({"message": "я" * 4000})
    frame = await socket.receive_json_from(timeout=3)
    assert len(frame["message"]) == 4000
    assert await database_sync_to_async(Message.objects.count)() == 1
    await socket.disconnect()


# --- client_ref ----------------------------------------------------------------------------------
async def test_the_senders_answer_echoes_its_client_ref_and_others_get_the_plain_message_once(trio):
    chat, alice, bob, _ = trio
    sender, second_tab, other = (
        await open_socket(chat, alice),
        await open_socket(chat, alice),
        await open_socket(chat, bob),
    )
    await sender.send_json_to({"message": "с меткой", "client_ref": "draft-7"})
    answer = await sender.receive_json_from(timeout=3)
    stored = await database_sync_to_async(Message.objects.get)()
    assert answer["id"] == stored.pk and answer["client_ref"] == "draft-7"
    for socket in (second_tab, other):
        frame = await socket.receive_json_from(timeout=3)
        assert frame["id"] == stored.pk and "client_ref" not in frame
    for socket in (sender, second_tab, other):
        assert await nothing_more(socket)  # the sender's socket too: answered once, not twice
        await socket.disconnect()


async def test_a_resend_with_the_same_client_ref_stores_nothing_new_and_answers_the_stored_message(trio):
    chat, alice, bob, _ = trio
    sender, other = await open_socket(chat, alice), await open_socket(chat, bob)
    await sender.send_json_to({"message": "один раз", "client_ref": "r-1"})
    first = await sender.receive_json_from(timeout=3)
    assert (await other.receive_json_from(timeout=3))["id"] == first["id"]
    # A reconnecting client that never saw the answer resends (any text, same ref).
    resent = await open_socket(chat, alice)
    await resent.send_json_to({"message": "один раз (повтор)", "client_ref": "r-1"})
    again = await resent.receive_json_from(timeout=3)
    assert again == first
    assert await database_sync_to_async(Message.objects.count)() == 1
    assert await nothing_more(other)  # nothing new was sent to the others
    # Another sender may use the same ref: refs are per sender.
    await other.send_json_to({"message": "мой", "client_ref": "r-1"})
    assert (await other.receive_json_from(timeout=3))["message"] == "мой"
    assert await database_sync_to_async(Message.objects.count)() == 2
    for socket in (sender, other, resent):
        await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ({"message": "x", "client_ref": 5}, {"detail": BAD_CLIENT_REF}),
        ({"message": "x", "client_ref": "r" * 65}, {"detail": BAD_CLIENT_REF}),
        ({"message": "", "client_ref": "r1"}, {"detail": services.EMPTY_MESSAGE, "client_ref": "r1"}),
        ({"client_ref": "r2"}, {"detail": NO_MESSAGE, "client_ref": "r2"}),
    ],
)
async def test_an_error_about_a_frame_echoes_its_client_ref_and_nothing_is_stored(trio, frame, detail):
    chat, alice, *_ = trio
    socket = await open_socket(chat, alice)
    await socket.send_json_to(frame)
    assert await socket.receive_json_from(timeout=3) == detail
    assert await database_sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


async def test_a_binary_frame_that_is_not_json_gets_a_detail_frame(trio):
    chat, alice, *_ = trio
    socket = await open_socket(chat, alice)
    await socket.send_to(bytes_data=b"\xff\xfe")
    assert await socket.receive_json_from(timeout=3) == {"detail": NOT_JSON}
    await socket.disconnect()


async def test_a_frame_over_64_kb_closes_the_socket_with_1009(trio):
    chat, alice, *_ = trio
    socket = await open_socket(chat, alice)
    await socket.send_to(text_data=json.dumps({"message": "x" * (64 * 1024)}))
    assert await close_code(socket) == 1009
    assert await database_sync_to_async(Message.objects.count)() == 0


@override_settings(CHAT_MESSAGE_RATE=1.0, CHAT_MESSAGE_BURST=5)
async def test_a_flood_beyond_the_burst_gets_detail_frames_and_nothing_stored(trio):
    chat, alice, bob, _ = trio
    socket = await open_socket(chat, alice)
    listener = await open_socket(chat, bob)
    for i in range(8):
        await socket.send_json_to({"message": f"flood {i}"})
    frames = [await socket.receive_json_from(timeout=3) for _ in range(8)]
    stored = [f for f in frames if "id" in f]
    refused_frames = [f for f in frames if "id" not in f]
    assert [f["message"] for f in stored] == [f"flood {i}" for i in range(5)]
    assert refused_frames == [{"detail": TOO_FAST}] * 3
    assert await database_sync_to_async(Message.objects.count)() == 5
    assert len([await listener.receive_json_from(timeout=3) for _ in range(5)]) == 5
    assert await nothing_more(listener)
    # The bucket refills: a second later one more message goes through.
    await asyncio.sleep(1.1)
    await socket.send_json_to({"message": "снова можно"})
    assert (await socket.receive_json_from(timeout=3))["message"] == "снова можно"
    await socket.disconnect()
    await listener.disconnect()


# --- server-initiated closes and events -------------------------------------------------------------
async def test_logout_closes_that_sessions_sockets_with_4401(trio):
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    ended = await open_socket(chat, alice, tokens)
    other_session = await open_socket(chat, alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    response = await database_sync_to_async(client.delete)("/api/auth/logout")
    assert response.status_code == 200
    assert await close_code(ended) == 4401
    # Another session of the same user stays open.
    assert await nothing_more(other_session)
    await other_session.disconnect()


async def test_deactivation_closes_every_socket_of_the_user_with_4401(trio):
    chat, alice, bob, _ = trio
    tabs = [await open_socket(chat, alice), await open_socket(chat, alice)]
    bystander = await open_socket(chat, bob)
    await database_sync_to_async(user_deactivate)(user=alice)
    assert [await close_code(tab) for tab in tabs] == [4401, 4401]
    assert await nothing_more(bystander)
    await bystander.disconnect()


async def test_removal_from_the_chat_closes_the_members_sockets_with_4403(trio):
    chat, alice, bob, carol = trio
    removed = await open_socket(chat, bob)
    stays = await open_socket(chat, carol)
    await database_sync_to_async(services.chat_member_remove)(chat=chat, user=bob)
    assert await close_code(removed) == 4403
    assert await nothing_more(stays)
    # And the removed member cannot come back in.
    tokens = await new_session(bob)
    assert await refused(ws_path(chat, bob), bearer_headers(tokens))
    await stays.disconnect()


async def test_a_removed_member_whose_close_was_missed_cannot_send(trio):
    chat, alice, bob, carol = trio
    socket = await open_socket(chat, bob)
    listener = await open_socket(chat, carol)

    def remove_quietly():
        # The row goes without the close event, as if the event had been lost.
        chat.memberships.filter(user=bob).delete()

    await database_sync_to_async(remove_quietly)()
    await socket.send_json_to({"message": "я ещё тут"})
    assert await close_code(socket) == 4403
    assert await nothing_more(listener)
    assert await database_sync_to_async(Message.objects.count)() == 0
    await listener.disconnect()


async def test_staff_deletion_sends_message_deleted_to_the_chats_sockets(trio):
    chat, alice, bob, _ = trio
    sender = await open_socket(chat, alice)
    reader = await open_socket(chat, bob)
    await sender.send_json_to({"message": "удалите меня"})
    message_id = (await sender.receive_json_from(timeout=3))["id"]
    await reader.receive_json_from(timeout=3)
    message = await database_sync_to_async(Message.objects.get)(pk=message_id)
    await database_sync_to_async(services.message_delete)(message=message)
    for socket in (sender, reader):
        frame = await socket.receive_json_from(timeout=3)
        assert frame == {"type": "message.deleted", "message_id": message_id}
        assert "id" not in frame
        await socket.disconnect()
    assert not await database_sync_to_async(Message.objects.filter(pk=message_id).exists)()
