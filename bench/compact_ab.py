"""The prepared statements' texts compacted in the cursor (social.db.sql_compacted, in
social/postgresql's PreparingCursor) against as before (the chat list's texts compacted once at
import, every other text sent as written), in one process on the suite's database: this
process's CPU per execution (`time.process_time`: PostgreSQL's time is not in it) of the feed's
first page with the user check (its text written with indentation) and of the chat list's with
the user check (compacted before too: the cost of the lookup alone), ROUNDS alternating rounds
of EXECUTIONS executions each; least and median of the rounds. Not collected by the suite; run
it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/compact_ab.py -q -s -p no:randomly
"""

import statistics
import time

import pytest
from django.db import connection
from django.db.backends.postgresql import base
from rest_framework_simplejwt.tokens import AccessToken

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats import selectors as chat_selectors
from chats import services as chat_services
from posts import selectors
from posts.tests.factories import PostFactory
from social.db import sql_compact
from social.pagination import PageRequest

pytestmark = pytest.mark.django_db

ROUNDS = 15
EXECUTIONS = 2000


def _run(cursor, sql, params, *, before: bool) -> float:
    execute = base.ServerBindingCursor.execute  # PreparingCursor.execute without the compaction
    started = time.process_time()
    for _ in range(EXECUTIONS):
        if before:
            execute(cursor, sql, params, prepare=True)
        else:
            cursor.execute(sql, params)
        cursor.fetchall()
    return (time.process_time() - started) / EXECUTIONS * 1000


def test_compaction_in_the_cursor_ab():
    user, other = UserFactory(), UserFactory()
    PostFactory.create_batch(25)
    for n in range(5):
        chat_services.chat_create(creator=user, user_ids=[other.pk], title=f"чат {n}")
    session = session_start(user=user)
    session_id = AccessToken(session.access)["sid"]
    page = PageRequest(limit=20, after=None)
    refs_sql, feed_params = selectors.refs_query(viewer_id=user.pk, page=page)
    feed_sql = selectors._SESSION_FEED_SQL.format(refs=refs_sql)
    feed_params.update(user=user.pk, session=session_id)
    chat_sql, chat_params = chat_selectors.chat_list_statement(user=user, page=page, checked=True)
    chat_params["session"] = session_id
    shapes = {
        # (text before, text after): the feed's was sent as written; the chat list's compacted at import.
        "feed, checked": ((feed_sql, feed_params), (feed_sql, feed_params)),
        "chat list, checked": ((sql_compact(chat_sql), chat_params), (chat_sql, chat_params)),
    }
    with connection.prepared_cursor() as wrapper:
        cursor = wrapper.cursor
        for (sql, params), _ in shapes.values():  # prepared and warm, both texts
            _run(cursor, sql, params, before=True)
            _run(cursor, sql, params, before=False)
        results = {(name, side): [] for name in shapes for side in ("before", "after")}
        for _ in range(ROUNDS):
            for name, ((sql_b, params_b), (sql_a, params_a)) in shapes.items():
                results[(name, "before")].append(_run(cursor, sql_b, params_b, before=True))
                results[(name, "after")].append(_run(cursor, sql_a, params_a, before=False))
    print()
    for name, ((sql_b, _), (sql_a, _)) in shapes.items():
        print(f"{name}: text {len(sql_b.encode())} -> {len(sql_compact(sql_a).encode())} bytes; CPU ms per execution")
        for side in ("before", "after"):
            rounds = results[(name, side)]
            print(f"  {side:6} min {min(rounds):.4f} median {statistics.median(rounds):.4f}")
