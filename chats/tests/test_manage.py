"""Chat management over REST (EXTENSIONS §2): PATCH a chat, add members, leave or remove, and
photos in messages."""

import io
import threading
import uuid

import pytest
import requests
from django.core.files.storage import default_storage
from django.db import close_old_connections
from PIL import Image

from accounts.tests.factories import UserFactory
from chats import admission, selectors, services
from chats.models import Chat, ChatMember, Message
from posts.tests.conftest import exif_jpeg, upload
from social.images import NOT_A_FILE
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db

CHAT_KEYS = {
    *("id", "title", "avatar", "users", "owner_id", "is_direct", "members_count", "created_at"),
    *("last_message", "unread_count", "last_read_message_id"),
}
NOT_FOUND = 404
UNREADABLE_FAKE = "Файл «fake.jpg»: не удалось прочитать изображение."


@pytest.fixture
def group(make_chat, user, other_user):
    """(chat, owner=user, member=other_user, third): a group chat made by `user`."""
    third = UserFactory()
    return make_chat(user, other_user, third, title="группа"), user, other_user, third


def stored_name(url: str) -> str:
    """The storage name inside a stored file's URL (S3 in tests: /<bucket>/<name>?signature)."""
    path = url.split("?")[0]
    return path[path.index("/chat-") + 1 :]


