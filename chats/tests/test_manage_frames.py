"""The frames of chat management (EXTENSIONS §1): `chat.created`, `chat.updated`,
`chat.removed` on user sockets, the 4403 close of a removed member's chat sockets, photos in
message frames, and deletions from the admin reaching both kinds of socket."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from accounts.tests.factories import UserFactory
from chats import services
from chats.models import Message
from chats.tests.support import open_socket
from chats.tests.test_user_socket import open_user_socket
from chats.tests.test_websocket import close_code, nothing_more
from testsupport.images import image_upload

pytestmark = [pytest.mark.django_db(transaction=True)]

EVENT_CHAT_KEYS = {
    *("id", "title", "avatar", "users", "owner_id", "is_direct", "members_count", "created_at"),
    "last_message",
}


async def frame_of(socket, kind: str, timeout=10) -> dict:
    """The next frame of the socket, which must be of `kind`; `notification` frames (the
    `chat.added` notification of being put in a chat, §4) come on their own and are skipped."""
    frame = await socket.receive_json_from(timeout=timeout)
    while frame["type"] == "notification":
        frame = await socket.receive_json_from(timeout=timeout)
    assert frame["type"] == kind, frame
    return frame


@pytest.fixture
def people(db):
    return UserFactory.create_batch(4)


async def test_a_new_chat_reaches_every_member_as_chat_created(people):
    alice, bob, carol, _ = people
    sockets = [await open_user_socket(user) for user in (alice, bob, carol)]
    chat, _ = await database_sync_to_async(services.chat_create)(
        creator=alice, user_ids=[bob.pk, carol.pk], title="новый"
    )
    for socket in sockets:
        frame = await frame_of(socket, "chat.created")
        chat_object = frame["chat"]
        assert set(chat_object) == EVENT_CHAT_KEYS | {"unread_count", "last_read_message_id"}
        assert chat_object["id"] == str(chat.pk) and chat_object["title"] == "новый"
        assert chat_object["owner_id"] == str(alice.pk) and chat_object["members_count"] == 3
        assert chat_object["unread_count"] == 0 and chat_object["last_read_message_id"] is None
        assert [user["email"] for user in chat_object["users"]] == ["", "", ""]
        await socket.disconnect()


async def test_added_members_get_chat_created_and_the_others_chat_updated(people):
    alice, bob, carol, dave = people
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="двое")
    last = await database_sync_to_async(services.message_send)(chat=chat, author=bob, text="до вас")
    old, new, bystander = await open_user_socket(bob), await open_user_socket(carol), await open_user_socket(dave)
    await database_sync_to_async(services.chat_members_add)(chat=chat, actor=alice, user_ids=[carol.pk])
    created = (await frame_of(new, "chat.created"))["chat"]
    assert created["members_count"] == 3
    # A newcomer's marker stands at the chat's last message: true for every newcomer alike.
    assert created["unread_count"] == 0 and created["last_read_message_id"] == last.pk
    assert created["last_message"]["id"] == last.pk
    updated = (await frame_of(old, "chat.updated"))["chat"]
    # One payload for every member: nothing in it differs by viewer.
    assert set(updated) == EVENT_CHAT_KEYS
    assert [user["id"] for user in updated["users"]] == [str(alice.pk), str(bob.pk), str(carol.pk)]
    assert await nothing_more(bystander)
    for socket in (old, new, bystander):
        await socket.disconnect()


async def test_a_rename_reaches_the_members_as_chat_updated(people, client_for):
    alice, bob, _, dave = people
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="было")
    member, bystander = await open_user_socket(bob), await open_user_socket(dave)
    client = await database_sync_to_async(client_for)(alice)
    response = await database_sync_to_async(client.patch)(f"/api/chats/{chat.pk}", {"title": "стало"}, format="json")
    assert response.status_code == 200
    assert (await frame_of(member, "chat.updated"))["chat"]["title"] == "стало"
    assert await nothing_more(bystander)
    await member.disconnect()
    await bystander.disconnect()


async def test_a_removed_member_gets_chat_removed_and_their_chat_socket_closes_4403(people, client_for):
    alice, bob, carol, _ = people
    chat, _ = await database_sync_to_async(services.chat_create)(
        creator=alice, user_ids=[bob.pk, carol.pk], title="трое"
    )
    removed_user_socket, removed_chat_socket = await open_user_socket(bob), await open_socket(chat, bob)
    staying = await open_user_socket(carol)
    client = await database_sync_to_async(client_for)(alice)
    response = await database_sync_to_async(client.delete)(f"/api/chats/{chat.pk}/members/{bob.pk}")
    assert response.status_code == 204
    assert await frame_of(removed_user_socket, "chat.removed") == {"type": "chat.removed", "chat_id": str(chat.pk)}
    assert await close_code(removed_chat_socket) == 4403
    updated = (await frame_of(staying, "chat.updated"))["chat"]
    assert updated["members_count"] == 2
    # Nothing more of that chat reaches the one who left.
    await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="без боба")
    assert (await frame_of(staying, "message.new"))["message"]["message"] == "без боба"
    assert await nothing_more(removed_user_socket)
    await removed_user_socket.disconnect()
    await staying.disconnect()


async def test_leaving_closes_ones_own_chat_sockets_and_tells_ones_other_devices(people, client_for):
    alice, bob, *_ = people
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="уйду")
    other_device, chat_socket = await open_user_socket(bob), await open_socket(chat, bob)
    client = await database_sync_to_async(client_for)(bob)
    assert (await database_sync_to_async(client.delete)(f"/api/chats/{chat.pk}/members/{bob.pk}")).status_code == 204
    assert (await frame_of(other_device, "chat.removed"))["chat_id"] == str(chat.pk)
    assert await close_code(chat_socket) == 4403
    await other_device.disconnect()


async def test_photos_reach_both_kinds_of_socket(people, client_for):
    alice, bob, *_ = people
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="фото")
    user_socket, chat_socket = await open_user_socket(bob), await open_socket(chat, bob)
    client = await database_sync_to_async(client_for)(alice)
    response = await database_sync_to_async(client.post)(
        f"/api/chats/{chat.pk}/messages", {"message": "", "images": [image_upload()]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    images = response.json()["images"]
    assert len(images) == 1
    new = await frame_of(user_socket, "message.new")
    assert [url.split("?")[0] for url in new["message"]["images"]] == [url.split("?")[0] for url in images]
    contract = await chat_socket.receive_json_from(timeout=10)
    assert [url.split("?")[0] for url in contract["images"]] == [url.split("?")[0] for url in images]
    await user_socket.disconnect()
    await chat_socket.disconnect()


async def test_a_message_deleted_in_the_admin_reaches_both_kinds_of_socket(people):
    alice, bob, *_ = people
    chat, _ = await database_sync_to_async(services.chat_create)(creator=alice, user_ids=[bob.pk], title="админ")
    message = await database_sync_to_async(services.message_send)(chat=chat, author=alice, text="нарушение")
    user_socket, chat_socket = await open_user_socket(bob), await open_socket(chat, bob)
    staff = await database_sync_to_async(UserFactory)(is_staff=True, is_superuser=True)

    def delete_in_admin():
        browser = Client()
        browser.force_login(staff)
        return browser.post(f"/admin/chats/message/{message.pk}/delete/", {"post": "yes"})

    response = await database_sync_to_async(delete_in_admin)()
    assert response.status_code == 302
    assert not await database_sync_to_async(Message.objects.filter(pk=message.pk).exists)()
    assert await frame_of(user_socket, "message.deleted") == {
        "type": "message.deleted",
        "chat_id": str(chat.pk),
        "message_id": message.pk,
    }
    assert await chat_socket.receive_json_from(timeout=10) == {"type": "message.deleted", "message_id": message.pk}
    await user_socket.disconnect()
    await chat_socket.disconnect()
