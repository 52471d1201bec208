"""The notifications list checks a Bearer token's user in its page statement
(accounts.authentication.SessionCheckInView, issue #26), as the feed does: every token the other
endpoints refuse, it refuses with the same 401, before its own 400s; every caller they accept
gets the page and headers as before."""

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.tests.factories import PASSWORD, UserFactory
from notifications.models import Notification
from posts.tests.factories import PostFactory
from social.pagination import encode_cursor

pytestmark = pytest.mark.django_db

LIST = "/api/notifications"
ELSEWHERE = "/api/auth/current_user"
AUTH_HEADERS = ("WWW-Authenticate", "Content-Type", "Cache-Control", "Vary")
UNPARSED_CURSOR = f"?cursor={encode_cursor(['x', 'y'])}"


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def answers_alike(client, path=LIST) -> list:
    mine, theirs = client.get(path), client.get(ELSEWHERE)
    return [(r.status_code, r.content, [r.headers.get(h) for h in AUTH_HEADERS]) for r in (mine, theirs)]


def _notify(user, count=3):
    post = PostFactory(author=user)
    for i, liker in enumerate(UserFactory.create_batch(count)):
        Notification.objects.create(recipient=user, actor=liker, type="post.liked", post=post, read=i == 0)


def _logged_out(user, tokens):
    services.session_end(session_id=AccessToken(tokens.access)["sid"])


def _deactivated(user, tokens):
    services.user_deactivate(user=user)


def _deleted(user, tokens):
    user.delete()


@pytest.mark.parametrize("refuse", [_logged_out, _deactivated, _deleted])
def test_the_list_refuses_every_token_the_other_endpoints_refuse(user, refuse):
    tokens = services.session_start(user=user)
    _notify(user)
    assert bearer(tokens.access).get(LIST).status_code == 200
    refuse(user, tokens)

    listed, elsewhere = answers_alike(bearer(tokens.access))

    assert listed[0] == 401 and listed == elsewhere


@pytest.mark.parametrize("query", ["?unread=yes", "?limit=1000", "?cursor=garbage", UNPARSED_CURSOR])
def test_a_refused_token_is_a_401_before_a_bad_list_request(user, query):
    tokens = services.session_start(user=user)
    services.session_end(session_id=AccessToken(tokens.access)["sid"])

    listed, elsewhere = answers_alike(bearer(tokens.access), LIST + query)

    assert listed == elsewhere and listed[0] == 401


@pytest.mark.parametrize("query", ["?unread=yes", "?limit=1000", "?cursor=garbage", UNPARSED_CURSOR])
def test_an_accepted_token_with_a_bad_list_request_is_a_400(api, query):
    response = api.get(LIST + query)

    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "private"


@pytest.mark.parametrize("query", ["?limit=2", "?unread=true&limit=1", "?limit=100"])
def test_a_bearer_and_a_cookie_caller_get_the_same_pages_and_headers(user, query):
    _notify(user)
    cookie = APIClient(enforce_csrf_checks=True)
    assert cookie.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json").status_code == 200
    token = bearer(services.session_start(user=user).access)

    path = LIST + query
    while path:
        by_token, by_cookie = token.get(path), cookie.get(path)  # the cookie: DRF's own authentication
        assert by_token.status_code == by_cookie.status_code == 200
        assert by_token.content == by_cookie.content
        for header in ("Content-Type", "Cache-Control", "Vary", "Link", "Allow", "X-Frame-Options"):
            assert by_token.headers.get(header) == by_cookie.headers.get(header), header
        link = by_token.headers.get("Link")
        path = link.split("<", 1)[1].split(">", 1)[0] if link else None


def test_an_empty_list_is_an_empty_page(user):
    response = bearer(services.session_start(user=user).access).get(LIST)

    assert response.status_code == 200 and response.json() == [] and "Link" not in response.headers


def test_the_list_reads_the_tokens_users_notifications(user, other_user):
    _notify(other_user, count=2)

    assert bearer(services.session_start(user=user).access).get(LIST).json() == []
    assert len(bearer(services.session_start(user=other_user).access).get(LIST).json()) == 2


def test_the_page_statements_keep_one_plan_when_the_reader_has_more_than_most(api, user):
    # With every value bound, the first page of a recipient with more notifications than the
    # average was planned anew on every execution: a plan for that recipient cost less by
    # estimate than the plan for any (issue #26; bench/list_plans.py).
    post = PostFactory(author=user)
    actors = UserFactory.create_batch(30)
    rows = [Notification(recipient=user, actor=actors[i % 30], type="post.commented", post=post) for i in range(1500)]
    rows += [
        Notification(recipient=actors[i % 30], actor=user, type="post.commented", post=post, read=i % 2 == 0)
        for i in range(3000)
    ]
    Notification.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Notification._meta.db_table}")
        cursor.execute("ANALYZE accounts_user")
    next_page = api.get(LIST).headers["Link"].split("<", 1)[1].split(">", 1)[0]
    for _ in range(8):  # PostgreSQL weighs a generic plan after five custom ones
        for path in (LIST, LIST + "?unread=true", next_page):
            assert api.get(path).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%FROM {Notification._meta.db_table} n%"],
        )
        plans = cursor.fetchall()

    assert len(plans) == 3
    assert all(generic >= 3 and custom <= 5 for generic, custom in plans), plans
