"""The token user's check folded into the first statement of `GET /api/users/<id>/chats` (the chat
list's statement, every member embedded), a chat's history page and the notifications unread
count (issue #26: SessionCheckInView on UserChatsView, ChatMessagesView and UnreadCountView)
against DRF's own check before them (its own statement, accounts.selectors.session_user, then
for user_chats the same statement without the check, as a cookie caller gets; the ORM path that
replaced: bench/user_chats_cookie_ab.py): the whole request in process
through Django's WSGI handler with a Bearer token, on bench/pages_cpu.py's data (the reader's
200 chats of two members, 5 messages each; 1,000 notifications). "before" is the same views with
the mixin's two steps switched back to APIView's (the check then runs as for any view),
alternating with "after" in ROUNDS rounds of RUNS requests per read (a tenth of them for
user_chats): this process's CPU ms per request (`time.process_time`) and the CPU ms of the
connection's PostgreSQL backend (utime + stime from /proc: the server must run on this machine);
least and median printed. Both answer the same bytes or the run fails.
Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/reads_fold_ab.py -q -s
"""

import gc
import os
import time

from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from rest_framework.views import APIView

from bench.chat_list_sql import backend_cpu_ms
from bench.overhead_cpu import _environ, wsgi_urls  # noqa: F401 - wsgi_urls: a fixture
from bench.pages_cpu import seeded  # noqa: F401 - seeded: a fixture
from chats.models import ChatMember
from chats.views import ChatMessagesView, UserChatsView
from notifications.views import UnreadCountView

RUNS = int(os.environ.get("READS_FOLD_RUNS", "100"))
ROUNDS = int(os.environ.get("READS_FOLD_ROUNDS", "9"))
VIEWS = (UserChatsView, ChatMessagesView, UnreadCountView)


def _switch(folded: bool) -> None:
    for view in VIEWS:
        for name in ("perform_authentication", "check_permissions"):
            if folded:
                view.__dict__.get(name) and delattr(view, name)
            else:
                setattr(view, name, getattr(APIView, name))


def _answer(handler, path: str, token: str) -> tuple:
    status = []
    response = handler(_environ(path, token), lambda code, headers: status.append((code, headers)))
    body = b"".join(response)
    response.close()
    return status[0][0], body


def test_reads_fold_ab(api, user, seeded, wsgi_urls):  # noqa: F811
    token, handler = api.tokens.access, WSGIHandler()
    chat_id = ChatMember.objects.filter(user=user).values_list("chat_id", flat=True).first()
    paths = {
        "user_chats": f"/api/users/{user.pk}/chats",
        "history": f"/api/chats/{chat_id}/messages/0",
        "unread_count": "/api/notifications/unread_count",
    }
    with connection.cursor() as db:
        db.execute("SELECT pg_backend_pid()")
        backend = db.fetchone()[0]
    try:
        for name, path in paths.items():
            answers = {}
            for folded in (False, True):
                _switch(folded)
                answers[folded] = _answer(handler, path, token)
                for _ in range(20):  # warm: prepared statements, caches
                    _answer(handler, path, token)
            assert answers[False] == answers[True] and answers[True][0].startswith("200"), name
            gc.collect()
            cpu = {False: [], True: []}
            server = {False: [], True: []}
            runs = max(RUNS // 10, 1) if name == "user_chats" else RUNS
            for _ in range(ROUNDS):
                for folded in (False, True):
                    _switch(folded)
                    start, start_server = time.process_time(), backend_cpu_ms(backend)
                    for _ in range(runs):
                        _answer(handler, path, token)
                    cpu[folded].append((time.process_time() - start) * 1000 / runs)
                    server[folded].append((backend_cpu_ms(backend) - start_server) / runs)
            for folded, label in ((False, "before"), (True, "after")):
                own, pg = sorted(cpu[folded]), sorted(server[folded])
                print(
                    f"{name:12s} {label:6s} process min {own[0]:.3f} med {own[ROUNDS // 2]:.3f} | "
                    f"PostgreSQL min {pg[0]:.3f} med {pg[ROUNDS // 2]:.3f} ms CPU/request"
                )
        print(f"{ROUNDS} rounds of {RUNS} requests each; load average {os.getloadavg()}")
    finally:
        _switch(True)
