"""The texts of the prepared statements (social.db.prepared_cursor): each is sent without its
comments and indentation (social.db.sql_compacted, in social/postgresql's PreparingCursor), so
that psycopg converts its placeholders once per text: only texts of at most 4,096 bytes and 50
parameters are kept converted (psycopg._queries), a longer one is parsed again on every
execution (issue #26: the chat list's, with the user check, had grown past it)."""

import pytest
from django.db import connection
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS, _query2pg

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats import services as chat_services
from notifications.models import Notification
from posts.models import Comment
from posts.tests.factories import PostFactory
from social.db import sql_compact, sql_compacted
from social.postgresql.base import PreparingCursor
from testsupport.pages import next_url
from testsupport.session_check import bearer_client, cookie_client

pytestmark = pytest.mark.django_db


def _hot_reads(token, cookie, *, user, post, chat) -> None:
    """The requests whose statements are prepared, by token and by cookie, first and next pages."""
    for client in (token, cookie):
        for path in (
            "/api/posts/all?limit=2",
            f"/api/users/{post.author_id}/posts?limit=2",
            f"/api/posts/{post.pk}/comments?limit=2",
            "/api/posts/recommended?limit=2",
            "/api/chats?limit=1",
            "/api/notifications?limit=2",
            "/api/notifications?unread=true&limit=2",
        ):
            first = client.get(path)
            assert first.status_code == 200, path
            if next_url(first):
                assert client.get(next_url(first)).status_code == 200, path
    for _ in range(2):  # a like, then its withdrawal (and the like's notification)
        assert token.patch(f"/api/posts/{post.pk}/like/{user.pk}").status_code == 200
    chat_services.message_send_as_member(chat_id=chat.pk, author=user, text="привет")


def test_every_prepared_statement_is_converted_once_per_text(user, other_user, settings):
    settings.RECO_RANKING_TTL = 60
    posts = PostFactory.create_batch(3, author=other_user)
    post = posts[-1]
    for n in range(3):
        Comment.objects.create(post=post, author=other_user, text=f"комментарий {n}")
        Notification.objects.create(recipient=user, actor=UserFactory(), type="post.liked", post=post)
    chat, _ = chat_services.chat_create(creator=user, user_ids=[other_user.pk, UserFactory().pk], title="чат")
    chat_services.chat_create(creator=user, user_ids=[other_user.pk], title="ещё")
    token, cookie = bearer_client(session_start(user=user).access), cookie_client(user)
    for _ in range(2):  # every text seen (the second time: a recommended page from its kept ranking)
        _hot_reads(token, cookie, user=user, post=post, chat=chat)
    executed = []

    def record(execute, sql, params, many, context):
        if isinstance(context["cursor"].cursor, PreparingCursor):
            executed.append((sql, params))
        return execute(sql, params, many, context)

    before = _query2pg.cache_info()
    with connection.execute_wrapper(record):
        _hot_reads(token, cookie, user=user, post=post, chat=chat)
    after = _query2pg.cache_info()

    assert len({sql for sql, _ in executed}) >= 15
    # Every execution's text was found converted; none was parsed again.
    assert after.misses == before.misses
    assert after.hits - before.hits == len(executed)
    for sql, params in executed:
        assert len(sql_compacted(sql).encode()) <= MAX_CACHED_STATEMENT_LENGTH
        assert len(params) <= MAX_CACHED_STATEMENT_PARAMS
    # The server holds the compacted texts.
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        held = [row[0] for row in cursor.fetchall()]
    assert held and not [text for text in held if "\n--" in text or "\n " in text]


@pytest.mark.parametrize(
    ("sql", "compact"),
    [
        ("SELECT 1", "SELECT 1"),
        ("\n  SELECT a,\n         b -- why b\n  -- a whole line\n  FROM t\n\n", "SELECT a,\nb -- why b\nFROM t"),
    ],
)
def test_a_text_is_compacted_once_and_kept(sql, compact):
    assert sql_compact(sql) == compact
    assert sql_compacted(sql) == compact
    assert sql_compacted(sql) is sql_compacted(sql)