# --- PATCH /api/chats/<id> ----------------------------------------------------------------------------
def test_the_owner_renames_the_chat_and_gets_the_chat_object(group, client_for):
    chat, owner, *_ = group
    response = client_for(owner).patch(f"/api/chats/{chat.pk}", {"title": "новое имя"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == CHAT_KEYS
    assert body["title"] == "новое имя"
    assert body["owner_id"] == str(owner.pk)
    assert body["members_count"] == 3
    Chat.objects.get(pk=chat.pk, title="новое имя")


def test_the_owner_sets_an_avatar_stored_as_a_square_of_at_most_256(
    group, client_for, django_capture_on_commit_callbacks
):
    chat, owner, *_ = group
    client = client_for(owner)
    response = client.patch(
        f"/api/chats/{chat.pk}", {"avatar": image_upload("a.png", "PNG", size=(900, 500))}, format="multipart"
    )
    assert response.status_code == 200, response.content
    first = response.json()["avatar"]
    assert first.startswith("http")
    stored = Image.open(io.BytesIO(requests.get(first, timeout=10).content))
    assert stored.size == (256, 256)
    # A new avatar replaces the old one, whose file is deleted once the change has committed.
    with django_capture_on_commit_callbacks(execute=True):
        second = client.patch(
            f"/api/chats/{chat.pk}",
            {"avatar": image_upload("b.jpg", size=(100, 140)), "title": "с фото"},
            format="multipart",
        )
    assert second.status_code == 200
    assert second.json()["title"] == "с фото"
    assert Image.open(io.BytesIO(requests.get(second.json()["avatar"], timeout=10).content)).size == (100, 100)
    assert not default_storage.exists(stored_name(first))
    assert default_storage.exists(stored_name(second.json()["avatar"]))


def test_only_the_owner_may_change_a_chat(group, client_for):
    chat, _, member, _ = group
    stranger = UserFactory()
    assert client_for(member).patch(f"/api/chats/{chat.pk}", {"title": "x"}, format="json").status_code == 403
    refused = client_for(stranger).patch(f"/api/chats/{chat.pk}", {"title": "x"}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": selectors.NOT_A_MEMBER}
    unknown = client_for(member).patch(f"/api/chats/{uuid.uuid4()}", {"title": "x"}, format="json")
    assert unknown.status_code == NOT_FOUND
    assert Chat.objects.get(pk=chat.pk).title == "группа"


def test_a_direct_chat_cannot_be_changed(make_chat, user, other_user, client_for):
    direct = make_chat(user, other_user)
    response = client_for(user).patch(f"/api/chats/{direct.pk}", {"title": "мы"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": services.DIRECT_CHAT}


@pytest.mark.parametrize(
    ("body", "fmt", "field"),
    [
        ({}, "json", "detail"),
        ({"title": ""}, "json", "title"),
        ({"title": "   "}, "json", "title"),
        ({"title": "x" * 256}, "json", "title"),
        ({"avatar": upload("a.jpg", b"not an image", "image/jpeg")}, "multipart", "avatar"),
    ],
)
def test_a_bad_update_is_400_and_changes_nothing(group, client_for, body, fmt, field):
    chat, owner, *_ = group
    response = client_for(owner).patch(f"/api/chats/{chat.pk}", body, format=fmt)
    assert response.status_code == 400
    assert field in response.json()
    assert Chat.objects.get(pk=chat.pk).title == "группа"


def test_an_update_needs_authentication(group, anon_client):
    chat, *_ = group
    assert anon_client.patch(f"/api/chats/{chat.pk}", {"title": "x"}, format="json").status_code == 401


# --- POST /api/chats/<id>/members -----------------------------------------------------------------
def test_the_owner_adds_members_whose_marker_starts_at_the_last_message(group, client_for):
    chat, owner, member, _ = group
    last = services.message_send(chat=chat, author=member, text="до тебя")
    newcomer, second = UserFactory(), UserFactory()
    response = client_for(owner).post(
        f"/api/chats/{chat.pk}/members", {"users": [str(newcomer.pk), str(member.pk), str(second.pk)]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == CHAT_KEYS
    assert body["members_count"] == 5
    assert [u["id"] for u in body["users"]][-2:] == [str(newcomer.pk), str(second.pk)]
    # The newcomer has read everything there was, and the whole history is theirs to read.
    listed = client_for(newcomer).get("/api/chats").json()
    assert listed[0]["id"] == str(chat.pk)
    assert listed[0]["unread_count"] == 0 and listed[0]["last_read_message_id"] == last.pk
    history = client_for(newcomer).get(f"/api/chats/{chat.pk}/messages/0").json()
    assert [m["id"] for m in history] == [last.pk]


def test_adding_only_present_members_changes_nothing(group, client_for):
    chat, owner, member, _ = group
    response = client_for(owner).post(f"/api/chats/{chat.pk}/members", {"users": [str(member.pk)]}, format="json")
    assert response.status_code == 200
    assert response.json()["members_count"] == 3


def test_unknown_or_inactive_users_are_400_and_nobody_is_added(group, client_for):
    chat, owner, *_ = group
    inactive, fine = UserFactory(is_active=False), UserFactory()
    for users in ([str(uuid.uuid4()), str(fine.pk)], [str(inactive.pk), str(fine.pk)]):
        response = client_for(owner).post(f"/api/chats/{chat.pk}/members", {"users": users}, format="json")
        assert response.status_code == 400
        assert response.json()["users"][0].startswith(admission.UNKNOWN_USERS.split("{")[0])
    assert ChatMember.objects.filter(chat=chat).count() == 3


@pytest.mark.parametrize("users", [[], ["not-a-uuid"], "x", None])
def test_a_malformed_member_list_is_400(group, client_for, users):
    chat, owner, *_ = group
    response = client_for(owner).post(f"/api/chats/{chat.pk}/members", {"users": users}, format="json")
    assert response.status_code == 400
    assert "users" in response.json()


def test_only_the_owner_adds_members(group, client_for):
    chat, _, member, _ = group
    newcomer, stranger = UserFactory(), UserFactory()
    body = {"users": [str(newcomer.pk)]}
    refused = client_for(member).post(f"/api/chats/{chat.pk}/members", body, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": services.ONLY_THE_OWNER}
    assert client_for(stranger).post(f"/api/chats/{chat.pk}/members", body, format="json").status_code == 403
    assert client_for(member).post(f"/api/chats/{uuid.uuid4()}/members", body, format="json").status_code == 404
    assert not ChatMember.objects.filter(chat=chat, user=newcomer).exists()


def test_members_cannot_be_added_to_a_direct_chat(make_chat, user, other_user, client_for):
    direct = make_chat(user, other_user)
    response = client_for(user).post(
        f"/api/chats/{direct.pk}/members", {"users": [str(UserFactory().pk)]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": services.DIRECT_CHAT}


def test_a_chat_holds_at_most_max_members(group, client_for, monkeypatch):
    chat, owner, *_ = group
    assert services.MAX_MEMBERS == 500  # the figure of EXTENSIONS §2; a smaller one keeps this test quick
    monkeypatch.setattr(services, "MAX_MEMBERS", 4)
    two = [str(u.pk) for u in UserFactory.create_batch(2)]
    response = client_for(owner).post(f"/api/chats/{chat.pk}/members", {"users": two}, format="json")
    assert response.status_code == 400
    assert response.json() == {"users": [services.TOO_MANY_MEMBERS]}
    ok = client_for(owner).post(f"/api/chats/{chat.pk}/members", {"users": two[:1]}, format="json")
    assert ok.status_code == 200 and ok.json()["members_count"] == 4


# --- DELETE /api/chats/<id>/members/<user_id> -------------------------------------------------------
def test_a_member_leaves(group, client_for):
    chat, owner, member, _ = group
    response = client_for(member).delete(f"/api/chats/{chat.pk}/members/{member.pk}")
    assert response.status_code == 204
    assert not ChatMember.objects.filter(chat=chat, user=member).exists()
    assert client_for(member).get(f"/api/chats/{chat.pk}").status_code == 403
    assert Chat.objects.get(pk=chat.pk).owner_id == owner.pk


def test_the_owner_removes_a_member_and_no_one_else_may(group, client_for):
    chat, owner, member, third = group
    assert client_for(member).delete(f"/api/chats/{chat.pk}/members/{third.pk}").status_code == 403
    assert client_for(UserFactory()).delete(f"/api/chats/{chat.pk}/members/{third.pk}").status_code == 403
    assert client_for(owner).delete(f"/api/chats/{uuid.uuid4()}/members/{third.pk}").status_code == 404
    assert client_for(owner).delete(f"/api/chats/{chat.pk}/members/{UserFactory().pk}").status_code == 404
    assert client_for(owner).delete(f"/api/chats/{chat.pk}/members/not-a-uuid").status_code == 404
    assert ChatMember.objects.filter(chat=chat).count() == 3
    assert client_for(owner).delete(f"/api/chats/{chat.pk}/members/{third.pk}/").status_code == 204
    assert list(ChatMember.objects.filter(chat=chat).values_list("user_id", flat=True).order_by("id")) == [
        owner.pk,
        member.pk,
    ]


def test_the_owner_leaving_passes_ownership_to_the_longest_standing_member(group, client_for):
    chat, owner, member, third = group
    later = UserFactory()
    services.chat_members_add(chat=chat, actor=owner, user_ids=[later.pk])
    assert client_for(owner).delete(f"/api/chats/{chat.pk}/members/{owner.pk}").status_code == 204
    assert Chat.objects.get(pk=chat.pk).owner_id == member.pk
    # The new owner may now do what owners do.
    assert client_for(member).patch(f"/api/chats/{chat.pk}", {"title": "мой"}, format="json").status_code == 200


def test_the_last_member_leaving_deletes_the_chat_and_its_files(
    make_chat, user, other_user, client_for, django_capture_on_commit_callbacks
):
    chat = make_chat(user, other_user, title="на двоих")
    client = client_for(user)
    avatar = client.patch(f"/api/chats/{chat.pk}", {"avatar": image_upload()}, format="multipart").json()["avatar"]
    sent = client.post(f"/api/chats/{chat.pk}/messages", {"images": [image_upload()]}, format="multipart").json()
    names = [stored_name(avatar), stored_name(sent["images"][0])]
    assert all(default_storage.exists(name) for name in names)
    assert client_for(other_user).delete(f"/api/chats/{chat.pk}/members/{other_user.pk}").status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/chats/{chat.pk}/members/{user.pk}").status_code == 204
    assert not Chat.objects.filter(pk=chat.pk).exists()
    assert not Message.objects.filter(chat_id=chat.pk).exists()
    assert not any(default_storage.exists(name) for name in names)


def test_leaving_a_direct_chat_keeps_it_for_the_other(make_chat, user, other_user, client_for):
    direct = make_chat(user, other_user)
    assert client_for(user).delete(f"/api/chats/{direct.pk}/members/{user.pk}").status_code == 204
    # The other keeps it; the pair's next untitled chat is a fresh one.
    assert client_for(other_user).get(f"/api/chats/{direct.pk}").json()["is_direct"] is False
    fresh, created = services.chat_create(creator=user, user_ids=[other_user.pk])
    assert created and fresh.pk != direct.pk


def leave_at_once(chat, users) -> list[Exception]:
    """Each of `users` leaves `chat` on a thread of their own, all released at one moment."""
    barrier = threading.Barrier(len(users))
    errors = []

    def leave(user):
        try:
            barrier.wait(timeout=10)
            services.chat_member_remove(chat=chat, user=user)
        except Exception as error:  # noqa: BLE001 - reported by the caller's assertion
            errors.append(error)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=leave, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@pytest.mark.django_db(transaction=True)
def test_the_owner_and_the_next_in_line_leaving_at_once_leave_an_owner_who_is_a_member():
    # Without the chat's row lock both leaves read the members before either deletes: the
    # owner's passes ownership to the next in line, who is leaving at the same moment.
    for _ in range(5):
        owner, second, third = UserFactory.create_batch(3)
        chat, _ = services.chat_create(creator=owner, user_ids=[second.pk, third.pk], title="гонка")
        assert not leave_at_once(chat, [owner, second])
        chat.refresh_from_db()
        assert chat.owner_id == third.pk
        assert list(ChatMember.objects.filter(chat=chat).values_list("user_id", flat=True)) == [third.pk]


# --- Photos in messages -----------------------------------------------------------------------------
def send(client, chat, **data):
    return client.post(f"/api/chats/{chat.pk}/messages", data, format="multipart")


def test_a_message_with_photos_answers_their_urls_in_rest_and_history(group, client_for):
    chat, owner, member, _ = group
    response = send(
        client_for(member),
        chat,
        message="смотри",
        images=[upload("phone.jpg", exif_jpeg((60, 40)), "image/jpeg"), image_upload("b.png", "PNG")],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["message"] == "смотри"
    assert len(body["images"]) == 2 and all(url.startswith("http") for url in body["images"])
    stored = Image.open(io.BytesIO(requests.get(body["images"][0], timeout=10).content))
    assert stored.size == (40, 60)  # upright
    assert not stored.getexif()  # no EXIF, no GPS
    history = client_for(owner).get(f"/api/chats/{chat.pk}/messages/0").json()
    assert [stored_name(url) for url in history[0]["images"]] == [stored_name(url) for url in body["images"]]
    assert client_for(owner).get("/api/chats").json()[0]["last_message"]["images"]


def test_photos_alone_make_a_message_but_nothing_at_all_does_not(group, client_for):
    chat, owner, *_ = group
    alone = send(client_for(owner), chat, images=[image_upload()])
    assert alone.status_code == 201
    assert alone.json()["message"] == ""
    empty = send(client_for(owner), chat, message="  ")
    assert empty.status_code == 400
    assert empty.json() == {"message": [services.EMPTY_MESSAGE]}
    assert Message.objects.filter(chat=chat).count() == 1


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ([image_upload(f"{n}.jpg") for n in range(5)], [services.TOO_MANY_IMAGES]),
        (
            [upload("fake.jpg", b"GIF89a not really", "image/gif")],
            ["Файл «fake.jpg»: не удалось прочитать изображение."],
        ),
        (["just text"], [NOT_A_FILE]),
    ],
)
def test_bad_photos_are_400_and_store_nothing(group, client_for, images, expected):
    chat, owner, *_ = group
    response = send(client_for(owner), chat, message="фото", images=images)
    assert response.status_code == 400
    assert response.json() == {"images": expected}
    assert not Message.objects.filter(chat=chat).exists()


def test_a_non_member_cannot_send_photos(group, client_for):
    chat, *_ = group
    assert send(client_for(UserFactory()), chat, images=[image_upload()]).status_code == 403
    assert not Message.objects.exists()


def test_deleting_a_message_deletes_its_photos(group, client_for, django_capture_on_commit_callbacks):
    chat, owner, member, _ = group
    sent = send(client_for(member), chat, images=[image_upload(), image_upload("b.png", "PNG")]).json()
    names = [stored_name(url) for url in sent["images"]]
    assert all(default_storage.exists(name) for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(owner).delete(f"/api/messages/{sent['id']}").status_code == 204
    assert not any(default_storage.exists(name) for name in names)


# --- GET /api/users/<id>/chats ------------------------------------------------------------------------
def test_user_chats_lists_every_member_beyond_the_embedded_limit(make_chat, user, client_for, settings):
    settings.CHAT_MEMBERS_EMBEDDED = 2
    others = UserFactory.create_batch(3)
    chat = make_chat(user, *others, title="четверо")
    contract = client_for(user).get(f"/api/users/{user.pk}/chats").json()
    assert len(contract[0]["users"]) == 4 and contract[0]["members_count"] == 4
    listed = client_for(user).get("/api/chats").json()
    assert listed[0]["id"] == str(chat.pk) and len(listed[0]["users"]) == 2


def test_deleting_an_account_deletes_the_photos_of_its_messages(group, client_for, django_capture_on_commit_callbacks):
    from accounts.services import user_delete

    chat, owner, member, _ = group
    sent = send(client_for(member), chat, images=[image_upload()]).json()
    kept = send(client_for(owner), chat, images=[image_upload()]).json()
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=member)
    assert not default_storage.exists(stored_name(sent["images"][0]))
    assert default_storage.exists(stored_name(kept["images"][0]))


def test_sockets_make_the_local_media_paths_of_a_frame_absolute():
    # Events are built without a request: on the embedded storage their media URLs are paths.
    from social.fanout import media_absolute

    frame = {
        "type": "chat.created",
        "chat": {
            "avatar": "/media/chat-avatars/a.png",
            "title": "/media/not-a-url-but-a-title",
            "users": [{"avatar": None}, {"avatar": "https://cdn.example/u.png"}],
            "last_message": {"message": "/media/x", "images": ["/media/chat-images/1.jpg"], "user": {"avatar": "/m"}},
        },
    }
    done = media_absolute(frame, "http://host")
    chat = done["chat"]
    assert chat["avatar"] == "http://host/media/chat-avatars/a.png"
    assert chat["title"] == "/media/not-a-url-but-a-title"
    assert chat["users"] == [{"avatar": None}, {"avatar": "https://cdn.example/u.png"}]
    assert chat["last_message"]["images"] == ["http://host/media/chat-images/1.jpg"]
    assert chat["last_message"]["user"]["avatar"] == "http://host/m"
    assert chat["last_message"]["message"] == "/media/x"
    # Nothing relative: the very same frame (the fan-out encodes it once for every host).
    plain = {"type": "typing", "chat_id": "c", "user_id": "u"}
    assert media_absolute(plain, "http://host") is plain
