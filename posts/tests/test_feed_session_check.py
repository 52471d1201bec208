"""The feed checks a Bearer token's user in its page statement (accounts.authentication
SessionCheckInView, issue #26): every token the other endpoints refuse, it refuses with the same
401, before its own 400s; every caller they accept gets the page and headers as before."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.models import UserSessionsEnd
from accounts.tests.factories import UserFactory
from posts import fragments
from posts.models import Post
from posts.tests.factories import LikeFactory, PostFactory
from testsupport.session_check import (
    PAGE_HEADERS,
    UNPARSED_CURSOR,
    UNUSABLE_USER_IDS,
    answers_alike,
    bearer_client,
    cookie_client,
    refused_token,
    refused_tokens,
    token_with_user_id,
)

pytestmark = pytest.mark.django_db

FEED = "/api/posts/all"


@pytest.mark.parametrize("refuse", refused_tokens)
def test_the_feed_refuses_every_token_the_other_endpoints_refuse(user, refuse):
    tokens = services.session_start(user=user)
    PostFactory()
    assert bearer_client(tokens.access).get(FEED).status_code == 200
    refuse(user, tokens)

    feed, elsewhere = answers_alike(bearer_client(tokens.access), FEED)

    assert feed[0] == 401
    assert feed == elsewhere


@pytest.mark.parametrize("query", ["?limit=1000", "?limit=x", "?cursor=garbage", UNPARSED_CURSOR])
def test_a_refused_token_is_a_401_before_a_bad_page_request(user, query):
    feed, elsewhere = answers_alike(bearer_client(refused_token(user)), FEED + query)

    assert feed == elsewhere and feed[0] == 401


@pytest.mark.parametrize("query", ["?limit=1000", "?cursor=garbage", UNPARSED_CURSOR])
def test_an_accepted_token_with_a_bad_page_request_is_a_400(api, query):
    response = api.get(FEED + query)

    assert response.status_code == 400
    # The caller was authenticated: the answer is theirs (PrivateAnswersMiddleware).
    assert response.headers["Cache-Control"] == "private"


@pytest.mark.parametrize("user_id", UNUSABLE_USER_IDS)
def test_a_signed_token_without_a_usable_user_id_is_refused_alike(user_id):
    feed, elsewhere = answers_alike(bearer_client(token_with_user_id(user_id)), FEED)

    assert feed == elsewhere and feed[0] == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not.a.token", "Token abc"])
def test_a_bad_authorization_header_is_answered_alike(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    feed, elsewhere = answers_alike(client, FEED)

    assert feed == elsewhere


def test_the_session_kept_by_a_password_change_still_reads_the_feed(user):
    tokens = services.session_start(user=user)
    other = services.session_start(user=user)
    # The end a minute back: a token of the very second of the end is refused (`iat` in seconds).
    services.user_sessions_end(user=user, keep_session_id=AccessToken(tokens.access)["sid"])
    UserSessionsEnd.objects.filter(user=user).update(ended_at=timezone.now() - timedelta(minutes=1))
    services.user_sessions_end(user=user, keep_session_id=AccessToken(tokens.access)["sid"])

    assert bearer_client(tokens.access).get(FEED).status_code == 200
    assert bearer_client(other.access).get(FEED).status_code == 401


def test_a_bearer_and_a_cookie_caller_get_the_same_page_and_headers(user):
    posts = PostFactory.create_batch(3)
    LikeFactory(post=posts[1], user=user)
    tokens = services.session_start(user=user)

    by_token = bearer_client(tokens.access).get(FEED + "?limit=2")
    by_cookie = cookie_client(user).get(FEED + "?limit=2")  # DRF's own authentication (no Authorization header)

    assert by_token.status_code == by_cookie.status_code == 200
    assert by_token.content == by_cookie.content
    assert [post["liked_by_me"] for post in by_token.json()] == [False, True]
    for header in PAGE_HEADERS:
        assert by_token.headers.get(header) == by_cookie.headers.get(header), header
    assert by_token.headers["Cache-Control"] == "private"


def test_the_feed_reads_as_the_tokens_user(user, other_user):
    # The page's liked_by_me and block rule are the token's user's, not anyone else's.
    post = PostFactory(author=UserFactory())
    LikeFactory(post=post, user=other_user)

    mine = bearer_client(services.session_start(user=user).access).get(FEED).json()
    theirs = bearer_client(services.session_start(user=other_user).access).get(FEED).json()

    assert [p["liked_by_me"] for p in mine] == [False]
    assert [p["liked_by_me"] for p in theirs] == [True]


def test_an_empty_feed_is_an_empty_page():
    response = bearer_client(services.session_start(user=UserFactory()).access).get(FEED)

    assert response.status_code == 200 and response.json() == [] and "Link" not in response.headers


def test_a_next_page_is_read_with_the_check_too(api, django_assert_num_queries):
    PostFactory.create_batch(3)
    first = api.get(FEED + "?limit=2")
    after = first.headers["Link"].split("<", 1)[1].split(">", 1)[0]

    with django_assert_num_queries(2):  # the checked page, then the one post not encoded yet
        second = api.get(after)

    assert second.status_code == 200 and len(second.json()) == 1


@pytest.mark.parametrize("refuse", refused_tokens)
def test_a_refused_token_on_a_next_page_is_refused_alike_and_keeps_nothing(user, refuse):
    # A page from a cursor runs the check in its statement too: the same 401 as elsewhere, and
    # none of the page's posts encoded, kept or shared for the refused caller.
    posts = PostFactory.create_batch(3)
    tokens = services.session_start(user=user)
    first = bearer_client(tokens.access).get(FEED + "?limit=1")
    after = first.headers["Link"].split("<", 1)[1].split(">", 1)[0]
    fragments.cache_clear()
    refuse(user, tokens)

    feed, elsewhere = answers_alike(bearer_client(tokens.access), after)

    assert feed[0] == 401 and feed == elsewhere
    origin = ("http", "testserver")
    assert all(fragments._store.get((post.pk.int, origin)) is None for post in posts)
    assert fragments._shared_get([post.pk for post in posts], origin) == {}


def test_the_feed_statement_keeps_one_plan_on_a_large_table(api, user):
    # With its LIMIT bound as a parameter, PostgreSQL's plan for any value expects a tenth of
    # the table and loses to a plan per execution, so the statement was planned on every request
    # (issue #26). A few thousand posts make that choice as on the bench's 50,000.
    author = UserFactory()
    Post.objects.bulk_create(Post(author=author, description=f"пост {i}") for i in range(5000))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Post._meta.db_table}")
    for _ in range(8):  # PostgreSQL weighs a generic plan after five custom ones
        assert api.get(FEED).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%) AS viewer%FROM posts_post AS p%"],
        )
        plans = cursor.fetchall()

    assert len(plans) == 1
    generic, custom = plans[0]
    assert generic >= 3 and custom <= 5, plans


@pytest.mark.parametrize("method", ["head", "options", "post", "put", "delete"])
def test_every_method_refuses_a_refused_token_before_anything_else(user, method):
    response = getattr(bearer_client(refused_token(user)), method)(FEED)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(("method", "status"), [("head", 200), ("options", 200), ("post", 405)])
def test_other_methods_with_an_accepted_token_answer_as_before(api, method, status):
    PostFactory()

    response = getattr(api, method)(FEED)

    assert response.status_code == status
    assert response.headers["Cache-Control"] == "private"
