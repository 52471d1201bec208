"""What each layer of the shared request path costs (issue #26), in process through Django's
WSGI handler as gunicorn calls it: a DRF view with a Bearer token answering a constant
(bench/overhead_cpu.py's), behind our whole middleware stack and behind the stack without one
middleware at a time, a plain Django view behind no middleware at all and behind the whole
stack, and the same with the request log line's logger turned off. The handlers alternate,
ROUNDS rounds of 300 requests each (the machine is shared: separate runs differ by more than a
layer costs); a layer's cost is the median over the rounds of (stack - stack without it).
Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/middleware_cost.py -q -s
"""

import gc
import logging
import os
import statistics
import time

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from bench.overhead_cpu import _environ, wsgi_urls  # noqa: F401 - wsgi_urls: a fixture
from bench.pages_cpu import seeded  # noqa: F401 - seeded: a fixture

REQUESTS = 300
ROUNDS = int(os.environ.get("MIDDLEWARE_ROUNDS", "11"))


def _handler(middleware: list[str]) -> WSGIHandler:
    with override_settings(MIDDLEWARE=middleware):
        return WSGIHandler()


def _leave_out(stack: list[str]) -> list[tuple[str, ...]]:
    """Each middleware alone, except Django's sessions and auth, which need each other."""
    pair = (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    )
    return [pair if name == pair[0] else (name,) for name in stack if name != pair[1]]


def _batch(handler: WSGIHandler, path: str, token: str) -> float:
    start = time.process_time()
    status = []
    for _ in range(REQUESTS):
        response = handler(_environ(path, token), lambda line, headers, exc_info=None: status.append(line))
        b"".join(response)
        response.close()
    assert all(line.startswith("200") for line in status), status[:3]
    return (time.process_time() - start) * 1000 / REQUESTS


def test_middleware_cost(api, seeded, wsgi_urls):  # noqa: F811 - seeded is the imported fixture
    token = api.tokens.access
    stack = list(settings.MIDDLEWARE)
    authenticated, plain = "/api/bench/authenticated", "/api/bench/plain"
    request_log = logging.getLogger("social.request")
    rows = {
        "DRF Bearer view, whole stack": (_handler(stack), authenticated, False),
        "DRF Bearer view, whole stack, no log line": (_handler(stack), authenticated, True),
        **{
            f"DRF Bearer view, without {'+'.join(n.rsplit('.', 1)[1] for n in names)}": (
                _handler([m for m in stack if m not in names]),
                authenticated,
                False,
            )
            for names in _leave_out(stack)
        },
        "DRF Bearer view, no middleware": (_handler([]), authenticated, False),
        "plain view, whole stack": (_handler(stack), plain, False),
        "plain view, no middleware": (_handler([]), plain, False),
    }
    figures = {name: [] for name in rows}
    for handler, path, _ in rows.values():
        _batch(handler, path, token)  # warm: prepared statements, per-process caches
    gc.collect()
    for number in range(ROUNDS):
        order = list(rows.items()) if number % 2 == 0 else list(rows.items())[::-1]
        for name, (handler, path, quiet) in order:
            request_log.disabled = quiet
            try:
                figures[name].append(_batch(handler, path, token))
            finally:
                request_log.disabled = False
    whole = figures["DRF Bearer view, whole stack"]
    print(f"\n{ROUNDS} rounds of {REQUESTS} requests, ms CPU a request: least / median; the layer's cost")
    for name, series in figures.items():
        base = whole if name.startswith("DRF") else figures["plain view, whole stack"]
        cost = statistics.median(b - s for b, s in zip(base, series, strict=True))
        print(f"  {name:58s} {min(series):.3f} / {statistics.median(series):.3f}   whole - this {cost * 1000:+7.1f} µs")
    print("load average", open("/proc/loadavg").read().split()[:3])
