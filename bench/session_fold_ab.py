"""The notifications page and the chat list with the token user's check folded into their
statements (issue #26: notifications.selectors.notifications_page_of_session,
chats.selectors.chat_list_values_of_session) against the two statements before them
(accounts.selectors.session_user, then the page as BASELINE_NOTIFICATIONS and BASELINE_CHATS, two
revisions of notifications/selectors.py and chats/selectors.py, read it, e.g. `git show
c5cec11:chats/selectors.py > /tmp/chats.py`; the current pages without them): per page, this
process's CPU ms and the CPU ms of the connection's PostgreSQL backend (utime + stime from
/proc: the server must run on this machine), alternating ROUNDS rounds of RUNS pages of 20
(the first, then the next) on bench/pages_cpu.py's data (the reader's 1,000 notifications and
200 chats) plus 10,000 notifications of its 20 other users, statistics gathered; least and
median printed. Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/session_fold_ab.py -q -s
"""

import importlib.util
import os
import time

from django.db import connection

from accounts.selectors import SessionClaims, session_user
from bench.chat_list_sql import backend_cpu_ms
from bench.pages_cpu import seeded  # noqa: F401 (the fixture)
from chats import selectors as chat_selectors
from notifications import selectors as notification_selectors
from notifications.models import Notification
from social.pagination import PageRequest, decode_cursor

RUNS = 300
ROUNDS = 7


def revision(module, variable: str):
    """The revision of `module` named by the environment's `variable`, else `module`."""
    if not os.environ.get(variable):
        return module
    spec = importlib.util.spec_from_file_location(f"{variable.lower()}_module", os.environ[variable])
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def plain(row) -> tuple:
    """A row as a tuple: a baseline module has its own ChatListRow class, never equal to ours."""
    return (row.chat, row.members, row.last_message) if hasattr(row, "chat") else row


def test_session_fold_ab(user, seeded):  # noqa: F811
    others = list(Notification.objects.values_list("actor_id", flat=True).distinct())
    Notification.objects.bulk_create(
        Notification(recipient_id=others[i % len(others)], actor=user, type=Notification.Type.POST_COMMENTED)
        for i in range(10000)
    )
    with connection.cursor() as db:
        db.execute("ANALYZE")
    claims = SessionClaims(user.pk, "bench-session", 0)
    first = PageRequest(limit=20, after=None)

    def then(page) -> PageRequest:
        return PageRequest(limit=20, after=decode_cursor(page.next_cursor, size=2))

    notifications = revision(notification_selectors, "BASELINE_NOTIFICATIONS")
    chats = revision(chat_selectors, "BASELINE_CHATS")
    notification_pages = (first, then(notifications.notifications_page(user_id=user.pk, unread_only=False, page=first)))
    chat_pages = (first, then(chats.chat_list_values(user=user, page=first)))

    def viewer():
        return session_user(user_id=claims.user_id, session_id=claims.session_id, issued_at=claims.issued_at)

    cases = {
        "notifications": (
            lambda: [
                notifications.notifications_page(user_id=viewer().pk, unread_only=False, page=page).items
                for page in notification_pages
            ],
            lambda: [
                notification_selectors.notifications_page_of_session(claims=claims, unread_only=False, page=page)[
                    1
                ].items
                for page in notification_pages
            ],
        ),
        "chat list": (
            lambda: [chats.chat_list_values(user=viewer(), page=page).items for page in chat_pages],
            lambda: [
                chat_selectors.chat_list_values_of_session(claims=claims, page=page)[1].items for page in chat_pages
            ],
        ),
    }
    with connection.cursor() as db:
        db.execute("SELECT pg_backend_pid()")
        pid = db.fetchone()[0]
    for case, (before, after) in cases.items():
        answers = [[[plain(row) for row in items] for items in run()] for run in (before, after)]
        assert answers[0] == answers[1] and [len(items) for items in answers[1]] == [20, 20], case
        figures = {"before": ([], []), "after": ([], [])}
        for _ in range(ROUNDS):
            for name, run in (("before", before), ("after", after)):
                for _ in range(20):
                    run()
                cpu, server = time.process_time(), backend_cpu_ms(pid)
                for _ in range(RUNS):
                    run()
                figures[name][0].append((time.process_time() - cpu) * 1000 / RUNS / 2)
                figures[name][1].append((backend_cpu_ms(pid) - server) / RUNS / 2)
        for name, (process, backend) in figures.items():
            process.sort()
            backend.sort()
            print(
                f"{case:13s} {name:6s} process CPU min {process[0]:.3f} med {process[len(process) // 2]:.3f} ms; "
                f"backend CPU min {backend[0]:.3f} med {backend[len(backend) // 2]:.3f} ms per page"
            )
