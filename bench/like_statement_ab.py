"""The like toggle in one statement (issue #26, fifth pass), before and after, in one process:
the machine is shared, so the two forms alternate (ROUNDS rounds of TOGGLES toggles each,
`bench/like_cpu.py`'s data and toggles through the whole request). "before" is the toggle as
it was: BEGIN, the caller's row locked with the post's author, the like's statement, the
author's notification in a statement of its own (the signal's receiver), COMMIT; "after" is
posts.services.like_toggle: the same writes in one statement, in autocommit, with the
notification composed from notifications' SQL. Prints, min and median over the rounds, the
client's CPU, the PostgreSQL backend's CPU and the wall time per toggle, then the statements
of one like and one unlike in each form. Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_statement_ab.py -q -s
"""

import time

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from bench.like_cpu import backend_cpu_ms, paths, toggles  # noqa: F401
from posts import services
from posts.models import Like, Post
from posts.state import PostMoved, post_state_like_move_sql
from safety.selectors import AUTHOR_VISIBLE_SQL
from social.db import prepared_cursor
from social.exceptions import PostNotFound

ROUNDS, TOGGLES = 16, 100

# The two statements of the toggle before (3e5a431..6e8e020), with the move's parameters named.
_BEFORE_LOCK_SQL = f"""
SELECT (SELECT p.author_id FROM {Post._meta.db_table} AS p WHERE p.id = %(post)s {AUTHOR_VISIBLE_SQL})
FROM {User._meta.db_table} WHERE id = %(viewer)s FOR NO KEY UPDATE
"""
_BEFORE_TOGGLE_SQL = """
WITH removed AS (
    DELETE FROM {like} WHERE post_id = %(post)s AND user_id = %(viewer)s RETURNING 1
), moved AS (
    {move} WHERE id = %(post)s RETURNING id, rev, author_id, created_at
), added AS (
    INSERT INTO {like} (post_id, user_id, created_at)
    SELECT moved.id, %(viewer)s, clock_timestamp() FROM moved WHERE NOT EXISTS (SELECT FROM removed)
    RETURNING 1
)
SELECT rev, author_id, created_at, EXISTS (SELECT FROM added) FROM moved
"""


def _like_toggle_before(*, post_id, user):
    move_sql, move_params = post_state_like_move_sql(delta_sql=services._LIKE_DELTA_SQL)
    toggle_sql = _BEFORE_TOGGLE_SQL.format(like=Like._meta.db_table, move=move_sql)
    params = {**move_params, "post": post_id, "viewer": user.pk}
    try:
        with transaction.atomic(), prepared_cursor(connection) as cursor:
            cursor.execute(_BEFORE_LOCK_SQL, params)
            row = cursor.fetchone()
            if row is None or row[0] is None:
                raise PostNotFound()
            cursor.execute(toggle_sql, params)
            row = cursor.fetchone()
            if row is None:
                raise PostNotFound()
            rev, author_id, created_at, liked = row
            moved = PostMoved(rev, author_id, created_at)
            # No `notified`: the receivers write the notification in a statement of their own.
            services._like_toggled_send(post_id=post_id, moved=moved, user=user, liked=liked)
            return services.LikeToggled(liked=liked, post=moved)
    except IntegrityError:
        raise PostNotFound() from None


def _summary(values: list[float]) -> str:
    values = sorted(values)
    return f"min {values[0]:5.2f} med {values[len(values) // 2]:5.2f}"


@pytest.mark.django_db(transaction=True)
def test_like_statement_ab(api, paths, monkeypatch):  # noqa: F811 (the fixture)
    forms = {"before": _like_toggle_before, "after": services.like_toggle}
    for toggle in forms.values():
        monkeypatch.setattr(services, "like_toggle", toggle)
        toggles(api, paths, 40)  # warm: prepared statements, the posts' encodings
    figures = {form: {"client": [], "server": [], "wall": []} for form in forms}
    for _ in range(ROUNDS):
        for form, toggle in forms.items():
            monkeypatch.setattr(services, "like_toggle", toggle)
            toggles(api, paths, 10)
            server_start, start, wall = backend_cpu_ms(), time.process_time(), time.perf_counter()
            toggles(api, paths, TOGGLES)
            figures[form]["wall"].append((time.perf_counter() - wall) * 1000 / TOGGLES)
            figures[form]["client"].append((time.process_time() - start) * 1000 / TOGGLES)
            if server_start is not None:
                figures[form]["server"].append((backend_cpu_ms() - server_start) / TOGGLES)
    print()
    for form, figure in figures.items():
        line = f"{form:7s} client {_summary(figure['client'])} ms | wall {_summary(figure['wall'])} ms"
        if figure["server"]:
            line += f" | PostgreSQL {_summary(figure['server'])} ms"
        print(line)
    for form, toggle in forms.items():
        monkeypatch.setattr(services, "like_toggle", toggle)
        counts = []
        for _ in range(2):  # a like and an unlike, or the other way round
            with CaptureQueriesContext(connection) as queries:
                api.patch(paths[0])
            counts.append(len(queries))
        print(f"{form:7s} statements per toggle (the request's user check included): {counts}")
