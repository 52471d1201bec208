"""The user socket `/api/ws` (EXTENSIONS §1) on the Redis channel layer."""

import threading

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import close_old_connections
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import user_deactivate
from accounts.tests.factories import UserFactory
from chats import selectors, services
from chats.consumers import TOO_FAST, TOO_MANY_SOCKETS
from chats.models import Message
from chats.tests.support import bearer_headers, new_session, open_socket
from chats.tests.test_websocket import FOREIGN_ORIGINS, OWN_ORIGINS, SERVED_HOSTS, close_code, nothing_more
from chats.user_consumer import BAD_CLIENT_REF, BAD_REF, NO_CHAT_ID, NO_MESSAGE, NOT_A_FRAME, UNKNOWN_TYPE
from social.asgi import application
from social.events import send_on_commit, user_group

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trio(db):
    """(chat, alice, bob, carol): a three-person chat and its members."""
    alice, bob, carol = UserFactory.create_batch(3)
    chat, _ = services.chat_create(creator=alice, user_ids=[bob.pk, carol.pk], title="трое")
    return chat, alice, bob, carol


async def open_user_socket(user, tokens=None, headers=None) -> WebsocketCommunicator:
    """A connected user socket of `user` that has received its `ready` frame."""
    tokens = tokens or await new_session(user)
    socket = WebsocketCommunicator(application, "/api/ws", headers=headers or bearer_headers(tokens))
    connected, code = await socket.connect()
    assert connected, f"handshake refused with {code}"
    assert await socket.receive_json_from(timeout=3) == {"type": "ready", "user_id": str(user.pk)}
    socket.tokens = tokens
    return socket


async def handshake_accepted(path: str, headers) -> bool:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await socket.connect()
    if connected:
        await socket.disconnect()
    return connected


# --- handshake ------------------------------------------------------------------------------------
async def test_ready_names_the_user_and_a_ping_is_answered(trio):
    _, alice, *_ = trio
    socket = await open_user_socket(alice)
    await socket.send_json_to({"type": "ping", "ref": "p1"})
    assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
    await socket.disconnect()


async def test_a_handshake_without_valid_credentials_is_refused(trio):
    assert not await handshake_accepted("/api/ws", [])
    assert not await handshake_accepted("/api/ws", [(b"authorization", b"Bearer not-a-token")])
    assert not await handshake_accepted("/api/ws?token=garbage", [])


async def test_the_token_in_the_query_string_is_accepted(trio):
    _, alice, *_ = trio
    tokens = await new_session(alice)
    assert await handshake_accepted(f"/api/ws?token={tokens.access}", [])


def cookie_headers(tokens, host, origin, extra):
    headers = [(b"cookie", f"access_token={tokens.access}".encode()), *extra]
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


@pytest.mark.parametrize(("host", "origin", "extra"), OWN_ORIGINS[:3] + OWN_ORIGINS[-1:])
@override_settings(ALLOWED_HOSTS=SERVED_HOSTS, NUM_PROXIES=1)
async def test_the_cookie_is_accepted_from_the_sockets_own_origin(trio, host, origin, extra):
    _, alice, *_ = trio
    assert await handshake_accepted("/api/ws", cookie_headers(await new_session(alice), host, origin, extra))


@pytest.mark.parametrize(("host", "origin", "extra"), FOREIGN_ORIGINS)
@override_settings(ALLOWED_HOSTS=SERVED_HOSTS, NUM_PROXIES=1)
async def test_the_cookie_is_refused_from_another_origin(trio, host, origin, extra):
    _, alice, *_ = trio
    assert not await handshake_accepted("/api/ws", cookie_headers(await new_session(alice), host, origin, extra))


