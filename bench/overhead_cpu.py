"""CPU per request of the layers every authenticated read pays (issue #26), in process and
through Django's WSGI handler as gunicorn calls it (no test client): a plain Django view behind
our whole middleware stack, a DRF view with no authentication, the same view with a Bearer
token (the JWT and the user's query), then the hot pages on `bench/pages_cpu.py`'s data.
`time.process_time` over N requests, the least of five batches. The differences between rows
are the cost of each layer. Not collected by the suite (no `test_` file name); run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/overhead_cpu.py -q -s

OVERHEAD_PROFILE=<row> adds a cProfile (CPU time) of 300 requests of that row; OVERHEAD_SORT
picks its order (default cumulative). OVERHEAD_ROWS=<row>,<row> measures only those rows (a
quicker run while one layer is worked on).
"""

import gc
import io
import os
import time

import pytest
from django.core import signals
from django.db import close_old_connections
from django.http import JsonResponse
from django.urls import clear_url_caches, include, path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from bench.common import cpu_profile_print
from bench.pages_cpu import page_paths, seeded  # noqa: F401 - seeded: the pages' data, a fixture
from social.renderers import json_response
from social.wsgi import application

REQUESTS = 300


def _plain(request):
    return JsonResponse({"status": "ok"})


class _Anonymous(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return json_response(b'{"status":"ok"}')


class _Authenticated(APIView):
    def get(self, request):
        return json_response(b'{"status":"ok"}')


# ROOT_URLCONF of the run: the three bare views before the API's own routes.
urlpatterns = [
    path("api/bench/plain", _plain),
    path("api/bench/anonymous", _Anonymous.as_view()),
    path("api/bench/authenticated", _Authenticated.as_view()),
    path("", include("social.urls")),
]


def _environ(path_and_query: str, token: str) -> dict:
    route, _, query = path_and_query.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT": "*/*",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _get(path_and_query: str, token: str) -> str:
    status = []
    response = application(_environ(path_and_query, token), lambda line, headers, exc_info=None: status.append(line))
    b"".join(response)
    response.close()
    return status[0]


def cpu_ms(path_and_query: str, token: str) -> float:
    for _ in range(30):  # warm: prepared statements, per-process caches
        status = _get(path_and_query, token)
    assert status.startswith("200"), status
    gc.collect()
    batches = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(REQUESTS):
            _get(path_and_query, token)
        batches.append((time.process_time() - start) * 1000 / REQUESTS)
    return min(batches)


@pytest.fixture
def wsgi_urls(settings):
    # The test database lives in one transaction: the handler's per-request connection
    # closing (which gunicorn's workers do run) would end it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    settings.ROOT_URLCONF = __name__
    clear_url_caches()
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    clear_url_caches()


def test_overhead_cpu(api, seeded, wsgi_urls):  # noqa: F811 - seeded is the imported fixture
    token = api.tokens.access
    rows = {
        "plain view, our middleware": "/api/bench/plain",
        "DRF view, no authentication": "/api/bench/anonymous",
        "DRF view, Bearer token": "/api/bench/authenticated",
        "current_user": "/api/auth/current_user",
        **page_paths(seeded),
    }
    only = [name for name in os.environ.get("OVERHEAD_ROWS", "").split(",") if name]
    for name, path_and_query in rows.items():
        if only and name not in only:
            continue
        print(f"{name:28s} {cpu_ms(path_and_query, token):6.3f} ms CPU/request")
    name = os.environ.get("OVERHEAD_PROFILE")
    if name:
        cpu_profile_print(
            lambda: _get(rows[name], token), REQUESTS, sort=os.environ.get("OVERHEAD_SORT", "cumulative"), top=50
        )
