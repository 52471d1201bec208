"""The like's notification with the unread counter (issue #26), before and after, in one
process: the two forms alternate (ROUNDS rounds of TOGGLES toggles each, `bench/like_cpu.py`'s
data and toggles, each author holding UNREAD unread notifications beforehand as a live author
does; LIKE_UNREAD changes it, up to UNREAD_CAP, where the old count stopped). "before" is the
statement as it was: the notification's insert with the author's unread count counted over
their unread rows (up to 1,000, every dead index entry a heap fetch); "after" moves and
answers the author's counter row. Prints the client's CPU and the PostgreSQL backend's CPU
per toggle, min and median over the rounds; then the two statements alone (no request around
them), and the plan of each form's statement as it runs last. Not collected by the suite; run
it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_counter_ab.py -q -s
"""

import json
import os
import time

import pytest
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import UserFactory
from bench.like_cpu import backend_cpu_ms, paths, toggles  # noqa: F401
from notifications import selectors, services
from notifications.models import Notification
from notifications.serializers import notification_items
from posts.models import Post
from safety.selectors import BLOCK_BETWEEN_SQL
from social import events
from social.db import prepared_cursor

ROUNDS, TOGGLES, STATEMENTS = 12, 200, 300
UNREAD = int(os.environ.get("LIKE_UNREAD", 300))

_BEFORE_SQL = f"""
WITH created AS (
    INSERT INTO {Notification._meta.db_table} (recipient_id, actor_id, type, post_id, created_at, read)
    SELECT %(user)s, %(other)s, %(type)s, %(post)s, %(now)s, false
    WHERE NOT EXISTS ({BLOCK_BETWEEN_SQL})
    ON CONFLICT DO NOTHING
    RETURNING id, created_at
)
SELECT id, created_at, (
    SELECT count(*) FROM (
        SELECT 1 FROM {Notification._meta.db_table}
        WHERE recipient_id = %(user)s AND NOT read LIMIT %(limit)s
    ) AS unread
) FROM created
"""
_BEFORE_WITHDRAW_SQL = f"""
DELETE FROM {Notification._meta.db_table}
WHERE recipient_id = %(recipient)s AND actor_id = %(actor)s AND post_id = %(post)s
  AND type = '{Notification.Type.POST_LIKED.value}' AND NOT read
"""


def _params(*, post_id, recipient_id, actor) -> dict:
    kind = Notification.Type.POST_LIKED.value
    return {"user": recipient_id, "other": actor.pk, "type": kind, "post": post_id, "now": timezone.now()}


def _create_before(*, post_id, recipient_id, actor):
    """The like's notification as it was: the count over the partial index."""
    params = {**_params(post_id=post_id, recipient_id=recipient_id, actor=actor), "limit": selectors.UNREAD_CAP + 1}
    with prepared_cursor(connection) as cursor:
        cursor.execute(_BEFORE_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    notification_id, created_at, unread_before = row
    shown = (notification_id, "post.liked", created_at, False, post_id, None, None, None)
    (item,) = notification_items([(*shown, actor.pk, actor.username, actor.avatar.name)], None)
    events.notification_created(
        user_id=recipient_id, notification=item, unread_count=min(unread_before + 1, selectors.UNREAD_CAP)
    )
    return notification_id


def _withdraw_before(*, post_id, recipient_id, actor_id):
    params = {"recipient": recipient_id, "post": post_id, "actor": actor_id}
    with prepared_cursor(connection) as cursor:
        cursor.execute(_BEFORE_WITHDRAW_SQL, params)
        return cursor.rowcount


def _summary(values: list[float]) -> str:
    values = sorted(values)
    return f"min {values[0]:5.2f} med {values[len(values) // 2]:5.2f}"


def _plan(sql: str, params: dict) -> str:
    """The statement's nodes that read notifications, with their buffers (rolled back)."""
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        raw = cursor.fetchone()[0]
        cursor.execute("ROLLBACK")
    plan = json.loads(raw) if isinstance(raw, str) else raw

    def nodes(node):
        yield node
        for child in node.get("Plans", ()):
            yield from nodes(child)

    shown = [
        f"{node['Node Type']} {node.get('Index Name', node.get('Relation Name', ''))}: "
        f"{node['Actual Total Time']:.3f} ms, rows {node['Actual Rows']}, heap fetches {node.get('Heap Fetches', '-')}"
        for node in nodes(plan[0]["Plan"])
        if node.get("Relation Name") in ("notifications_notification", "notifications_unreadcount")
    ]
    return f"{plan[0]['Execution Time']:.3f} ms: " + "; ".join(shown)


@pytest.mark.django_db(transaction=True)
def test_like_counter_ab(api, paths, monkeypatch):  # noqa: F811 (the fixture)
    post_ids = [path.split("/")[3] for path in paths]
    authors = list(Post.objects.filter(pk__in=post_ids).values_list("author_id", flat=True))
    for actor in UserFactory.create_batch(UNREAD):
        services.notifications_create(recipient_ids=authors, actor_id=actor.pk, type=Notification.Type.FRIEND_ADDED)
    forms = {
        "before": (_create_before, _withdraw_before),
        "after": (services.like_notification_create, services.like_notification_withdraw),
    }
    toggles(api, paths, 40)
    client = {form: [] for form in forms}
    server = {form: [] for form in forms}
    for _ in range(ROUNDS):
        for form, (create, withdraw) in forms.items():
            monkeypatch.setattr(services, "like_notification_create", create)
            monkeypatch.setattr(services, "like_notification_withdraw", withdraw)
            toggles(api, paths, 10)
            server_start, start = backend_cpu_ms(), time.process_time()
            toggles(api, paths, TOGGLES)
            client[form].append((time.process_time() - start) * 1000 / TOGGLES)
            if server_start is not None:
                server[form].append((backend_cpu_ms() - server_start) / TOGGLES)
    print()
    for form in forms:
        line = f"{form:7s} client {_summary(client[form])} ms"
        if server[form]:
            line += f" | PostgreSQL {_summary(server[form])} ms"
        print(line)
    viewer = api.user
    post = Post.objects.get(pk=post_ids[0])
    params = _params(post_id=post.pk, recipient_id=post.author_id, actor=viewer)
    Notification.objects.filter(actor=viewer, post=post).delete()
    # The statements alone, committed one by one as a toggle commits them: a notification
    # written and withdrawn STATEMENTS times per round.
    alone = {form: [] for form in forms}
    for _ in range(ROUNDS):
        for form, (create, withdraw) in forms.items():
            server_start = backend_cpu_ms()
            for _ in range(STATEMENTS):
                create(post_id=post.pk, recipient_id=post.author_id, actor=viewer)
                withdraw(post_id=post.pk, recipient_id=post.author_id, actor_id=viewer.pk)
            if server_start is not None:
                alone[form].append((backend_cpu_ms() - server_start) / STATEMENTS)
    for form in forms:
        if alone[form]:
            print(f"{form:7s} statements alone (create + withdraw): PostgreSQL {_summary(alone[form])} ms")
    print("before plan", _plan(_BEFORE_SQL, {**params, "limit": selectors.UNREAD_CAP + 1}))
    print("after plan ", _plan(services._LIKE_NOTIFICATION_SQL, params))