# --- delivery -------------------------------------------------------------------------------------
async def test_a_message_sent_over_the_user_socket_reaches_every_members_every_socket_once(trio):
    chat, alice, bob, carol = trio
    alice_user = await open_user_socket(alice)
    bob_user, carol_user = await open_user_socket(bob), await open_user_socket(carol)
    bob_chat = await open_socket(chat, bob)

    await alice_user.send_json_to({"type": "message.send", "chat_id": str(chat.pk), "message": "всем", "ref": "r"})

    frames = [await socket.receive_json_from(timeout=3) for socket in (alice_user, bob_user, carol_user)]
    message = frames[0]["message"]
    assert message["message"] == "всем"
    assert message["user"]["id"] == str(alice.pk)
    assert message["chat_id"] == str(chat.pk)
    for frame in frames:
        assert frame == {"type": "message.new", "chat_id": str(chat.pk), "message": message, "client_ref": None}
    # The contract's chat socket gets the same message object, as it always did.
    assert await bob_chat.receive_json_from(timeout=3) == message
    for socket in (alice_user, bob_user, carol_user, bob_chat):
        assert await nothing_more(socket)
        await socket.disconnect()


async def test_every_chat_of_the_user_arrives_on_one_socket_and_no_other_chat(trio, make_chat):
    chat, alice, bob, carol = trio
    stranger = await database_sync_to_async(UserFactory)()
    direct = await database_sync_to_async(make_chat)(bob, alice)
    elsewhere = await database_sync_to_async(make_chat)(carol, stranger)
    socket = await open_user_socket(alice)

    for target, author, text in ((chat, carol, "в группе"), (direct, bob, "лично"), (elsewhere, carol, "не тебе")):
        await database_sync_to_async(services.message_send)(chat=target, author=author, text=text)

    received = [await socket.receive_json_from(timeout=3) for _ in range(2)]
    assert [(frame["chat_id"], frame["message"]["message"]) for frame in received] == [
        (str(chat.pk), "в группе"),
        (str(direct.pk), "лично"),
    ]
    assert await nothing_more(socket)
    await socket.disconnect()


async def test_a_message_sent_over_the_chat_socket_reaches_user_sockets(trio):
    chat, alice, bob, _ = trio
    chat_socket = await open_socket(chat, alice)
    bob_user = await open_user_socket(bob)
    await chat_socket.send_json_to({"message": "по старому сокету"})
    stored = await chat_socket.receive_json_from(timeout=3)
    frame = await bob_user.receive_json_from(timeout=3)
    assert frame["message"] == stored
    await chat_socket.disconnect()
    await bob_user.disconnect()


async def test_a_repeated_client_ref_stores_nothing_and_answers_only_the_senders_sockets(trio):
    chat, alice, bob, _ = trio
    first, second = await open_user_socket(alice), await open_user_socket(alice)
    bob_user = await open_user_socket(bob)
    send = {"type": "message.send", "chat_id": str(chat.pk), "message": "один раз", "client_ref": "c-1"}
    await first.send_json_to(send)
    original = await first.receive_json_from(timeout=3)
    assert original["client_ref"] == "c-1"
    await second.receive_json_from(timeout=3)
    await bob_user.receive_json_from(timeout=3)

    # A retry after a reconnect, whatever its text.
    await second.send_json_to({**send, "message": "другой текст"})
    assert await second.receive_json_from(timeout=3) == original
    assert await first.receive_json_from(timeout=3) == original
    assert await nothing_more(bob_user)
    assert await database_sync_to_async(Message.objects.count)() == 1
    for socket in (first, second, bob_user):
        await socket.disconnect()


def test_concurrent_sends_with_one_client_ref_store_one_message(trio):
    chat, alice, *_ = trio
    barrier = threading.Barrier(6)
    outcomes = []

    def send():
        try:
            barrier.wait()
            outcomes.append(services.message_send_once(chat=chat, author=alice, text="гонка", client_ref="same")[1])
        finally:
            close_old_connections()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 5 + [True]
    assert Message.objects.filter(client_ref="same").count() == 1


async def test_a_deletion_reaches_user_sockets_with_the_chat_id(trio):
    chat, alice, bob, _ = trio
    bob_user = await open_user_socket(bob)
    message = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="удалю")
    await bob_user.receive_json_from(timeout=3)
    message_id = message.pk
    await database_sync_to_async(services.message_delete)(message=message)
    assert await bob_user.receive_json_from(timeout=3) == {
        "type": "message.deleted",
        "chat_id": str(chat.pk),
        "message_id": message_id,
    }
    await bob_user.disconnect()


