"""The token user's check folded into the like toggle's statement (issue #26: PostLikeView with
SessionCheckInView, posts.services.like_toggle_of_session) against DRF's own check before it
(its own statement, accounts.selectors.session_user, then the toggle's statement by id, as a
cookie caller still goes): CPU per toggle, in process, through Django's test client over the
whole stack, the way bench/like_cpu.py toggles (one user toggling their like of 10 posts of
other authors in turn: every other toggle a like with a notification, every other an unlike;
committed for real, so the after-commit work runs as in production). "before" is the same view
with the mixin's two steps switched back to APIView's (the check then runs as for any view);
"before" and "after" alternate, their order swapped every round, ROUNDS rounds of RUNS toggles
each: this process's CPU ms per toggle (`time.process_time`) and the CPU ms of the connection's
PostgreSQL backend (utime + stime from /proc: the server must run on this machine; ticks of
10 ms, so RUNS toggles resolve 10/RUNS ms). Least, median and most printed, and the per-round
ratios after/before. Both answer the same bytes or the run fails.
Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_fold_ab.py -q -s
"""

import gc
import os
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.views import APIView

from bench.chat_list_sql import backend_cpu_ms
from bench.like_cpu import paths  # noqa: F401 - paths: a fixture
from posts.views import PostLikeView

RUNS = int(os.environ.get("LIKE_FOLD_RUNS", "400"))  # a multiple of 20: every post back as it was
ROUNDS = int(os.environ.get("LIKE_FOLD_ROUNDS", "9"))


def _switch(folded: bool) -> None:
    for name in ("perform_authentication", "check_permissions"):
        if folded:
            PostLikeView.__dict__.get(name) and delattr(PostLikeView, name)
        else:
            setattr(PostLikeView, name, getattr(APIView, name))


def _toggles(client, paths, n: int) -> None:  # noqa: F811
    for i in range(n):
        response = client.patch(paths[i % len(paths)])
        assert response.status_code == 200, response.content[:200]


@pytest.mark.django_db(transaction=True)
def test_like_fold_ab(api, paths):  # noqa: F811
    assert RUNS % (2 * len(paths)) == 0
    with connection.cursor() as db:
        db.execute("SELECT pg_backend_pid()")
        backend = db.fetchone()[0]
    try:
        answers, statements = {}, {}
        for folded in (False, True):
            _switch(folded)
            _toggles(api, paths, 40)  # warm: prepared statements, the posts' encodings
            with CaptureQueriesContext(connection) as queries:
                liked, unliked = api.patch(paths[0]), api.patch(paths[0])
            answers[folded] = (liked.content, unliked.content)
            statements[folded] = len(queries) / 2
        assert answers[False] == answers[True]
        gc.collect()
        cpu = {False: [], True: []}
        server = {False: [], True: []}
        for round_ in range(ROUNDS):
            for folded in (False, True) if round_ % 2 == 0 else (True, False):
                _switch(folded)
                start, start_server = time.process_time(), backend_cpu_ms(backend)
                _toggles(api, paths, RUNS)
                cpu[folded].append((time.process_time() - start) * 1000 / RUNS)
                server[folded].append((backend_cpu_ms(backend) - start_server) / RUNS)
        for folded, label in ((False, "before"), (True, "after")):
            own, pg = sorted(cpu[folded]), sorted(server[folded])
            print(
                f"\nlike toggle {label:6s} {statements[folded]:.0f} statement(s) | process min {own[0]:.3f} "
                f"med {own[ROUNDS // 2]:.3f} max {own[-1]:.3f} | PostgreSQL min {pg[0]:.3f} "
                f"med {pg[ROUNDS // 2]:.3f} max {pg[-1]:.3f} ms CPU/toggle"
            )
        ratios = sorted(after / before for after, before in zip(cpu[True], cpu[False], strict=True))
        print(
            f"process after/before per round: min {ratios[0]:.3f} med {ratios[ROUNDS // 2]:.3f} max {ratios[-1]:.3f}; "
            f"{ROUNDS} rounds of {RUNS} toggles; load average {os.getloadavg()}"
        )
    finally:
        _switch(True)
