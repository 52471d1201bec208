"""A Bearer like toggle checks its token's user in the toggle's one statement (issue #26:
PostLikeView with SessionCheckInView, posts.services.like_toggle_of_session): the session rule
gates the statement's writes in SQL (accounts.selectors.SESSION_ACCEPTED_SQL). Every token the
other endpoints refuse it refuses with the same 401, and writes nothing (no like, no
notification, no counter or rev moved), before the 403 of another user's like and the 404 of a
missing or hidden post; an accepted caller gets the 200, 403 and 404 as before, in the same
order; a cookie caller goes DRF's way, CSRF enforced."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services as account_services
from accounts.tests.factories import UserFactory
from notifications.models import Notification, UnreadCount
from posts import services
from posts.models import Like, Post
from posts.tests.factories import PostFactory
from safety.models import Block
from social.exceptions import CSRF_MESSAGE
from testsupport.session_check import (
    AUTH_HEADERS,
    ELSEWHERE,
    UNUSABLE_USER_IDS,
    bearer_client,
    cookie_client,
    refused_token,
    refused_tokens,
    token_with_user_id,
)

pytestmark = pytest.mark.django_db

NOT_FOUND = {"detail": "Пост не найден."}
# The headers a toggle's answer carries, the same whichever way its caller came in.
ANSWER_HEADERS = ("Content-Type", "Cache-Control", "Vary", "Allow", "X-Frame-Options")


def like_path(post, user_id) -> str:
    return f"/api/posts/{post.pk}/like/{user_id}"


def stored() -> tuple:
    """Everything a toggle writes: the likes, the notifications, the unread counters and every
    post's counters and rev."""
    return (
        sorted(Like.objects.values_list("post_id", "user_id", "created_at")),
        sorted(Notification.objects.values_list("id", "recipient_id", "actor_id", "type", "post_id", "read")),
        sorted(UnreadCount.objects.values_list("user_id", "unread")),
        sorted(Post.objects.values_list("id", "rev", "likes_count", "hot_score")),
    )


def toggle_beside_elsewhere(client, path: str) -> list:
    """[(status, body, the headers a refusal carries) of the toggle at `path`, the same of another
    endpoint with the same credentials]."""
    mine, theirs = client.patch(path), client.get(ELSEWHERE)
    return [(r.status_code, r.content, [r.headers.get(h) for h in AUTH_HEADERS]) for r in (mine, theirs)]


@pytest.mark.parametrize("liked_before", [False, True], ids=["would like", "would unlike"])
@pytest.mark.parametrize("refuse", refused_tokens)
def test_a_refused_token_is_the_same_401_and_writes_nothing(user, refuse, liked_before):
    path = like_path(PostFactory(), user.pk)  # before a deletion empties user.pk
    tokens = account_services.session_start(user=user)
    if liked_before:
        assert bearer_client(tokens.access).patch(path).status_code == 200
    refuse(user, tokens)
    before = stored()

    mine, elsewhere = toggle_beside_elsewhere(bearer_client(tokens.access), path)

    assert mine[0] == 401
    assert mine == elsewhere
    assert stored() == before


@pytest.mark.parametrize("target", ["another user's like", "an unknown post", "a hidden post"])
def test_a_refused_token_is_a_401_before_the_403_and_the_404(user, other_user, target):
    refused = bearer_client(refused_token(user))
    post = PostFactory()
    path = like_path(post, user.pk)
    if target == "another user's like":
        path = like_path(post, other_user.pk)
    elif target == "an unknown post":
        path = f"/api/posts/{uuid.uuid4()}/like/{user.pk}"
    else:
        Block.objects.create(blocker=post.author, blocked=user)
    before = stored()

    mine, elsewhere = toggle_beside_elsewhere(refused, path)

    assert mine[0] == 401 and mine == elsewhere
    assert stored() == before


@pytest.mark.parametrize("user_id", UNUSABLE_USER_IDS)
def test_a_token_no_user_can_match_is_the_same_401(user_id):
    post = PostFactory()
    before = stored()

    mine, elsewhere = toggle_beside_elsewhere(
        bearer_client(token_with_user_id(user_id)), f"/api/posts/{post.pk}/like/{uuid.uuid4()}"
    )

    assert mine[0] == 401 and mine == elsewhere
    assert stored() == before


def test_a_like_and_an_unlike_are_one_statement_each(api, user, other_user):
    post = PostFactory(author=other_user)
    path = like_path(post, user.pk)
    api.get("/api/posts/all")  # this process holds the post's encoding: the answer moves it

    with CaptureQueriesContext(connection) as liking:
        liked = api.patch(path)
    with CaptureQueriesContext(connection) as unliking:
        unliked = api.patch(path)

    assert len(liking) == 1 and len(unliking) == 1
    # The one statement is the toggle with the session rule in it.
    assert all("accounts_endedsession" in q["sql"] and "posts_like" in q["sql"] for q in (*liking, *unliking))
    assert liked.status_code == unliked.status_code == 200
    assert liked.json()["liked_by_me"] is True and unliked.json()["liked_by_me"] is False
    assert liked.json()["likes"] == [{"id": str(user.pk), "username": user.username, "email": "", "avatar": None}]
    assert liked.headers["Cache-Control"] == "private"
    # The author was notified and the notification taken back, as before.
    assert not Notification.objects.exists() and UnreadCount.objects.get(user_id=other_user.pk).unread == 0


