"""PATCH/DELETE /api/messages/<id> and replies (EXTENSIONS §1–2), with their socket frames."""

import pytest
from channels.db import database_sync_to_async

from accounts.tests.factories import UserFactory
from chats import services
from chats.models import ChatMember, Message
from chats.tests.test_user_socket import open_user_socket
from chats.tests.test_websocket import nothing_more
from chats.user_consumer import BAD_REPLY_TO


@pytest.fixture
def group(db, make_chat, user, other_user):
    """(chat, owner=user, member=other_user, third)."""
    third = UserFactory()
    return make_chat(user, other_user, third, title="группа"), user, other_user, third


# --- edits ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_author_edits_a_message_and_it_carries_edited_at(group, client_for):
    chat, owner, member, _ = group
    message = services.message_send(chat=chat, author=member, text="опечатка")
    response = client_for(member).patch(f"/api/messages/{message.pk}", {"message": "исправлено"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "исправлено"
    assert body["edited_at"] is not None
    history = client_for(owner).get(f"/api/chats/{chat.pk}/messages/0").json()
    assert history[0]["message"] == "исправлено" and history[0]["edited_at"] == body["edited_at"]


@pytest.mark.django_db
def test_only_the_author_edits(group, client_for):
    chat, owner, member, _ = group
    message = services.message_send(chat=chat, author=member, text="моё")
    assert (
        client_for(owner).patch(f"/api/messages/{message.pk}", {"message": "чужое"}, format="json").status_code == 403
    )
    outsider = client_for(UserFactory())
    assert outsider.patch(f"/api/messages/{message.pk}", {"message": "x"}, format="json").status_code == 403
    assert client_for(member).patch("/api/messages/999999999", {"message": "x"}, format="json").status_code == 404
    assert Message.objects.get().text == "моё"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"message": ""}, {"message": "  "}, {"message": "x" * 4001}])
def test_a_bad_edit_is_a_400(group, client_for, body):
    chat, _, member, _ = group
    message = services.message_send(chat=chat, author=member, text="моё")
    assert client_for(member).patch(f"/api/messages/{message.pk}", body, format="json").status_code == 400
    assert Message.objects.get().edited_at is None


@pytest.mark.django_db(transaction=True)
async def test_an_edit_reaches_every_members_user_socket(make_chat):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    message = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="до")
    socket = await open_user_socket(bob)
    edited = await database_sync_to_async(services.message_edit)(message=message, editor=alice, text="после")
    frame = await socket.receive_json_from(timeout=3)
    assert frame["type"] == "message.edited"
    assert frame["chat_id"] == str(chat.pk)
    assert frame["message"]["message"] == "после"
    assert frame["message"]["edited_at"] == edited.edited_at.isoformat().replace("+00:00", "Z")
    await socket.disconnect()


# --- deletes --------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_author_the_owner_and_staff_delete_others_do_not(group, client_for):
    chat, owner, member, third = group
    by_author, by_owner, by_staff = (services.message_send(chat=chat, author=member, text=str(n)) for n in range(3))
    assert client_for(third).delete(f"/api/messages/{by_author.pk}").status_code == 403
    assert client_for(member).delete(f"/api/messages/{by_author.pk}").status_code == 204
    assert client_for(owner).delete(f"/api/messages/{by_owner.pk}").status_code == 204
    assert client_for(UserFactory(is_staff=True)).delete(f"/api/messages/{by_staff.pk}").status_code == 204
    assert client_for(member).delete(f"/api/messages/{by_staff.pk}").status_code == 404
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_deleting_never_moves_a_read_marker(group, client_for):
    chat, owner, member, _ = group
    first = services.message_send(chat=chat, author=member, text="1")
    last = services.message_send(chat=chat, author=member, text="2")
    services.chat_read(chat=chat, reader=owner, message_id=last.pk)
    assert client_for(member).delete(f"/api/messages/{last.pk}").status_code == 204
    assert ChatMember.objects.get(chat=chat, user=owner).last_read_message_id == last.pk
    assert client_for(owner).get("/api/chats").json()[0]["last_message"]["id"] == first.pk


