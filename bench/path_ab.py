"""The shared request path's cuts (issue #26, `path` pass), before and after in one process:
two WSGI handlers, one with Django's MessageMiddleware, django-cors-headers' CorsMiddleware,
DRF's DefaultContentNegotiation and a new psycopg cursor per prepared statement (before), one
with social.middleware's, social.negotiation's and the connection's kept cursor (after),
alternating 15 rounds of 300 requests each on the rows of `bench/overhead_cpu.py` (the machine
is shared: separate runs differ by more than the cuts). CPU ms per request, least and median of
the rounds; then the next page's Link built both ways. Not collected by the suite; run it by
path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/path_ab.py -q -s
"""

import time

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory, override_settings
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import APIView

from bench.overhead_cpu import _environ, wsgi_urls  # noqa: F401 - wsgi_urls: a fixture
from bench.pages_cpu import page_paths, seeded  # noqa: F401 - seeded: a fixture
from social.negotiation import ContentNegotiation
from social.pagination import next_link
from social.postgresql.base import DatabaseWrapper, PreparingCursor

_BEFORE = {
    "social.middleware.CorsMiddleware": "corsheaders.middleware.CorsMiddleware",
    "social.middleware.MessageMiddleware": "django.contrib.messages.middleware.MessageMiddleware",
}


def _handler(middleware: list[str]) -> WSGIHandler:
    with override_settings(MIDDLEWARE=middleware):
        return WSGIHandler()


_KEPT_CURSOR = DatabaseWrapper.prepared_cursor


def _new_cursor_each(self):
    # prepared_cursor before the kept cursor: a new PreparingCursor per statement.
    self.close_if_health_check_failed()
    self.ensure_connection()
    with self.wrap_database_errors:
        return self._prepare_cursor(PreparingCursor(self.connection))


def _cpu(handler, before: bool, path_and_query, token, n=300) -> float:
    APIView.content_negotiation_class = DefaultContentNegotiation if before else ContentNegotiation
    DatabaseWrapper.prepared_cursor = _new_cursor_each if before else _KEPT_CURSOR
    start = time.process_time()
    for _ in range(n):
        environ = _environ(path_and_query, token)
        response = handler(environ, lambda *args: None)
        b"".join(response)
        response.close()
    return (time.process_time() - start) * 1000 / n


def test_path_ab(api, seeded, wsgi_urls):  # noqa: F811
    token = api.tokens.access
    before = _handler([_BEFORE.get(name, name) for name in settings.MIDDLEWARE])
    after = _handler(list(settings.MIDDLEWARE))
    rows = {
        "plain view, our middleware": "/api/bench/plain",
        "DRF view, Bearer token": "/api/bench/authenticated",
        **page_paths(seeded),
    }
    try:
        for name, path_and_query in rows.items():
            a, b = [], []
            _cpu(before, True, path_and_query, token, 30)
            _cpu(after, False, path_and_query, token, 30)
            for _ in range(15):
                a.append(_cpu(before, True, path_and_query, token))
                b.append(_cpu(after, False, path_and_query, token))
            a.sort(), b.sort()
            print(
                f"{name:28s} before min {a[0]:.3f} med {a[7]:.3f} | after min {b[0]:.3f} med {b[7]:.3f} ms CPU/request"
            )
    finally:
        APIView.content_negotiation_class = ContentNegotiation
        DatabaseWrapper.prepared_cursor = _KEPT_CURSOR
    request = RequestFactory().get("/api/posts/all?limit=20&cursor=eyJrIjpbIjIwMjYiXX0")

    def link_before():
        params = request.GET.copy()
        params["cursor"] = "eyJrIjpbIjIwMjUiXX0"
        return {"Link": f'<{request.build_absolute_uri(request.path + "?" + params.urlencode())}>; rel="next"'}

    assert link_before() == next_link(request, "eyJrIjpbIjIwMjUiXX0")
    a, b = [], []
    for _ in range(15):
        for runs, build in ((a, link_before), (b, lambda: next_link(request, "eyJrIjpbIjIwMjUiXX0"))):
            start = time.process_time()
            for _ in range(1000):
                build()
            runs.append((time.process_time() - start) * 1000)
    a.sort(), b.sort()
    print(f"{'next page Link':28s} before min {a[0]:.1f} med {a[7]:.1f} | after min {b[0]:.1f} med {b[7]:.1f} us")
