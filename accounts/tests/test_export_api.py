"""`GET /api/auth/export` (EXTENSIONS.md §6): a streamed ZIP with data.json and the user's own
original images."""

import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage

from chats import services as chats_services
from friends.models import Friendship
from posts.models import Post
from posts.services import comment_create, like_toggle
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db
EXPORT = "/api/auth/export"


def archive_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="export.zip"'
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_export_holds_the_users_data_and_original_images(client_for, user, other_user):
    api = client_for(user)
    created = api.post(
        "/api/auth/create",
        {"author": str(user.pk), "description": "с фото", "images": [image_upload("a.jpg")]},
        format="multipart",
    )
    assert created.status_code == 201
    own = Post.objects.get(author=user)
    stored = own.images.get().file.name
    others = Post.objects.create(author=other_user, description="чужой")
    like_toggle(post_id=others.pk, user=user)
    comment = comment_create(post_id=others.pk, author=user, text="мой комментарий")
    comment_create(post_id=others.pk, author=other_user, text="чужой комментарий")
    Friendship.objects.create(user=user, friend=other_user)
    chat, _ = chats_services.chat_create(creator=user, user_ids=[other_user.pk], title="двое")
    chats_services.message_send(chat=chat, author=user, text="моё сообщение")
    chats_services.message_send(chat=chat, author=other_user, text="чужое сообщение")

    archive = archive_of(api.get(EXPORT))

    assert set(archive.namelist()) == {"data.json", f"images/{stored}"}
    with default_storage.open(stored, "rb") as original:
        assert archive.read(f"images/{stored}") == original.read()
    data = json.loads(archive.read("data.json"))
    assert data["profile"]["id"] == str(user.pk) and data["profile"]["email"] == user.email
    assert [(post["id"], post["description"], post["images"]) for post in data["posts"]] == [
        (str(own.pk), "с фото", [f"images/{stored}"])
    ]
    assert data["liked_post_ids"] == [str(others.pk)]
    assert [(item["id"], item["post_id"], item["text"]) for item in data["comments"]] == [
        (str(comment.pk), str(others.pk), "мой комментарий")
    ]
    assert [friend["id"] for friend in data["friends"]] == [str(other_user.pk)]
    [exported_chat] = data["chats"]
    assert exported_chat["id"] == str(chat.pk)
    assert [message["text"] for message in exported_chat["messages"]] == ["моё сообщение"]


def test_export_of_a_new_user_is_a_zip_with_empty_sections(client_for, user):
    data = json.loads(archive_of(client_for(user).get(EXPORT)).read("data.json"))
    assert data["posts"] == data["liked_post_ids"] == data["comments"] == data["friends"] == data["chats"] == []


def test_export_needs_a_signed_in_user(anon_client):
    assert anon_client.get(EXPORT).status_code == 401


def test_export_is_rate_limited_per_user(client_for, user, settings):
    from social.ratelimit import Rate

    settings.SOCIAL_RATE_LIMITS = {**settings.SOCIAL_RATE_LIMITS, "export": Rate(2, 3600)}
    api = client_for(user)
    statuses = [api.get(EXPORT).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_export_takes_no_other_method(client_for, user):
    assert client_for(user).post(EXPORT, {}, format="json").status_code == 405


def test_export_holds_the_photos_of_the_users_own_messages(client_for, user, other_user):
    chat, _ = chats_services.chat_create(creator=user, user_ids=[other_user.pk], title="фото")
    sent = client_for(user).post(
        f"/api/chats/{chat.pk}/messages",
        {"message": "моё", "images": [image_upload("m.png", "PNG")]},
        format="multipart",
    )
    assert sent.status_code == 201
    theirs = client_for(other_user).post(
        f"/api/chats/{chat.pk}/messages", {"images": [image_upload("t.png", "PNG")]}, format="multipart"
    )
    assert theirs.status_code == 201
    [stored] = chats_services.Message.objects.get(pk=sent.json()["id"]).images

    archive = archive_of(client_for(user).get(EXPORT))

    assert set(archive.namelist()) == {"data.json", f"images/{stored}"}
    with default_storage.open(stored, "rb") as original:
        assert archive.read(f"images/{stored}") == original.read()
    [exported_chat] = json.loads(archive.read("data.json"))["chats"]
    assert [(message["text"], message["images"]) for message in exported_chat["messages"]] == [
        ("моё", [f"images/{stored}"])
    ]