async def test_any_event_sent_to_the_users_group_is_forwarded_and_chat_sockets_ignore_it(trio):
    # The generic rule: a later feature's event (here a notification) needs no handler.
    chat, alice, *_ = trio
    user_socket = await open_user_socket(alice)
    chat_socket = await open_socket(chat, alice)
    event = {"type": "notification", "notification": {"id": 1, "type": "friend.added"}, "unread_count": 1}
    await database_sync_to_async(send_on_commit)(user_group(alice.pk), event)
    assert await user_socket.receive_json_from(timeout=3) == event
    assert await nothing_more(chat_socket)
    # The chat socket is still alive.
    await chat_socket.send_json_to({"message": "жив"})
    assert (await chat_socket.receive_json_from(timeout=3))["message"] == "жив"
    await user_socket.disconnect()
    await chat_socket.disconnect()


# --- bad frames -----------------------------------------------------------------------------------
BAD_FRAMES = [
    ("not json", NOT_A_FRAME, None),
    ("[1, 2]", NOT_A_FRAME, None),
    ('{"message": "no type"}', NOT_A_FRAME, None),
    ('{"type": 5}', NOT_A_FRAME, None),
    ('{"type": "ping", "ref": 5}', BAD_REF, None),
    ('{"type": "ping", "ref": "' + "r" * 65 + '"}', BAD_REF, None),
    ('{"type": "dance", "ref": "x1"}', UNKNOWN_TYPE.format(type="dance"), "x1"),
    ('{"type": "message.send", "message": "hi", "ref": "a"}', NO_CHAT_ID, "a"),
    ('{"type": "message.send", "chat_id": "CHAT", "ref": "b"}', NO_MESSAGE, "b"),
    ('{"type": "message.send", "chat_id": "CHAT", "message": "   ", "ref": "c"}', services.EMPTY_MESSAGE, "c"),
    ('{"type": "message.send", "chat_id": "CHAT", "message": "' + "x" * 4001 + '"}', services.LONG_MESSAGE, None),
    ('{"type": "message.send", "chat_id": "CHAT", "message": "hi", "client_ref": 7}', BAD_CLIENT_REF, None),
    ('{"type": "message.send", "chat_id": "nope", "message": "hi", "ref": "d"}', selectors.CHAT_NOT_FOUND, "d"),
    (
        '{"type": "message.send", "chat_id": "00000000-0000-0000-0000-000000000000", "message": "hi"}',
        selectors.CHAT_NOT_FOUND,
        None,
    ),
]


