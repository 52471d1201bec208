"""The recommended first page from a fresh kept ranking checks a Bearer token's user in its page
statement (accounts.authentication.SessionCheckInView, issue #26); every other page checks it
first. Every token the other endpoints refuse, it refuses with the same 401, before its 400s,
and a refused token causes no ranking, no snapshot and no refresh task; every caller gets the
same pages and headers as before, whether by token or by cookie."""

import pytest
from django.core.cache import cache

from accounts import services
from posts.recommendations.pages import RANKING_KEY, REFRESHING_KEY
from posts.recommendations.snapshots import SNAPSHOT_COUNTER_KEY
from posts.tests.factories import LikeFactory, PostFactory
from testsupport.pages import next_url
from testsupport.redis_commands import redis_commands
from testsupport.session_check import (
    answers_alike,
    bearer_client,
    cookie_client,
    refused_token,
    refused_tokens,
    walk_alike,
)

pytestmark = pytest.mark.django_db

URL = "/api/posts/recommended"


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
    first = bearer_client(tokens.access).get(URL + "?limit=2")
    assert first.status_code == 200 and len(first.json()) == 2 and kept_at(user.pk, 2) is not None
    return tokens, first


@pytest.mark.parametrize("refuse", refused_tokens)
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

    page, elsewhere = answers_alike(bearer_client(tokens.access), URL + "?limit=2")

    assert page[0] == 401
    assert page == elsewhere
    # Nothing ranked anew, no refresh asked for.
    assert kept_at(user_id, 2) == at
    assert cache.get(REFRESHING_KEY.format(viewer=user_id.hex, limit=2)) is None
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize("refuse", refused_tokens)
def test_a_refused_token_without_a_kept_ranking_ranks_nothing(user, refuse, settings):
    settings.RECO_RANKING_TTL = 60
    PostFactory.create_batch(3)
    tokens, user_id = services.session_start(user=user), user.pk
    refuse(user, tokens)

    page, elsewhere = answers_alike(bearer_client(tokens.access), URL + "?limit=2")

    assert page[0] == 401 and page == elsewhere
    assert kept_at(user_id, 2) is None
    assert cache.get(SNAPSHOT_COUNTER_KEY.format(viewer=user_id.hex)) is None  # no walk stored


@pytest.mark.parametrize("query", ["?limit=1000", "?limit=x", "?cursor=garbage", "?limit=2&cursor=garbage"])
def test_a_refused_token_is_a_401_before_a_bad_page_request(user, ranked, query):
    page, elsewhere = answers_alike(bearer_client(refused_token(user)), URL + query)

    assert page == elsewhere and page[0] == 401


def test_a_refused_token_is_a_401_on_a_next_page(user, ranked):
    _, first = ranked

    page, elsewhere = answers_alike(bearer_client(refused_token(user)), next_url(first))

    assert page == elsewhere and page[0] == 401


def test_a_bearer_and_a_cookie_caller_walk_the_same_pages(user, ranked):
    tokens, _ = ranked
    LikeFactory(post_id=ranked[1].json()[1]["id"], user=user)
    by_token = bearer_client(tokens.access)

    # Both first pages come from the one kept ranking; the cursors differ only by the walk.
    pages = walk_alike(by_token, cookie_client(user), URL + "?limit=2", own_walks=True)

    assert len(pages) == 3
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


@pytest.mark.parametrize(
    "query", ["?limit=1000", "?limit=x", "?cursor=garbage", "?limit=1000&cursor=garbage", "?limit=2&cursor=garbage"]
)
def test_an_accepted_token_gets_the_400s_a_cookie_does(user, ranked, query):
    tokens, _ = ranked

    by_token = bearer_client(tokens.access).get(URL + query)
    by_cookie = cookie_client(user).get(URL + query)

    assert by_token.status_code == by_cookie.status_code == 400
    assert by_token.content == by_cookie.content
    assert by_token.headers["Cache-Control"] == "private"


def test_a_next_page_checks_the_user_then_reads_its_rows(api, user, settings, django_assert_num_queries):
    settings.RECO_RANKING_TTL = 60
    PostFactory.create_batch(3)
    first = api.get(URL + "?limit=2")

    # The user check, the page's rows, then the one post not encoded yet.
    with django_assert_num_queries(3):
        second = api.get(next_url(first))

    assert second.status_code == 200 and len(second.json()) == 1


@pytest.mark.parametrize("kept", ["fresh", "stale", "absent"])
@pytest.mark.parametrize("by", ["bearer", "cookie"])
def test_a_first_page_reads_the_kept_ranking_from_redis_once(client_for, user, settings, kept, by):
    # A Bearer first page whose ranking was stale or absent read it twice: once trying the
    # check in the page's statement, once more after the check on its own.
    settings.RECO_RANKING_TTL = 60
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    PostFactory.create_batch(3)
    client = client_for(user) if by == "bearer" else cookie_client(user)
    if kept != "absent":
        assert client.get(URL + "?limit=2").status_code == 200
    if kept == "stale":
        age_kept(user, 2, seconds=61)
    key = RANKING_KEY.format(viewer=user.pk.hex, limit=2)

    with redis_commands(containing=key) as commands:
        response = client.get(URL + "?limit=2")

    assert response.status_code == 200 and len(response.json()) == 2
    assert len([command for command in commands if command.startswith("GET ")]) == 1, commands
    assert kept_at(user.pk, 2) is not None
    if kept == "stale":  # served, and a refresh asked for
        assert cache.get(REFRESHING_KEY.format(viewer=user.pk.hex, limit=2)) is not None
