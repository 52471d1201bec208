"""The feed's first page with a Bearer token, before and after this pass (issue #26, `first`),
in one process: the same WSGI handler and middleware, two routes, the FeedView as it was (DRF's
authentication runs the user query, then the page query with its LIMIT bound, which PostgreSQL
planned on every execution) and as it is (accounts.authentication.SessionCheckInView: one
statement, the LIMIT in its text, planned once per connection),
alternating ROUNDS rounds of REQUESTS requests each on `bench/pages_cpu.py`'s data. Per request:
this process's CPU ms (`time.process_time`) and the CPU ms of the PostgreSQL backend serving
its connection (utime + stime from /proc, so only when the server runs on this machine), least
and median of the rounds. Then how often PostgreSQL planned each statement (generic plans kept
vs custom plans made) and EXPLAIN (ANALYZE, BUFFERS) of the new statement. Not collected
by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/first_page.py -q -s
"""

import os
import time

from django.db import connection
from django.urls import clear_url_caches, include, path
from rest_framework.views import APIView

from accounts.authentication import BearerAuthentication
from accounts.selectors import token_claims
from bench.overhead_cpu import _environ, wsgi_urls  # noqa: F401 - wsgi_urls: a fixture
from bench.pages_cpu import seeded  # noqa: F401 - seeded: a fixture
from posts import fragments, selectors
from posts.views import FeedView
from social.db import prepared_cursor
from social.pagination import PageRequest, next_link, page_cut, page_request
from social.wsgi import application

ROUNDS = 15
REQUESTS = 300


def _feed_page_before(*, viewer, page):
    """selectors.feed_page before this pass: the LIMIT bound as a parameter."""
    sql, params = selectors.refs_query(viewer_id=viewer.pk, page=page)
    sql = sql.replace(f"LIMIT {page.limit + 1}", "LIMIT %(limit)s")
    with prepared_cursor(connection) as db:
        db.execute(sql, {**params, "limit": page.limit + 1})
        rows = [selectors.PostRef(*row) for row in db.fetchall()]
    return page_cut(rows, limit=page.limit, key=selectors._row_key)


class _FeedBefore(APIView):
    """FeedView before this pass."""

    def get(self, request):
        page = _feed_page_before(
            viewer=request.user, page=page_request(request.query_params, key_size=selectors.KEY_SIZE)
        )
        return fragments.posts_response(page.items, request=request, headers=next_link(request, page.next_cursor))


urlpatterns = [
    path("api/bench/feed-before", _FeedBefore.as_view()),
    path("api/bench/feed-after", FeedView.as_view()),
    path("", include("social.urls")),
]


def _backend_cpu_ms() -> float:
    """CPU ms the PostgreSQL backend of this connection has used so far (0 when not visible)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _round(path_and_query: str, token: str, n: int) -> tuple[float, float]:
    backend = _backend_cpu_ms()
    start = time.process_time()
    for _ in range(n):
        response = application(_environ(path_and_query, token), lambda *args: None)
        b"".join(response)
        response.close()
    own = (time.process_time() - start) * 1000 / n
    return own, (_backend_cpu_ms() - backend) / n


def _same_answer(token):
    answers = []
    for route in ("feed-before", "feed-after"):
        status = []
        environ = _environ(f"/api/bench/{route}?limit=20", token)
        response = application(environ, lambda line, headers, exc_info=None, into=status: into.append((line, headers)))
        # The same but for the route in the Link and the request's id.
        headers = sorted((k, v.replace(route, "feed")) for k, v in status[0][1] if k != "X-Request-ID")
        answers.append((status[0][0], headers, b"".join(response)))
        response.close()
    assert answers[0] == answers[1]


def test_first_page(api, seeded, wsgi_urls, settings):  # noqa: F811
    settings.ROOT_URLCONF = __name__
    clear_url_caches()
    token = api.tokens.access
    _same_answer(token)
    rows = {"before": "/api/bench/feed-before?limit=20", "after": "/api/bench/feed-after?limit=20"}
    figures = {name: ([], []) for name in rows}
    for path_and_query in rows.values():
        _round(path_and_query, token, 30)
    for _ in range(ROUNDS):
        for name, path_and_query in rows.items():
            own, backend = _round(path_and_query, token, REQUESTS)
            figures[name][0].append(own)
            figures[name][1].append(backend)
    for name, (own, backend) in figures.items():
        own.sort(), backend.sort()
        middle = len(own) // 2
        print(
            f"feed first page {name:6s} process min {own[0]:.3f} med {own[middle]:.3f} | "
            f"PostgreSQL backend min {backend[0]:.3f} med {backend[middle]:.3f} ms CPU/request"
        )
    print(f"load average {os.getloadavg()}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans, left(regexp_replace(statement, '\\s+', ' ', 'g'), 70)"
            " FROM pg_prepared_statements ORDER BY statement"
        )
        for generic, custom, statement in cursor.fetchall():
            print(f"plans: {generic:5d} generic {custom:5d} custom  {statement}")
    claims = token_claims(BearerAuthentication().get_validated_token(token.encode()))
    refs_sql, params = selectors.refs_query(viewer_id=claims.user_id, page=PageRequest(limit=20, after=None))
    params["user"], params["session"] = claims.user_id, claims.session_id
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + selectors._SESSION_FEED_SQL.format(refs=refs_sql), params)
        print("\n".join(row[0] for row in cursor.fetchall()))
