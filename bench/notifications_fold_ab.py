"""The notifications page with the token user's check folded into its statement (issue #26,
notifications.selectors.notifications_page_of_session) against the two statements before it
(accounts.selectors.session_user, then the page of NOTIFICATIONS_BASELINE, a revision of
notifications/selectors.py, e.g. `git show c5cec11:notifications/selectors.py > /tmp/x.py`;
the current `notifications_page` without it): per page, this process's CPU ms and the CPU ms
of the connection's PostgreSQL backend (utime + stime from /proc: the server must run on this
machine), alternating ROUNDS rounds of RUNS pages of 20 (the first, then the next) on
bench/pages_cpu.py's data (the reader's 1,000 notifications) plus 10,000 notifications of its 20
other recipients, statistics gathered; least and median printed. Not collected by the suite;
run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/notifications_fold_ab.py -q -s
"""

import importlib.util
import os
import time

from django.db import connection

from accounts.selectors import SessionClaims, session_user
from bench.chat_list_sql import backend_cpu_ms
from bench.pages_cpu import seeded  # noqa: F401 (the fixture)
from notifications import selectors
from notifications.models import Notification
from notifications.selectors import notifications_page_of_session
from social.pagination import PageRequest, decode_cursor

RUNS = 500
ROUNDS = 7


def test_notifications_fold_ab(user, seeded):  # noqa: F811
    others = list(Notification.objects.values_list("actor_id", flat=True).distinct())
    Notification.objects.bulk_create(
        Notification(recipient_id=others[i % len(others)], actor=user, type=Notification.Type.POST_COMMENTED)
        for i in range(10000)
    )
    with connection.cursor() as db:
        db.execute("ANALYZE")
    baseline = selectors
    if os.environ.get("NOTIFICATIONS_BASELINE"):
        spec = importlib.util.spec_from_file_location("notifications_baseline", os.environ["NOTIFICATIONS_BASELINE"])
        baseline = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(baseline)
    claims = SessionClaims(user.pk, "bench-session", 0)
    first = PageRequest(limit=20, after=None)
    pages = (
        first,
        PageRequest(
            limit=20,
            after=decode_cursor(
                selectors.notifications_page(user_id=user.pk, unread_only=False, page=first).next_cursor, size=2
            ),
        ),
    )

    def before():
        viewer = session_user(user_id=claims.user_id, session_id=claims.session_id, issued_at=claims.issued_at)
        return [baseline.notifications_page(user_id=viewer.pk, unread_only=False, page=page).items for page in pages]

    def after():
        return [notifications_page_of_session(claims=claims, unread_only=False, page=page)[1].items for page in pages]

    assert before() == after() and [len(items) for items in after()] == [20, 20]
    with connection.cursor() as db:
        db.execute("SELECT pg_backend_pid()")
        pid = db.fetchone()[0]
    figures = {"before": ([], []), "after": ([], [])}
    for _ in range(ROUNDS):
        for name, run in (("before", before), ("after", after)):
            for _ in range(20):
                run()
            cpu, server = time.process_time(), backend_cpu_ms(pid)
            for _ in range(RUNS):
                run()
            figures[name][0].append((time.process_time() - cpu) * 1000 / RUNS / len(pages))
            figures[name][1].append((backend_cpu_ms(pid) - server) / RUNS / len(pages))
    for name, (process, backend) in figures.items():
        process.sort()
        backend.sort()
        print(
            f"{name:6s} process CPU min {process[0]:.3f} med {process[len(process) // 2]:.3f} ms; "
            f"backend CPU min {backend[0]:.3f} med {backend[len(backend) // 2]:.3f} ms per page"
        )
