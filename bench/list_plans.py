"""How often PostgreSQL plans the chat list's and the notifications page's prepared statements
(issue #26): on data seeded as bench/chat_list_sql.py seeds it (the reader's 200 chats and
1,000 notifications, OTHER_READERS other readers' 200 chats each, 3,000 users) plus 20,000
notifications of other recipients, with the planner's statistics gathered, each page (first and
next, all and unread) and a message send run RUNS times through the app's own functions; then
`pg_prepared_statements`' generic and custom plan counts of each statement. A statement with
custom plans only is planned anew on every execution. Not collected by the suite; run it by
path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/list_plans.py -q -s
"""

import os

from django.db import connection

from accounts.selectors import SessionClaims
from bench.chat_list_sql import other_readers_seed
from bench.pages_cpu import seeded  # noqa: F401 (the fixture)
from chats import selectors as chat_selectors
from chats import services as chat_services
from chats.models import ChatMember
from notifications import selectors as notification_selectors
from notifications.models import Notification
from social.pagination import PageRequest, decode_cursor

RUNS = 20


def test_list_plans(user, seeded):  # noqa: F811
    other_readers_seed(int(os.environ.get("OTHER_READERS", "20")))
    others = list(ChatMember.objects.exclude(user=user).values_list("user_id", flat=True).distinct()[:40])
    Notification.objects.bulk_create(
        Notification(recipient_id=others[i % 40], actor=user, type=Notification.Type.POST_COMMENTED, read=i % 2 == 0)
        for i in range(20000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    claims = SessionClaims(user.pk, "bench-session", 0)
    first = chat_selectors.chat_list_values(user=user, page=PageRequest(limit=20, after=None))
    chat_cursor = decode_cursor(first.next_cursor, size=2)
    chat_id = first.items[0].chat[0]
    for unread in (False, True):
        page = notification_selectors.notifications_page(
            user_id=user.pk, unread_only=unread, page=PageRequest(limit=20, after=None)
        )
        after = decode_cursor(page.next_cursor, size=2)
        for _ in range(RUNS):
            for wanted in (PageRequest(limit=20, after=None), PageRequest(limit=20, after=after)):
                notification_selectors.notifications_page(user_id=user.pk, unread_only=unread, page=wanted)
                notification_selectors.notifications_page_of_session(claims=claims, unread_only=unread, page=wanted)
    for _ in range(RUNS):
        for wanted in (PageRequest(limit=20, after=None), PageRequest(limit=20, after=chat_cursor)):
            chat_selectors.chat_list_values(user=user, page=wanted)
            chat_selectors.chat_list_values_of_session(claims=claims, page=wanted)
        chat_services.message_send_as_member(chat_id=chat_id, author=user, text="план")
    if os.environ.get("LIST_EXPLAIN"):
        for checked in (False, True):
            sql, params = notification_selectors._page_statement(
                user_id=user.pk, unread_only=False, page=PageRequest(limit=20, after=after), checked=checked
            )
            explain_both(sql, {**params, "session": "bench-session"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        rows = cursor.fetchall()
    for statement, generic, custom in rows:
        text = " ".join(statement.split())
        shape = (
            ("checked " if "AS viewer" in text else "")
            + ("unread " if "NOT n.read" in text else "")
            + ("next page" if "c.id < $" in text or "n.id < $" in text else "first page")
        )
        print(f"generic {generic:3d} custom {custom:3d}  {shape:25s} {text[:110]}")


def explain_both(sql: str, params: dict) -> None:
    """EXPLAIN of `sql` prepared, as its generic plan and as a custom one (LIST_EXPLAIN=1)."""
    names = []

    def numbered(match):
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    import re

    text = re.sub(r"%\((\w+)\)s", numbered, sql)
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE list_explained AS {text}")
        for mode in ("force_generic_plan", "force_custom_plan"):
            cursor.execute(f"SET plan_cache_mode = {mode}")
            values = ", ".join(["%s"] * len(names))
            cursor.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE list_explained({values})", [params[name] for name in names]
            )
            print(mode, "\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("DEALLOCATE list_explained")
        cursor.execute("RESET plan_cache_mode")
