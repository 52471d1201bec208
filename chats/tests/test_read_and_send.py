"""POST /api/chats/<id>/messages and POST /api/chats/<id>/read, and the socket's `read` frame."""

import threading

import pytest
from channels.db import database_sync_to_async
from django.db import close_old_connections

from accounts.tests.factories import UserFactory
from chats import selectors, services
from chats.models import ChatMember, Message
from chats.tests.test_user_socket import open_user_socket
from chats.tests.test_websocket import nothing_more
from chats.user_consumer import NO_MESSAGE_ID, TOO_MANY_READS


# --- REST send ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_message_sent_over_rest_is_stored_and_answered_201(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    response = api.post(f"/api/chats/{chat.pk}/messages", {"message": "через REST"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "через REST"
    assert body["chat_id"] == str(chat.pk)
    assert Message.objects.get().pk == body["id"]


@pytest.mark.django_db
def test_a_repeated_client_ref_over_rest_answers_200_with_the_first_message(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    first = api.post(f"/api/chats/{chat.pk}/messages", {"message": "a", "client_ref": "r1"}, format="json")
    again = api.post(f"/api/chats/{chat.pk}/messages", {"message": "b", "client_ref": "r1"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Message.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 4001}, "message"),
        ({}, "message"),
        ({"message": "ok", "client_ref": "r" * 65}, "client_ref"),
    ],
)
def test_bad_rest_sends_are_a_400(api, make_chat, user, other_user, body, field):
    chat = make_chat(user, other_user)
    response = api.post(f"/api/chats/{chat.pk}/messages", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_rest_send_to_a_chat_one_is_not_in_is_403_and_an_unknown_chat_404(api, make_chat, user, other_user):
    foreign = make_chat(other_user, UserFactory())
    assert api.post(f"/api/chats/{foreign.pk}/messages", {"message": "x"}, format="json").status_code == 403
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.post(f"/api/chats/{unknown}/messages", {"message": "x"}, format="json").status_code == 404
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
async def test_a_rest_send_reaches_user_sockets(client_for, make_chat):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    socket = await open_user_socket(bob)
    client = await database_sync_to_async(client_for)(alice)
    response = await database_sync_to_async(client.post)(
        f"/api/chats/{chat.pk}/messages", {"message": "из REST", "client_ref": "x"}, format="json"
    )
    frame = await socket.receive_json_from(timeout=3)
    assert frame == {"type": "message.new", "chat_id": str(chat.pk), "message": response.json(), "client_ref": "x"}
    await socket.disconnect()


# --- read markers ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_read_moves_the_marker_forward_only_and_answers_the_unread_count(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    messages = [services.message_send(chat=chat, author=other_user, text=str(n)) for n in range(3)]
    response = api.post(f"/api/chats/{chat.pk}/read", {"message_id": messages[1].pk}, format="json")
    assert response.status_code == 200
    assert response.json() == {"last_read_message_id": messages[1].pk, "unread_count": 1}
    back = api.post(f"/api/chats/{chat.pk}/read", {"message_id": messages[0].pk}, format="json")
    assert back.json() == {"last_read_message_id": messages[1].pk, "unread_count": 1}
    listed = api.get("/api/chats").json()[0]
    assert (listed["unread_count"], listed["last_read_message_id"]) == (1, messages[1].pk)


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"message_id": "x"}, {"message_id": 0}, {"message_id": 2**64}])
def test_a_bad_read_body_is_a_400(api, make_chat, user, other_user, body):
    chat = make_chat(user, other_user)
    assert api.post(f"/api/chats/{chat.pk}/read", body, format="json").status_code == 400