def test_the_liker_embedded_is_the_users_row_read_by_the_statement(client_for):
    liker = UserFactory(avatar="avatars/liker.png")
    api = client_for(liker)
    post = PostFactory()
    api.get("/api/posts/all")  # this process holds the post's encoding: the answer moves it

    body = api.patch(like_path(post, liker.pk)).json()

    assert [(p["id"], p["username"]) for p in body["likes"]] == [(str(liker.pk), liker.username)]
    assert "avatars/liker.png" in body["likes"][0]["avatar"]


@pytest.mark.django_db(transaction=True)
def test_a_bearer_and_a_cookie_caller_get_the_same_answers(user):
    post = PostFactory()
    by_token, by_cookie = bearer_client(account_services.session_start(user=user).access), cookie_client(user)
    csrf = by_cookie.cookies["csrftoken"].value

    token_liked = by_token.patch(like_path(post, user.pk))
    token_unliked = by_token.patch(like_path(post, user.pk))
    cookie_liked = by_cookie.patch(like_path(post, user.pk), HTTP_X_CSRFTOKEN=csrf)
    cookie_unliked = by_cookie.patch(like_path(post, user.pk), HTTP_X_CSRFTOKEN=csrf)

    for mine, theirs in ((token_liked, cookie_liked), (token_unliked, cookie_unliked)):
        assert mine.status_code == theirs.status_code == 200
        assert mine.content == theirs.content
        for header in ANSWER_HEADERS:
            assert mine.headers.get(header) == theirs.headers.get(header), header


@pytest.mark.parametrize("target", ["an unknown post", "a hidden post", "an inactive author's post"])
def test_an_accepted_token_gets_the_404_as_a_cookie_does_in_one_statement(user, target, django_assert_num_queries):
    post = PostFactory()
    path = like_path(post, user.pk)
    if target == "an unknown post":
        path = f"/api/posts/{uuid.uuid4()}/like/{user.pk}"
    elif target == "a hidden post":
        Block.objects.create(blocker=user, blocked=post.author)
    else:
        type(user).objects.filter(pk=post.author_id).update(is_active=False)
    by_token, by_cookie = bearer_client(account_services.session_start(user=user).access), cookie_client(user)
    before = stored()

    with django_assert_num_queries(1):
        mine = by_token.patch(path)
    theirs = by_cookie.patch(path, HTTP_X_CSRFTOKEN=by_cookie.cookies["csrftoken"].value)

    assert mine.status_code == theirs.status_code == 404
    assert mine.json() == NOT_FOUND and mine.content == theirs.content
    for header in ANSWER_HEADERS:
        assert mine.headers.get(header) == theirs.headers.get(header), header
    assert stored() == before


def test_another_users_like_is_the_403_after_the_check_on_its_own(api, other_user, django_assert_num_queries):
    post = PostFactory()
    before = stored()

    with django_assert_num_queries(1):  # the user's check; no toggle
        response = api.patch(like_path(post, other_user.pk))

    assert response.status_code == 403
    assert response.json() == {"detail": services.NOT_YOUR_LIKE}
    assert response.headers["Cache-Control"] == "private"
    assert stored() == before


def test_the_session_kept_by_a_password_change_still_toggles_and_the_others_are_refused(user):
    post = PostFactory()
    kept, other = account_services.session_start(user=user), account_services.session_start(user=user)
    account_services.user_sessions_end(user=user, keep_session_id=AccessToken(kept.access)["sid"])

    assert bearer_client(other.access).patch(like_path(post, user.pk)).status_code == 401
    assert bearer_client(kept.access).patch(like_path(post, user.pk)).status_code == 200
    assert Like.objects.filter(post=post, user=user).count() == 1


def test_a_cookie_toggle_still_needs_the_csrf_token(user):
    post = PostFactory()
    browser = cookie_client(user)
    before = stored()

    refused = browser.patch(like_path(post, user.pk))

    assert refused.status_code == 403 and refused.json() == {"detail": CSRF_MESSAGE}
    assert stored() == before
    allowed = browser.patch(like_path(post, user.pk), HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert allowed.status_code == 200 and allowed.json()["liked_by_me"] is True


def test_a_cookie_toggle_is_checked_by_drf_first(user, django_assert_num_queries):
    post = PostFactory()
    browser = cookie_client(user)
    csrf = browser.cookies["csrftoken"].value
    browser.get("/api/posts/all")  # this process holds the post's encoding: the answer moves it

    with django_assert_num_queries(2):  # the user's check, then the toggle by id
        response = browser.patch(like_path(post, user.pk), HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 200


@pytest.mark.parametrize(("method", "status"), [("get", 405), ("head", 405), ("options", 200), ("post", 405)])
def test_other_methods_answer_as_before(api, user, method, status):
    response = getattr(api, method)(like_path(PostFactory(), user.pk))

    assert response.status_code == status
    assert not Like.objects.exists()


@pytest.mark.parametrize("method", ["get", "head", "options", "post"])
def test_other_methods_refuse_a_refused_token_first(user, method):
    response = getattr(bearer_client(refused_token(user)), method)(like_path(PostFactory(), user.pk))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_no_credentials_is_the_same_401_and_writes_nothing(user):
    post = PostFactory()
    before = stored()

    mine, elsewhere = toggle_beside_elsewhere(APIClient(), like_path(post, user.pk))

    assert mine[0] == 401 and mine == elsewhere
    assert stored() == before
