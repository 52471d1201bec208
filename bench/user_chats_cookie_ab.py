"""A cookie caller's `GET /api/users/<id>/chats` (a browser's: DRF's own authentication) through
the chat list's statement, every member embedded (chats.selectors.user_chats_values, rendered by
chat_list_items, as a Bearer caller's is) against the ORM path it took before (user_chats and
UserChatOutput, kept here as `_orm_get`): the whole request in process through Django's WSGI
handler with the access cookie, on bench/pages_cpu.py's data (the reader's 200 chats of two
members, 5 messages each). "before" swaps UserChatsView.get for `_orm_get`, alternating with
"after" in ROUNDS rounds of RUNS requests: this process's CPU ms per request
(`time.process_time`) and the CPU ms of the connection's PostgreSQL backend (utime + stime from
/proc: the server must run on this machine); least and median printed. Both answer the same
bytes or the run fails. Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/user_chats_cookie_ab.py -q -s
"""

import gc
import os
import time

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

from bench.chat_list_sql import backend_cpu_ms
from bench.overhead_cpu import _environ, wsgi_urls  # noqa: F401 - wsgi_urls: a fixture
from bench.pages_cpu import seeded  # noqa: F401 - seeded: a fixture
from chats import selectors
from chats.serializers import UserChatOutput
from chats.views import UserChatsView
from social.exceptions import acting_as_check
from social.renderers import json_bytes, json_response

RUNS = int(os.environ.get("USER_CHATS_COOKIE_RUNS", "10"))
ROUNDS = int(os.environ.get("USER_CHATS_COOKIE_ROUNDS", "11"))
_STATEMENT_GET = UserChatsView.get


def _orm_get(self, request, user_id):
    # The cookie caller's path before: the ORM's three reads, a serializer per object.
    acting_as_check(user_id=user_id, caller=request.user)
    chats = selectors.user_chats(user=request.user)
    return json_response(json_bytes(UserChatOutput(chats, many=True, context={"request": request}).data))


def _switch(statement: bool) -> None:
    UserChatsView.get = _STATEMENT_GET if statement else _orm_get


def _answer(handler, path: str, token: str) -> tuple:
    environ = _environ(path, token)
    del environ["HTTP_AUTHORIZATION"]
    environ["HTTP_COOKIE"] = f"{settings.AUTH_COOKIE_ACCESS}={token}"
    status = []
    response = handler(environ, lambda code, headers: status.append((code, headers)))
    body = b"".join(response)
    response.close()
    return status[0][0], body


def test_user_chats_cookie_ab(api, user, seeded, wsgi_urls):  # noqa: F811
    token, handler = api.tokens.access, WSGIHandler()
    path = f"/api/users/{user.pk}/chats"
    with connection.cursor() as db:
        db.execute("SELECT pg_backend_pid()")
        backend = db.fetchone()[0]
    try:
        answers = {}
        for statement in (False, True):
            _switch(statement)
            answers[statement] = _answer(handler, path, token)
            for _ in range(10):  # warm: prepared statements, caches
                _answer(handler, path, token)
        assert answers[False] == answers[True] and answers[True][0].startswith("200")
        assert answers[True][1].count(b'"members_count"') == 200
        gc.collect()
        cpu = {False: [], True: []}
        server = {False: [], True: []}
        for _ in range(ROUNDS):
            for statement in (False, True):
                _switch(statement)
                start, start_server = time.process_time(), backend_cpu_ms(backend)
                for _ in range(RUNS):
                    _answer(handler, path, token)
                cpu[statement].append((time.process_time() - start) * 1000 / RUNS)
                server[statement].append((backend_cpu_ms(backend) - start_server) / RUNS)
        for statement, label in ((False, "before"), (True, "after")):
            own, pg = sorted(cpu[statement]), sorted(server[statement])
            print(
                f"user_chats (cookie) {label:6s} process min {own[0]:.3f} med {own[ROUNDS // 2]:.3f} | "
                f"PostgreSQL min {pg[0]:.3f} med {pg[ROUNDS // 2]:.3f} ms CPU/request"
            )
        print(f"{ROUNDS} rounds of {RUNS} requests each; load average {os.getloadavg()}")
    finally:
        _switch(True)