@pytest.mark.django_db
def test_reading_a_message_of_another_chat_is_a_400(api, make_chat, user, other_user):
    chat, other = make_chat(user, other_user), make_chat(user, UserFactory())
    elsewhere = services.message_send(chat=other, author=user, text="там")
    response = api.post(f"/api/chats/{chat.pk}/read", {"message_id": elsewhere.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"message_id": [services.NOT_IN_CHAT]}


@pytest.mark.django_db
def test_read_in_a_chat_one_is_not_in_is_403(api, make_chat, other_user):
    foreign = make_chat(other_user, UserFactory())
    message = services.message_send(chat=foreign, author=other_user, text="x")
    assert api.post(f"/api/chats/{foreign.pk}/read", {"message_id": message.pk}, format="json").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_reads_leave_the_marker_at_the_greatest(make_chat):
    reader, writer = UserFactory.create_batch(2)
    chat = make_chat(writer, reader)
    ids = [services.message_send(chat=chat, author=writer, text=str(n)).pk for n in range(8)]
    for _ in range(3):
        ChatMember.objects.filter(chat=chat, user=reader).update(last_read_message_id=None)
        barrier = threading.Barrier(len(ids))

        def read(message_id, barrier=barrier):
            try:
                barrier.wait()
                services.chat_read(chat=chat, reader=reader, message_id=message_id)
            finally:
                close_old_connections()

        threads = [threading.Thread(target=read, args=(message_id,)) for message_id in reversed(ids)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert ChatMember.objects.get(chat=chat, user=reader).last_read_message_id == ids[-1]


@pytest.mark.django_db(transaction=True)
async def test_a_read_frame_reaches_the_readers_other_devices_and_the_other_members(make_chat):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    message = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="прочти")
    phone, laptop, sender = await open_user_socket(bob), await open_user_socket(bob), await open_user_socket(alice)
    await phone.send_json_to({"type": "read", "chat_id": str(chat.pk), "message_id": message.pk})
    expected = {"type": "read", "chat_id": str(chat.pk), "user_id": str(bob.pk), "message_id": message.pk}
    for socket in (phone, laptop, sender):
        assert await socket.receive_json_from(timeout=3) == expected
    # The same read again moves nothing and sends nothing.
    await phone.send_json_to({"type": "read", "chat_id": str(chat.pk), "message_id": message.pk})
    for socket in (phone, laptop, sender):
        assert await nothing_more(socket)
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_receipts_stay_with_the_reader_in_chats_over_the_receipts_limit(make_chat, settings):
    settings.READ_RECEIPTS_MAX_MEMBERS = 2
    alice, bob, carol = await database_sync_to_async(UserFactory.create_batch)(3)
    chat = await database_sync_to_async(make_chat)(alice, bob, carol)
    message = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="x")
    reader, other_device, sender = (
        await open_user_socket(bob),
        await open_user_socket(bob),
        await open_user_socket(alice),
    )
    await reader.send_json_to({"type": "read", "chat_id": str(chat.pk), "message_id": message.pk})
    assert (await other_device.receive_json_from(timeout=3))["type"] == "read"
    assert await nothing_more(sender)
    for socket in (reader, other_device, sender):
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ({"type": "read", "chat_id": "CHAT", "message_id": "1", "ref": "q"}, NO_MESSAGE_ID),
        ({"type": "read", "chat_id": "CHAT", "message_id": True, "ref": "q"}, NO_MESSAGE_ID),
        ({"type": "read", "chat_id": "CHAT", "message_id": 2**64, "ref": "q"}, NO_MESSAGE_ID),
        ({"type": "read", "chat_id": "CHAT", "message_id": 10**12, "ref": "q"}, services.NOT_IN_CHAT),
        (
            {"type": "read", "chat_id": "00000000-0000-0000-0000-000000000000", "message_id": 1, "ref": "q"},
            selectors.CHAT_NOT_FOUND,
        ),
    ],
)
async def test_a_bad_read_frame_is_an_error_frame(make_chat, frame, detail):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    socket = await open_user_socket(alice)
    frame = {key: str(chat.pk) if value == "CHAT" else value for key, value in frame.items()}
    await socket.send_json_to(frame)
    assert await socket.receive_json_from(timeout=3) == {"type": "error", "detail": detail, "ref": "q"}
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_read_frames_are_limited_to_five_per_second(make_chat):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    message = await database_sync_to_async(services.message_send)(chat=chat, author=bob, text="x")
    socket = await open_user_socket(alice)
    for n in range(6):
        await socket.send_json_to({"type": "read", "chat_id": str(chat.pk), "message_id": message.pk, "ref": str(n)})
    frames = [await socket.receive_json_from(timeout=3) for _ in range(2)]
    # The first read moved the marker (one `read` frame back); the sixth is over the limit.
    assert frames[0]["type"] == "read"
    assert frames[1] == {"type": "error", "detail": TOO_MANY_READS, "ref": "5"}
    await socket.disconnect()