@pytest.mark.django_db(transaction=True)
async def test_a_delete_over_rest_reaches_both_kinds_of_socket(make_chat, client_for):
    from chats.tests.support import open_socket

    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    message = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="x")
    user_socket, chat_socket = await open_user_socket(bob), await open_socket(chat, bob)
    client = await database_sync_to_async(client_for)(alice)
    assert (await database_sync_to_async(client.delete)(f"/api/messages/{message.pk}")).status_code == 204
    assert await user_socket.receive_json_from(timeout=3) == {
        "type": "message.deleted",
        "chat_id": str(chat.pk),
        "message_id": message.pk,
    }
    assert await chat_socket.receive_json_from(timeout=3) == {"type": "message.deleted", "message_id": message.pk}
    await user_socket.disconnect()
    await chat_socket.disconnect()


# --- replies --------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_reply_quotes_the_first_200_characters_and_a_deleted_quote_keeps_its_id(group, client_for):
    chat, owner, member, _ = group
    quoted = services.message_send(chat=chat, author=member, text="ц" * 300)
    response = client_for(owner).post(
        f"/api/chats/{chat.pk}/messages", {"message": "ответ", "reply_to": quoted.pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["reply_to"] == {
        "id": quoted.pk,
        "message": "ц" * 200,
        "user": {"id": str(member.pk), "username": member.username},
    }
    quoted_id = quoted.pk
    services.message_delete(message=quoted)
    history = client_for(owner).get(f"/api/chats/{chat.pk}/messages/0").json()
    assert history[0]["reply_to"] == {"id": quoted_id, "message": None, "user": None}
    assert client_for(owner).get("/api/chats").json()[0]["last_message"]["reply_to"]["message"] is None


@pytest.mark.django_db
def test_replying_to_a_message_of_another_chat_is_a_400(group, client_for, make_chat):
    chat, owner, member, _ = group
    elsewhere = services.message_send(chat=make_chat(owner, UserFactory()), author=owner, text="там")
    response = client_for(owner).post(
        f"/api/chats/{chat.pk}/messages", {"message": "ответ", "reply_to": elsewhere.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"reply_to": [services.NOT_IN_CHAT]}


@pytest.mark.django_db
def test_history_with_replies_costs_the_same_queries(group, client_for, django_assert_num_queries):
    chat, owner, member, _ = group
    previous = None
    for n in range(10):
        previous = services.message_send_once(
            chat=chat, author=member, text=str(n), reply_to=previous.pk if previous else None
        )[0]
    client = client_for(owner)
    with django_assert_num_queries(2):  # the chat and membership with the user's check, the page
        assert len(client.get(f"/api/chats/{chat.pk}/messages/0").json()) == 10


@pytest.mark.django_db(transaction=True)
async def test_a_reply_over_the_user_socket(make_chat):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat = await database_sync_to_async(make_chat)(alice, bob)
    quoted = await database_sync_to_async(services.message_send)(chat=chat, author=bob, text="вопрос")
    socket = await open_user_socket(alice)
    await socket.send_json_to(
        {"type": "message.send", "chat_id": str(chat.pk), "message": "ответ", "reply_to": quoted.pk}
    )
    frame = await socket.receive_json_from(timeout=3)
    assert frame["message"]["reply_to"]["id"] == quoted.pk
    for bad, detail in (("1", BAD_REPLY_TO), (10**12, services.NOT_IN_CHAT)):
        await socket.send_json_to(
            {"type": "message.send", "chat_id": str(chat.pk), "message": "x", "reply_to": bad, "ref": "r"}
        )
        assert await socket.receive_json_from(timeout=3) == {"type": "error", "detail": detail, "ref": "r"}
    assert await nothing_more(socket)
    await socket.disconnect()
