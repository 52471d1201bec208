"""The recommended first page from a fresh kept ranking checks a Bearer token's user in its page
statement (accounts.authentication.SessionCheckInView, issue #26); every other page checks it
first. Every token the other endpoints refuse, it refuses with the same 401, before its 400s,
and a refused token causes no ranking, no snapshot and no refresh task; every caller gets the
same pages and headers as before, whether by token or by cookie."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.tests.factories import PASSWORD
from posts.recommendations.pages import RANKING_KEY, REFRESHING_KEY
from posts.recommendations.snapshots import SNAPSHOT_COUNTER_KEY
from posts.tests.factories import LikeFactory, PostFactory
from posts.tests.test_feed_session_check import _all_sessions_ended, _deactivated, _deleted, _inactive, _logged_out
from testsupport.pages import next_url

pytestmark = pytest.mark.django_db

URL = "/api/posts/recommended"
ELSEWHERE = "/api/auth/current_user"  # authenticated by DRF's own step (no check in a view)
AUTH_HEADERS = ("WWW-Authenticate", "Content-Type", "Cache-Control", "Vary")
REFUSALS = [_inactive, _deactivated, _logged_out, _all_sessions_ended, _deleted]


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def answers_alike(client, path=URL) -> list:
    """(status, body, the headers that a refusal carries) of `path`, and of another endpoint
    with the same credentials."""
    mine, theirs = client.get(path), client.get(ELSEWHERE)
    return [(r.status_code, r.content, [r.headers.get(h) for h in AUTH_HEADERS]) for r in (mine, theirs)]


def kept_at(user_id, limit: int) -> float | None:
    kept = cache.get(RANKING_KEY.format(viewer=user_id.hex, limit=limit))
    return kept["at"] if kept is not None else None


def age_kept(user, limit: int, seconds: float) -> None:
    key = RANKING_KEY.format(viewer=user.pk.hex, limit=limit)
    kept = cache.get(key)
    cache.set(key, {**kept, "at": kept["at"] - seconds}, timeout=300)


@pytest.fixture
def ranked(user, settings):
    """(the user's tokens, the user's first page of 2 of 5 posts, from a ranking now kept)."""
    settings.RECO_RANKING_TTL = 60
    PostFactory.create_batch(5)
    tokens = services.session_start(user=user)
    first = bearer(tokens.access).get(URL + "?limit=2")
    assert first.status_code == 200 and len(first.json()) == 2 and kept_at(user.pk, 2) is not None
    return tokens, first


@pytest.mark.parametrize("refuse", REFUSALS)
@pytest.mark.parametrize("kept", ["fresh", "stale"])
def test_a_kept_first_page_refuses_every_token_the_other_endpoints_refuse(user, ranked, refuse, kept, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    tokens, _ = ranked
    user_id = user.pk  # (None once the user is deleted)
    if kept == "stale":
        age_kept(user, 2, seconds=61)
    at = kept_at(user_id, 2)
    refuse(user, tokens)

    page, elsewhere = answers_alike(bearer(tokens.access), URL + "?limit=2")

    assert page[0] == 401
    assert page == elsewhere
    # Nothing ranked anew, no refresh asked for.
    assert kept_at(user_id, 2) == at
    assert cache.get(REFRESHING_KEY.format(viewer=user_id.hex, limit=2)) is None
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize("refuse", REFUSALS)
def test_a_refused_token_without_a_kept_ranking_ranks_nothing(user, refuse, settings):
    settings.RECO_RANKING_TTL = 60
    PostFactory.create_batch(3)
    tokens, user_id = services.session_start(user=user), user.pk
    refuse(user, tokens)

    page, elsewhere = answers_alike(bearer(tokens.access), URL + "?limit=2")

    assert page[0] == 401 and page == elsewhere
    assert kept_at(user_id, 2) is None
    assert cache.get(SNAPSHOT_COUNTER_KEY.format(viewer=user_id.hex)) is None  # no walk stored


@pytest.mark.parametrize("query", ["?limit=1000", "?limit=x", "?cursor=garbage", "?limit=2&cursor=garbage"])
def test_a_refused_token_is_a_401_before_a_bad_page_request(user, ranked, query):
    tokens, _ = ranked
    services.session_end(session_id=AccessToken(tokens.access)["sid"])

    page, elsewhere = answers_alike(bearer(tokens.access), URL + query)

    assert page == elsewhere and page[0] == 401


def test_a_refused_token_is_a_401_on_a_next_page(user, ranked):
    tokens, first = ranked
    services.session_end(session_id=AccessToken(tokens.access)["sid"])

    page, elsewhere = answers_alike(bearer(tokens.access), next_url(first))

    assert page == elsewhere and page[0] == 401


def test_a_bearer_and_a_cookie_caller_walk_the_same_pages(user, ranked):
    tokens, _ = ranked
    LikeFactory(post_id=ranked[1].json()[1]["id"], user=user)
    cookie = APIClient(enforce_csrf_checks=True)
    assert cookie.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json").status_code == 200
    by_token = bearer(tokens.access)

    token_path = cookie_path = URL + "?limit=2"
    pages = 0
    while token_path:
        token_page, cookie_page = by_token.get(token_path), cookie.get(cookie_path)
        assert token_page.status_code == cookie_page.status_code == 200
        # Both first pages come from the one kept ranking; the cursors differ only by the walk.
        assert token_page.json() == cookie_page.json()
        for header in ("Content-Type", "Cache-Control", "Vary", "Allow", "X-Frame-Options"):
            assert token_page.headers.get(header) == cookie_page.headers.get(header), header
        token_path, cookie_path, pages = next_url(token_page), next_url(cookie_page), pages + 1
        assert (token_path is None) == (cookie_path is None)

    assert pages == 3
    assert [post["liked_by_me"] for post in by_token.get(URL + "?limit=2").json()] == [False, True]


def test_the_kept_first_page_is_one_statement_and_its_body_as_before(api, user, settings, django_assert_num_queries):
    settings.RECO_RANKING_TTL = 60
    PostFactory.create_batch(3)
    first = api.get(URL + "?limit=2")

    with django_assert_num_queries(1):  # the user check and the page's rows (two before)
        again = api.get(URL + "?limit=2")

    assert again.content == first.content and again.headers["Link"] == first.headers["Link"]


def test_a_stale_or_absent_kept_ranking_checks_the_user_first(api, user, settings, django_assert_num_queries):
    settings.RECO_RANKING_TTL = 60
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    PostFactory.create_batch(3)
    first = api.get(URL + "?limit=2")
    age_kept(user, 2, seconds=61)

    with django_assert_num_queries(2):  # the user check, then the page's rows
        stale = api.get(URL + "?limit=2")

    assert stale.content == first.content
    settings.RECO_RANKING_TTL = 0  # none kept: ranked on every first page
    assert [post["id"] for post in api.get(URL + "?limit=2").json()] == [post["id"] for post in first.json()]


def test_an_empty_kept_ranking_is_an_empty_page(api, settings):
    settings.RECO_RANKING_TTL = 60
    assert api.get(URL).json() == []

    response = api.get(URL)

    assert response.status_code == 200 and response.json() == [] and "Link" not in response.headers