# --- catch-up and order ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_after_answers_newer_messages_oldest_first_with_a_link(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    ids = [services.message_send(chat=chat, author=other_user, text=str(n)).pk for n in range(5)]
    response = api.get(f"/api/chats/{chat.pk}/messages/0?after={ids[0]}&limit=2")
    assert [m["id"] for m in response.json()] == ids[1:3]
    link = response.headers["Link"]
    following = api.get(link[link.index("/api/") : link.index(">")])
    assert [m["id"] for m in following.json()] == ids[3:5]
    assert api.get(f"/api/chats/{chat.pk}/messages/0?after={ids[-1]}").json() == []
    assert api.get(f"/api/chats/{chat.pk}/messages/0?after=-1").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_commit_ids_in_order_so_after_never_skips(make_chat):
    # While 6 senders store messages, a reader polls ?after= from the last id it saw: had a
    # greater id committed before a smaller one, the smaller would be skipped for good.
    members = UserFactory.create_batch(6)
    chat = make_chat(*members)
    done = threading.Event()
    seen: list[int] = []

    def send(author):
        try:
            for n in range(15):
                services.message_send(chat=chat, author=author, text=str(n))
        finally:
            close_old_connections()

    def read():
        try:
            last = 0
            while True:
                finished = done.is_set()
                page = selectors.chat_messages_page(chat=chat, limit=100, after=last).items
                seen.extend(message.pk for message in page)
                last = page[-1].pk if page else last
                if finished and not page:
                    return
        finally:
            close_old_connections()

    reader = threading.Thread(target=read)
    senders = [threading.Thread(target=send, args=(member,)) for member in members]
    reader.start()
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    done.set()
    reader.join()
    assert sorted(seen) == seen
    assert seen == list(Message.objects.filter(chat=chat).order_by("id").values_list("id", flat=True))
    assert len(seen) == 90


# --- typing ---------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_typing_reaches_the_other_members_once_per_two_seconds_and_never_the_typer(make_chat):
    alice, bob, carol = await database_sync_to_async(UserFactory.create_batch)(3)
    chat = await database_sync_to_async(make_chat)(alice, bob, carol)
    typer, typer_tab = await open_user_socket(alice), await open_user_socket(alice)
    others = [await open_user_socket(bob), await open_user_socket(carol)]
    for _ in range(3):
        await typer.send_json_to({"type": "typing", "chat_id": str(chat.pk)})
    expected = {"type": "typing", "chat_id": str(chat.pk), "user_id": str(alice.pk), "expires_in_ms": 5000}
    for socket in others:
        assert await socket.receive_json_from(timeout=3) == expected
        assert await nothing_more(socket)
    assert await nothing_more(typer) and await nothing_more(typer_tab)
    assert await database_sync_to_async(Message.objects.count)() == 0
    for socket in (typer, typer_tab, *others):
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("chat_id", "detail"),
    [
        (None, "NO_CHAT_ID"),
        ("nope", "NOT_FOUND"),
        ("00000000-0000-0000-0000-000000000000", "NOT_FOUND"),
        ("FOREIGN", "NOT_MEMBER"),
    ],
)
async def test_typing_in_a_chat_one_is_not_in_is_an_error_frame(make_chat, chat_id, detail):
    from chats.user_consumer import NO_CHAT_ID

    alice, bob, carol = await database_sync_to_async(UserFactory.create_batch)(3)
    foreign = await database_sync_to_async(make_chat)(bob, carol)
    listener = await open_user_socket(bob)
    socket = await open_user_socket(alice)
    frame = {"type": "typing", "ref": "t"}
    if chat_id is not None:
        frame["chat_id"] = str(foreign.pk) if chat_id == "FOREIGN" else chat_id
    await socket.send_json_to(frame)
    details = {"NO_CHAT_ID": NO_CHAT_ID, "NOT_FOUND": selectors.CHAT_NOT_FOUND, "NOT_MEMBER": selectors.NOT_A_MEMBER}
    assert await socket.receive_json_from(timeout=3) == {"type": "error", "detail": details[detail], "ref": "t"}
    assert await nothing_more(listener)
    await socket.disconnect()
    await listener.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_reader_who_stops_sharing_receipts_is_heard_only_by_their_own_devices(make_chat, client_for):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    first = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="раз")
    second = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="два")
    # The sockets open first: the setting changes afterwards, over REST, and still counts.
    phone, laptop, sender = await open_user_socket(bob), await open_user_socket(bob), await open_user_socket(alice)
    bob_api = await database_sync_to_async(client_for)(bob)
    changed = await database_sync_to_async(bob_api.patch)(
        "/api/auth/settings", {"share_read_receipts": False}, format="json"
    )
    assert changed.status_code == 200

    await phone.send_json_to({"type": "read", "chat_id": str(chat.pk), "message_id": first.pk})
    expected = {"type": "read", "chat_id": str(chat.pk), "user_id": str(bob.pk), "message_id": first.pk}
    assert await laptop.receive_json_from(timeout=3) == expected
    assert await phone.receive_json_from(timeout=3) == expected
    # Over REST too; the reader's own unread count still follows the marker.
    answer = await database_sync_to_async(bob_api.post)(
        f"/api/chats/{chat.pk}/read", {"message_id": second.pk}, format="json"
    )
    assert answer.json() == {"last_read_message_id": second.pk, "unread_count": 0}
    assert (await laptop.receive_json_from(timeout=3))["message_id"] == second.pk
    assert await nothing_more(sender)
    for socket in (phone, laptop, sender):
        await socket.disconnect()
