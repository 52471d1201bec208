"""A post's comments page checks a Bearer token's user in its page statement, as the feed does
(accounts.authentication.SessionCheckInView, issue #26): every token the other endpoints refuse,
it refuses with the same 401, before its own 400s and 404s; every caller they accept gets the
page, the 404 and the 400 as before, in the same order."""

import pytest
from django.db import connection

from accounts import services
from accounts.tests.factories import UserFactory
from posts.models import Comment
from posts.tests.factories import PostFactory
from safety.models import Block
from testsupport.session_check import (
    UNPARSED_CURSOR,
    answers_alike,
    bearer_client,
    cookie_client,
    refused_token,
    refused_tokens,
    walk_alike,
)

pytestmark = pytest.mark.django_db


def comments_path(post) -> str:
    return f"/api/posts/{post.pk}/comments"


def commented_post(count=3):
    post = PostFactory()
    author = UserFactory()
    for n in range(count):
        Comment.objects.create(post=post, author=author, text=f"комментарий {n}")
    return post


@pytest.mark.parametrize("refuse", refused_tokens)
def test_the_comments_page_refuses_every_token_the_other_endpoints_refuse(user, refuse):
    tokens = services.session_start(user=user)
    post = commented_post()
    assert bearer_client(tokens.access).get(comments_path(post)).status_code == 200
    refuse(user, tokens)

    mine, elsewhere = answers_alike(bearer_client(tokens.access), comments_path(post))

    assert mine[0] == 401
    assert mine == elsewhere


@pytest.mark.parametrize("query", ["?limit=1000", "?limit=x", "?cursor=garbage", UNPARSED_CURSOR])
def test_a_refused_token_is_a_401_before_a_bad_page_request_or_a_hidden_post(user, query):
    refused = bearer_client(refused_token(user))
    hidden = PostFactory()
    Block.objects.create(blocker=hidden.author, blocked=user)

    for post in (commented_post(), hidden):
        mine, elsewhere = answers_alike(refused, comments_path(post) + query)
        assert mine == elsewhere and mine[0] == 401


@pytest.mark.parametrize(
    ("query", "visible", "status"),
    [
        ("?limit=1000", True, 400),
        ("?cursor=garbage", True, 400),
        (UNPARSED_CURSOR, True, 400),
        # As before: a malformed limit or cursor before the post's 404, its values after it.
        ("?limit=1000", False, 400),
        ("?cursor=garbage", False, 400),
        (UNPARSED_CURSOR, False, 404),
        ("", False, 404),
    ],
)
def test_an_accepted_token_gets_the_400s_and_404s_as_a_cookie_does(user, query, visible, status):
    post = commented_post()
    if not visible:
        Block.objects.create(blocker=user, blocked=post.author)

    by_token = bearer_client(services.session_start(user=user).access).get(comments_path(post) + query)
    by_cookie = cookie_client(user).get(comments_path(post) + query)

    assert by_token.status_code == by_cookie.status_code == status
    assert by_token.content == by_cookie.content
    # The caller was authenticated: the answer is theirs (PrivateAnswersMiddleware).
    assert by_token.headers["Cache-Control"] == "private"


def test_an_unknown_post_is_a_404(api):
    response = api.get("/api/posts/00000000-0000-0000-0000-000000000000/comments")

    assert response.status_code == 404


def test_a_bearer_and_a_cookie_caller_get_the_same_pages_and_headers(user):
    post = commented_post(5)
    Comment.objects.create(post=post, author=UserFactory(avatar="avatars/a.png"), text="с аватаром")
    by_token, by_cookie = bearer_client(services.session_start(user=user).access), cookie_client(user)

    pages = walk_alike(by_token, by_cookie, comments_path(post) + "?limit=4")

    assert [c["text"] for c in pages[-1].json()] == ["комментарий 4", "с аватаром"]


def test_an_empty_page_is_an_empty_list(api):
    response = api.get(comments_path(PostFactory()))

    assert response.status_code == 200 and response.json() == [] and "Link" not in response.headers


def test_a_deleted_accounts_comments_stay_hidden(api):
    post = commented_post(2)
    gone = UserFactory()
    Comment.objects.create(post=post, author=gone, text="ушёл")
    type(gone).objects.filter(pk=gone.pk).update(deleted_at="2026-01-01T00:00:00Z")

    assert [c["text"] for c in api.get(comments_path(post)).json()] == ["комментарий 0", "комментарий 1"]


def test_a_next_page_is_one_statement_too(api, django_assert_num_queries):
    post = commented_post(3)
    first = api.get(comments_path(post) + "?limit=2")
    after = first.headers["Link"].split("<", 1)[1].split(">", 1)[0]

    with django_assert_num_queries(1):
        second = api.get(after)

    assert [c["text"] for c in second.json()] == ["комментарий 2"]


def test_the_comments_statement_keeps_one_plan_on_a_large_table(api):
    post = PostFactory()
    author = UserFactory()
    Comment.objects.bulk_create(Comment(post=post, author=author, text=f"{n}") for n in range(3000))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Comment._meta.db_table}")
    for _ in range(8):  # PostgreSQL weighs a generic plan after five custom ones
        assert api.get(comments_path(post)).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%) AS viewer%FROM posts_comment AS c%"],
        )
        plans = cursor.fetchall()

    assert len(plans) == 1
    generic, custom = plans[0]
    assert generic >= 3 and custom <= 5, plans


@pytest.mark.parametrize("method", ["head", "options", "post"])
def test_every_method_refuses_a_refused_token_before_anything_else(user, method):
    response = getattr(bearer_client(refused_token(user)), method)(comments_path(commented_post()))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(("method", "status"), [("head", 200), ("options", 200), ("post", 201)])
def test_other_methods_with_an_accepted_token_answer_as_before(api, method, status):
    response = getattr(api, method)(comments_path(commented_post()), {"text": "да"}, format="json")

    assert response.status_code == status
    assert response.headers["Cache-Control"] == "private"


@pytest.mark.parametrize(("visible", "status"), [(True, 400), (False, 404)])
def test_an_unparsed_cursor_is_answered_after_the_check_and_the_posts_read_rule(
    api, user, visible, status, django_assert_num_queries
):
    # The user check and the post's read rule, each a statement of its own (as before the view
    # used SessionCheckInView.session_read): the post's 404 before the cursor's 400.
    post = commented_post()
    if not visible:
        Block.objects.create(blocker=user, blocked=post.author)

    with django_assert_num_queries(2):
        response = api.get(comments_path(post) + UNPARSED_CURSOR)

    assert response.status_code == status
