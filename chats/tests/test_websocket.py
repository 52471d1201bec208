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
from chats.consumers import (
    BAD_CLIENT_REF,
    NO_MESSAGE,
    NOT_JSON,
    TOO_FAST,
    TOO_MANY_SOCKETS,
    _slot_claim,
    slot_keeper,
)
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
        assert set(frame) == {"id", "message", "created_at", "user", "chat_id", "edited_at", "reply_to", "images"}
        assert set(frame["user"]) == {"id", "username", "email", "avatar"}
    for socket in [*sockets, second_alice_tab]:
        assert await nothing_more(socket)
        await socket.disconnect()


def _redis_clients(redis_client) -> int:
    # Only the connections on this run's database: the server's total counts every other
    # client of a shared Redis, which come and go while the test runs.
    database = redis_client.connection_pool.connection_kwargs.get("db", 0)
    return sum(1 for client in redis_client.client_list() if int(client["db"]) == database)


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


async def cookie_handshake(path: str, tokens, host: str | None, origin: str | None, *extra) -> bool:
    """True when a handshake authenticated by the access cookie alone is accepted."""
    headers = [(b"cookie", f"access_token={tokens.access}".encode()), *extra]
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await socket.connect()
    if connected:
        await socket.disconnect()
    return connected


FORWARDED_HTTPS = (b"x-forwarded-proto", b"https")
SERVED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "staging.example", "chat.example"]

# (host, origin, extra headers): the page's own origin, with the ports of `make run` / `make
# serve` (8000), a custom PORT, a default port, and TLS ended at a trusted proxy (NUM_PROXIES=1).
OWN_ORIGINS = [
    ("127.0.0.1:8000", "http://127.0.0.1:8000", ()),
    ("localhost:8000", "http://localhost:8000", ()),
    ("127.0.0.1:8123", "http://127.0.0.1:8123", ()),
    ("localhost", "http://localhost", ()),
    ("[::1]:8000", "http://[::1]:8000", ()),
    ("staging.example:8443", "https://staging.example:8443", (FORWARDED_HTTPS,)),
    ("chat.example", "https://chat.example", (FORWARDED_HTTPS,)),
]
# Another origin: another port of the same host (another service there), another scheme, a
# host we do not serve, a sandboxed page, or no Origin at all.
FOREIGN_ORIGINS = [
    ("127.0.0.1:8000", "http://127.0.0.1:8001", ()),
    ("127.0.0.1:8000", "http://127.0.0.1", ()),
    ("localhost:8000", "ftp://localhost:8000", ()),
    ("localhost", "ftp://localhost", ()),
    ("staging.example:8443", "http://staging.example:8443", (FORWARDED_HTTPS,)),
    ("staging.example:8443", "https://staging.example:8443", ()),
    ("127.0.0.1:8000", "https://evil.example", ()),
    ("evil.example:8000", "http://evil.example:8000", ()),
    ("127.0.0.1:8000", "null", ()),
    ("127.0.0.1:8000", None, ()),
    (None, "http://127.0.0.1:8000", ()),
]


@pytest.mark.parametrize(("host", "origin", "extra"), OWN_ORIGINS)
@override_settings(ALLOWED_HOSTS=SERVED_HOSTS, NUM_PROXIES=1)
async def test_the_cookie_is_accepted_from_the_sockets_own_origin(trio, host, origin, extra):
    chat, alice, *_ = trio
    assert await cookie_handshake(ws_path(chat, alice), await new_session(alice), host, origin, *extra)


@pytest.mark.parametrize(("host", "origin", "extra"), FOREIGN_ORIGINS)
@override_settings(ALLOWED_HOSTS=SERVED_HOSTS, NUM_PROXIES=1)
async def test_the_cookie_is_refused_from_another_origin(trio, host, origin, extra):
    chat, alice, *_ = trio
    assert not await cookie_handshake(ws_path(chat, alice), await new_session(alice), host, origin, *extra)


