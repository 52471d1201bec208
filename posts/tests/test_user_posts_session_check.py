"""A user's posts page reads the author's existence, and for a Bearer token the token's user
(accounts.authentication.SessionCheckInView), in its page statement (issue #26): every token the
other endpoints refuse, it refuses with the same 401, before its 400s and 404s; the 404 of an
unknown author and the 400 of a bad page request come in the order they came; every caller
gets the same pages and headers as before, whether by token or by cookie."""

import uuid

import pytest

from accounts import services
from accounts.models import User
from accounts.tests.factories import UserFactory
from posts.tests.factories import LikeFactory, PostFactory
from safety.models import Block
from testsupport.pages import next_url
from testsupport.session_check import (
    UNPARSED_CURSOR,
    UNUSABLE_USER_IDS,
    answers_alike,
    bearer_client,
    cookie_client,
    refused_token,
    refused_tokens,
    token_with_user_id,
    walk_alike,
)

pytestmark = pytest.mark.django_db

UNKNOWN_USER = {"detail": "Пользователь не найден."}


def posts_of(user_id) -> str:
    return f"/api/users/{user_id}/posts"


@pytest.mark.parametrize("refuse", refused_tokens)
def test_a_users_posts_refuse_every_token_the_other_endpoints_refuse(user, other_user, refuse):
    tokens = services.session_start(user=user)
    PostFactory(author=other_user)
    assert bearer_client(tokens.access).get(posts_of(other_user.pk)).status_code == 200
    refuse(user, tokens)

    page, elsewhere = answers_alike(bearer_client(tokens.access), posts_of(other_user.pk))

    assert page[0] == 401
    assert page == elsewhere


@pytest.mark.parametrize("query", ["", "?limit=1000", "?cursor=garbage", UNPARSED_CURSOR])
@pytest.mark.parametrize("author", ["known", "unknown"])
def test_a_refused_token_is_a_401_before_a_bad_request_or_an_unknown_author(user, other_user, query, author):
    author_id = other_user.pk if author == "known" else uuid.uuid4()

    page, elsewhere = answers_alike(bearer_client(refused_token(user)), posts_of(author_id) + query)

    assert page == elsewhere and page[0] == 401


@pytest.mark.parametrize("user_id", UNUSABLE_USER_IDS)
def test_a_signed_token_without_a_usable_user_id_is_refused_alike(other_user, user_id):
    page, elsewhere = answers_alike(bearer_client(token_with_user_id(user_id)), posts_of(other_user.pk))

    assert page == elsewhere and page[0] == 401


# The order of the answers as it was with the existence check a statement of its own: a bad limit
# or a malformed cursor (found before any statement) is a 400 whoever the author; a cursor whose
# values do not parse (found when the page statement was built) came after the author's 404.
@pytest.mark.parametrize("by", ["bearer", "cookie"])
@pytest.mark.parametrize(
    ("query", "known", "unknown"),
    [
        ("", 200, 404),
        ("?limit=1000", 400, 400),
        ("?limit=x", 400, 400),
        ("?cursor=garbage", 400, 400),
        (UNPARSED_CURSOR, 400, 404),
    ],
)
def test_an_accepted_callers_400_and_404_come_in_their_order(client_for, user, other_user, by, query, known, unknown):
    client = client_for(user) if by == "bearer" else cookie_client(user)

    found = client.get(posts_of(other_user.pk) + query)
    missing = client.get(posts_of(uuid.uuid4()) + query)

    assert (found.status_code, missing.status_code) == (known, unknown)
    if unknown == 404:
        assert missing.json() == UNKNOWN_USER
    # The caller was authenticated: the answer is theirs (PrivateAnswersMiddleware).
    assert found.headers["Cache-Control"] == missing.headers["Cache-Control"] == "private"


def test_a_bearer_and_a_cookie_caller_walk_the_same_pages(user, other_user):
    posts = PostFactory.create_batch(5, author=other_user)
    PostFactory.create_batch(2)
    LikeFactory(post=posts[1], user=user)
    by_token, by_cookie = bearer_client(services.session_start(user=user).access), cookie_client(user)

    pages = walk_alike(by_token, by_cookie, posts_of(other_user.pk) + "?limit=2")

    assert len(pages) == 3
    liked = [p["liked_by_me"] for p in by_token.get(posts_of(other_user.pk)).json()]
    assert liked == [post.pk == posts[1].pk for post in reversed(posts)]


@pytest.mark.parametrize("by", ["bearer", "cookie"])
def test_an_author_without_visible_posts_is_an_empty_page(client_for, user, by):
    client = client_for(user) if by == "bearer" else cookie_client(user)
    silent, inactive, blocker = UserFactory(), UserFactory(), UserFactory()
    PostFactory(author=inactive)
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    PostFactory(author=blocker)
    Block.objects.create(blocker=blocker, blocked=user)

    for author in (silent, inactive, blocker):
        response = client.get(posts_of(author.pk))
        assert response.status_code == 200, author
        assert response.json() == [] and "Link" not in response.headers


def test_the_page_reads_as_the_tokens_user(user, other_user):
    post = PostFactory(author=UserFactory())
    LikeFactory(post=post, user=other_user)

    mine = bearer_client(services.session_start(user=user).access).get(posts_of(post.author_id)).json()
    theirs = bearer_client(services.session_start(user=other_user).access).get(posts_of(post.author_id)).json()

    assert [p["liked_by_me"] for p in mine] == [False]
    assert [p["liked_by_me"] for p in theirs] == [True]


def test_a_cookie_callers_page_is_two_statements(user, other_user, django_assert_num_queries):
    PostFactory.create_batch(3, author=other_user)
    client = cookie_client(user)
    assert client.get(posts_of(other_user.pk)).status_code == 200  # the posts encoded

    # DRF's user check, then the author's existence and the page in one statement (three before).
    with django_assert_num_queries(2):
        response = client.get(posts_of(other_user.pk))
    with django_assert_num_queries(2):
        missing = client.get(posts_of(uuid.uuid4()))

    assert len(response.json()) == 3 and missing.status_code == 404


def test_a_next_page_is_read_with_the_check_too(api, other_user, django_assert_num_queries):
    PostFactory.create_batch(3, author=other_user)
    first = api.get(posts_of(other_user.pk) + "?limit=2")

    with django_assert_num_queries(2):  # the checked page, then the one post not encoded yet
        second = api.get(next_url(first))

    assert second.status_code == 200 and len(second.json()) == 1


@pytest.mark.parametrize("method", ["head", "options", "post", "put", "delete"])
def test_every_method_refuses_a_refused_token_before_anything_else(user, other_user, method):
    response = getattr(bearer_client(refused_token(user)), method)(posts_of(other_user.pk))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