@pytest.mark.parametrize(("raw", "detail", "ref"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(trio, raw, detail, ref):
    chat, alice, *_ = trio
    socket = await open_user_socket(alice)
    await socket.send_to(text_data=raw.replace("CHAT", str(chat.pk)))
    expected = {"type": "error", "detail": detail}
    if ref is not None:
        expected["ref"] = ref
    assert await socket.receive_json_from(timeout=3) == expected
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
    assert await database_sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


async def test_sending_to_a_chat_the_user_is_not_in_is_an_error_frame(trio, make_chat):
    chat, alice, bob, carol = trio
    other = await database_sync_to_async(make_chat)(bob, carol)
    socket = await open_user_socket(alice)
    await socket.send_json_to({"type": "message.send", "chat_id": str(other.pk), "message": "вторжение", "ref": "z"})
    assert await socket.receive_json_from(timeout=3) == {"type": "error", "detail": selectors.NOT_A_MEMBER, "ref": "z"}
    assert await database_sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


async def test_a_frame_over_64_kb_closes_with_1009(trio):
    _, alice, *_ = trio
    socket = await open_user_socket(alice)
    await socket.send_to(text_data='{"type": "ping", "pad": "' + "x" * 65536 + '"}')
    assert await close_code(socket) == 1009


@override_settings(CHAT_MESSAGE_RATE=0.01, CHAT_MESSAGE_BURST=2)
async def test_only_sends_count_against_the_users_flood_bucket(trio):
    chat, alice, *_ = trio
    socket = await open_user_socket(alice)
    for _ in range(5):
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
    send = {"type": "message.send", "chat_id": str(chat.pk), "message": "м"}
    for _ in range(2):
        await socket.send_json_to(send)
        assert (await socket.receive_json_from(timeout=3))["type"] == "message.new"
    await socket.send_json_to({**send, "ref": "over"})
    assert await socket.receive_json_from(timeout=3) == {"type": "error", "detail": TOO_FAST, "ref": "over"}
    assert await database_sync_to_async(Message.objects.count)() == 2
    await socket.disconnect()


@override_settings(WS_MAX_SOCKETS_PER_USER=2)
async def test_the_socket_cap_counts_both_kinds_of_socket(trio):
    chat, alice, *_ = trio
    chat_socket = await open_socket(chat, alice)
    user_socket = await open_user_socket(alice)
    tokens = await new_session(alice)
    third = WebsocketCommunicator(application, "/api/ws", headers=bearer_headers(tokens))
    connected, _ = await third.connect()
    assert connected
    assert await third.receive_json_from(timeout=3) == {"type": "error", "detail": TOO_MANY_SOCKETS}
    assert await close_code(third) == 4429
    await chat_socket.disconnect()
    await user_socket.disconnect()


# --- closes ---------------------------------------------------------------------------------------
async def test_logout_closes_that_sessions_user_socket_with_4401(trio):
    _, alice, *_ = trio
    tokens = await new_session(alice)
    ended = await open_user_socket(alice, tokens)
    other_session = await open_user_socket(alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    response = await database_sync_to_async(client.delete)("/api/auth/logout")
    assert response.status_code == 200
    assert await close_code(ended) == 4401
    assert await nothing_more(other_session)
    await other_session.disconnect()


async def test_deactivation_closes_every_user_socket_with_4401(trio):
    _, alice, bob, _ = trio
    tabs = [await open_user_socket(alice), await open_user_socket(alice)]
    bystander = await open_user_socket(bob)
    await database_sync_to_async(user_deactivate)(user=alice)
    assert [await close_code(tab) for tab in tabs] == [4401, 4401]
    assert await nothing_more(bystander)
    await bystander.disconnect()


async def test_a_removed_member_gets_no_more_of_that_chat_and_cannot_send_to_it(trio):
    chat, alice, bob, _ = trio
    socket = await open_user_socket(bob)
    await database_sync_to_async(services.chat_member_remove)(chat=chat, user=bob)
    # Told once that the chat is gone for them (EXTENSIONS §1 `chat.removed`), then nothing of it.
    assert await socket.receive_json_from(timeout=3) == {"type": "chat.removed", "chat_id": str(chat.pk)}
    await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="без боба")
    assert await nothing_more(socket)
    await socket.send_json_to({"type": "message.send", "chat_id": str(chat.pk), "message": "я тут"})
    assert await socket.receive_json_from(timeout=3) == {"type": "error", "detail": selectors.NOT_A_MEMBER}
    await socket.disconnect()


async def test_a_message_to_a_chat_of_150_members_reaches_the_sender_without_exhausting_the_pool():
    # Per-member group sends (the fan-out before social/fanout.py), 150 at once, took more
    # connections than the layer's pool holds (100): MaxConnectionsError after commit, and the
    # sender's socket closed with 1011. Now one publish; the test keeps the large chat honest.
    members = await database_sync_to_async(UserFactory.create_batch)(150)
    chat, _ = await database_sync_to_async(services.chat_create)(
        creator=members[0], user_ids=[member.pk for member in members[1:]], title="много"
    )
    sender, last = await open_user_socket(members[0]), await open_user_socket(members[-1])
    await sender.send_json_to({"type": "message.send", "chat_id": str(chat.pk), "message": "всем"})
    assert (await sender.receive_json_from(timeout=10))["type"] == "message.new"
    assert (await last.receive_json_from(timeout=10))["message"]["message"] == "всем"
    await sender.disconnect()
    await last.disconnect()