@override_settings(NUM_PROXIES=0)
async def test_x_forwarded_proto_counts_only_behind_a_trusted_proxy(trio):
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    path = ws_path(chat, alice)
    assert not await cookie_handshake(path, tokens, "localhost:8443", "https://localhost:8443", FORWARDED_HTTPS)
    assert await cookie_handshake(path, tokens, "localhost:8443", "http://localhost:8443", FORWARDED_HTTPS)


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example", "https://*.web.example"])
async def test_the_cookie_is_accepted_from_a_trusted_origin(trio):
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    path = ws_path(chat, alice)
    for origin in ("https://app.example", "https://m.web.example", "https://a.b.web.example"):
        assert await cookie_handshake(path, tokens, "127.0.0.1:8000", origin), origin
    for origin in (
        "http://app.example",
        "https://app.example:8443",
        "https://web.example.evil",
        "http://m.web.example",
    ):
        assert not await cookie_handshake(path, tokens, "127.0.0.1:8000", origin), origin


@pytest.mark.parametrize(
    "others",
    ['ajs_user={"id": 1}', "filter[sort]=new", 'utm="unclosed', "a=b c", "tz=Europe/Moscow"],
)
async def test_the_cookie_is_read_beside_cookies_the_stdlib_parser_rejects(trio, others):
    """Cookies other scripts of the site set (JSON values, PHP-style keys) must not hide ours:
    the REST cookie auth reads them with the same parser."""
    chat, alice, *_ = trio
    tokens = await new_session(alice)
    headers = [
        (b"cookie", f"{others}; access_token={tokens.access}".encode()),
        (b"host", b"127.0.0.1:8000"),
        (b"origin", b"http://127.0.0.1:8000"),
    ]
    socket = WebsocketCommunicator(application, ws_path(chat, alice), headers=headers)
    connected, _ = await socket.connect()
    assert connected
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
        ("[" * 50_000, NOT_JSON),  # deeper than Python's recursion limit, within the 64 KB frame
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


@override_settings(CHAT_MESSAGE_RATE=0.01, CHAT_MESSAGE_BURST=5)
async def test_the_flood_bucket_is_per_user_across_all_their_sockets(trio):
    # The attack: ten sockets used to flood ten times the rate. Five tokens for the user,
    # whichever of their sockets spends them.
    chat, alice, bob, _ = trio
    sockets = [await open_socket(chat, alice) for _ in range(3)]
    for i in range(3):
        for n, socket in enumerate(sockets):
            await socket.send_json_to({"message": f"flood {i}.{n}"})
    refusals = 0
    for socket in sockets:
        frames = [await socket.receive_json_from(timeout=3) for _ in range(5)]  # the 5 stored
        while not await socket.receive_nothing(timeout=0.3):
            frames.append(await socket.receive_json_from())
        refusals += sum(frame == {"detail": TOO_FAST} for frame in frames)
    assert await database_sync_to_async(Message.objects.count)() == 5
    assert refusals == 4
    # Another user's bucket is their own.
    bobs = await open_socket(chat, bob)
    await bobs.send_json_to({"message": "я не флужу"})
    assert (await bobs.receive_json_from(timeout=3))["message"] == "я не флужу"
    for socket in [*sockets, bobs]:
        await socket.disconnect()


