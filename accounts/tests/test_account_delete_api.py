"""Deleting one's own account (POST /api/auth/account/delete, EXTENSIONS.md §6): the answer
frees the account at once; the background task removes the rows and the stored files through
user_delete (tests run tasks where they are enqueued)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD
from posts.models import Like, Post
from posts.services import like_toggle
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db(transaction=True)
DELETE = "/api/auth/account/delete"


def post_with_image(client, author) -> Post:
    body = {"author": str(author.pk), "description": "моё", "images": [image_upload("a.jpg")]}
    response = client.post("/api/auth/create", body, format="multipart")
    assert response.status_code == 201, response.content
    return Post.objects.get(author=author)


def test_deleting_the_account_removes_it_with_its_files_and_keeps_others_counters_right(
    client_for, user, other_user, bucket_keys
):
    api, other = client_for(user), client_for(other_user)
    own_post = post_with_image(api, user)
    files = {image.file.name for image in own_post.images.all()}
    assert files <= bucket_keys()
    others_post = Post.objects.create(author=other_user, description="чужой")
    like_toggle(post_id=others_post.pk, user=user)
    like_toggle(post_id=others_post.pk, user=other_user)
    assert Post.objects.get(pk=others_post.pk).likes_count == 2

    response = api.post(DELETE, {"password": PASSWORD}, format="json")

    assert response.status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Post.objects.filter(author_id=user.pk).exists()
    assert not files & bucket_keys()  # the stored files are really gone
    assert Post.objects.get(pk=others_post.pk).likes_count == 1
    assert Like.objects.filter(post=others_post).count() == 1
    assert api.get("/api/auth/current_user").status_code == 401
    login = APIClient().post("/api/auth/token", {"email": user.email, "password": PASSWORD}, format="json")
    assert login.status_code == 404
    # The email and the username can register again.
    again = APIClient().post(
        "/api/auth/register",
        {"username": user.username, "email": user.email, "password": "Snova-Zdes-2026"},
        format="json",
    )
    assert again.status_code == 201
    assert other.get("/api/auth/current_user").status_code == 200


@pytest.mark.parametrize("body", [{"password": "wrong-Password-1"}, {}, {"password": "x" * 129}])
def test_a_wrong_or_missing_password_deletes_nothing(client_for, user, body):
    api = client_for(user)
    post = Post.objects.create(author=user, description="остаётся")

    response = api.post(DELETE, body, format="json")

    assert response.status_code == 400
    assert "password" in response.json()
    assert User.objects.get(pk=user.pk).is_active
    assert Post.objects.filter(pk=post.pk).exists()
    assert api.get("/api/auth/current_user").status_code == 200


def test_deleting_needs_a_signed_in_user(anon_client, user):
    assert anon_client.post(DELETE, {"password": PASSWORD}, format="json").status_code == 401
    assert User.objects.filter(pk=user.pk).exists()


def test_the_account_is_gone_at_once_while_the_rest_waits_for_the_worker(client_for, user, settings):
    # The database backend with no worker running: only the answer's part has happened.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    from django_tasks_db.models import DBTaskResult

    api, other_session = client_for(user), client_for(user)
    post = Post.objects.create(author=user, description="ждёт воркера")

    response = api.post(DELETE, {"password": PASSWORD}, format="json")

    assert response.status_code == 204
    assert other_session.get("/api/auth/current_user").status_code == 401
    login = APIClient().post("/api/auth/token", {"email": user.email, "password": PASSWORD}, format="json")
    assert login.status_code == 404
    assert not User.objects.filter(email__iexact=user.email).exists()
    assert Post.objects.filter(pk=post.pk).exists()  # the task's work
    [queued] = DBTaskResult.objects.filter(task_path="accounts.tasks.account_purge")
    assert queued.args_kwargs["kwargs"] == {"user_id": str(user.pk)}