@override_settings(CHAT_MESSAGE_RATE=0.01, CHAT_MESSAGE_BURST=3)
async def test_rest_and_socket_sends_share_the_flood_bucket(trio):
    # A message counts once whichever way it arrives: the tokens a socket spent are gone for
    # the same user's REST sends, and the other way round.
    chat, alice, bob, _ = trio
    socket = await open_socket(chat, alice)
    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=f"Bearer {(await new_session(alice)).access}")
    url = f"/api/chats/{chat.pk}/messages"
    send = database_sync_to_async(lambda text: rest.post(url, {"message": text}, format="json"))
    assert (await send("по REST")).status_code == 201
    assert (await socket.receive_json_from(timeout=3))["message"] == "по REST"  # its fan-out
    for text in ("сокет 1", "сокет 2"):
        await socket.send_json_to({"message": text})
        assert (await socket.receive_json_from(timeout=3))["message"] == text
    refused = await send("четвёртое")
    assert refused.status_code == 429
    assert set(refused.json()) == {"detail"} and int(refused["Retry-After"]) >= 1
    await socket.send_json_to({"message": "пятое"})
    assert await socket.receive_json_from(timeout=3) == {"detail": TOO_FAST}
    assert await database_sync_to_async(Message.objects.count)() == 3
    await socket.disconnect()


async def _refused_with_4429(chat, user) -> None:
    socket = WebsocketCommunicator(application, ws_path(chat, user), headers=bearer_headers(await new_session(user)))
    connected, _ = await socket.connect()
    assert connected  # accepted first, so the client can read why
    assert await socket.receive_json_from(timeout=3) == {"detail": TOO_MANY_SOCKETS}
    assert await close_code(socket) == 4429


@override_settings(WS_MAX_SOCKETS_PER_USER=3)
async def test_a_socket_over_the_per_user_cap_is_told_why_and_closed_with_4429(trio):
    chat, alice, bob, _ = trio
    sockets = [await open_socket(chat, alice) for _ in range(3)]

    await _refused_with_4429(chat, alice)

    # The refused socket took no slot and receives nothing; the others still work.
    await sockets[0].send_json_to({"message": "всё ещё здесь"})
    assert (await sockets[2].receive_json_from(timeout=3))["message"] == "всё ещё здесь"
    # Another user is not counted with alice.
    bobs = await open_socket(chat, bob)
    # A closed socket frees its slot.
    await sockets[0].disconnect()
    await asyncio.sleep(0.2)
    sockets[0] = await open_socket(chat, alice)
    for socket in [*sockets, bobs]:
        await socket.disconnect()


@override_settings(WS_MAX_SOCKETS_PER_USER=2, WS_SOCKET_SLOT_TTL=1.0)
async def test_slots_left_by_a_crashed_process_expire(trio):
    # A process that dies never releases its sockets' slots: here two slots claimed for sockets
    # of no live process. They block a new socket only until they expire.
    chat, alice, *_ = trio
    for dead in ("dead-process.socket-1", "dead-process.socket-2"):
        assert await database_sync_to_async(_slot_claim)(alice.pk, dead)

    await _refused_with_4429(chat, alice)
    await asyncio.sleep(1.2)

    socket = await open_socket(chat, alice)
    # A live socket refreshes its slot (every third of the TTL): it still counts long after.
    await asyncio.sleep(1.5)
    assert await database_sync_to_async(_slot_claim)(alice.pk, "another")
    await _refused_with_4429(chat, alice)
    await socket.disconnect()


@override_settings(WS_MAX_SOCKETS_PER_USER=1, WS_SOCKET_SLOT_TTL=1.0)
async def test_every_open_socket_keeps_its_slot_and_a_closed_one_frees_it(trio):
    # One loop of the process refreshes the slots of all its sockets (chats.consumers.SlotKeeper):
    # several users' sockets all stay counted long past the TTL; once closed, a slot is free.
    chat, alice, bob, carol = trio
    sockets = {user: await open_socket(chat, user) for user in (alice, bob, carol)}
    await asyncio.sleep(2.5)
    for user in (alice, bob, carol):
        await _refused_with_4429(chat, user)
    await sockets[bob].disconnect()
    await asyncio.sleep(0.2)
    again = await open_socket(chat, bob)
    for socket in (sockets[alice], sockets[carol], again):
        await socket.disconnect()
    await asyncio.sleep(0.1)
    # No socket left: no refresh task left behind on the loop.
    assert slot_keeper.task is None and not slot_keeper.slots


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
