"""A like toggle's Redis costs (issue #26), in one process, forms alternating (20 rounds of 100
toggles each, `bench/like_cpu.py`'s data and toggles): the cache's client and the event
publisher with redis-py's pure-Python reply parser and command packer ("python"), with its
defaults ("hiredis" when it is installed), and, for scale only, hiredis with the toggle's write
of the moved post encoding to the shared layer left out ("no write": what that write costs a
toggle; readers would pay a read and an encoding instead). Prints the client's CPU per toggle,
min and median over the rounds. Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_redis_ab.py -q -s
"""

import os
import statistics
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from redis._parsers import Encoder, _RESP3Parser
from redis.connection import DefaultParser, PythonRespSerializer
from redis.retry import Retry

from bench.like_cpu import paths, toggles  # noqa: F401
from posts import fragments
from social import fanout

ROUNDS, TOGGLES = 20, 100


def _python_options() -> dict:
    packer = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)
    return {"parser_class": _RESP3Parser, "command_packer": packer}


def _publisher(options: dict) -> redis.Redis:
    # As social.fanout._publisher_client builds it.
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_TIMEOUT,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
        retry=Retry(**settings.REDIS_RETRY),
        **options,
    )


@pytest.mark.django_db(transaction=True)
def test_like_redis_ab(api, paths, monkeypatch):  # noqa: F811 (the fixture)
    client = cache._cache
    base = dict(client._pool_options)
    python = {**base, **_python_options()}
    hiredis = {**base, "parser_class": DefaultParser}
    publishers = {"python": _publisher(_python_options()), "hiredis": _publisher({})}
    forms = {"python": (python, False), "hiredis": (hiredis, False), "no write": (hiredis, True)}
    shared_put = fragments._shared_put
    figures = {form: [] for form in forms}
    for _ in range(ROUNDS):
        for form, (options, skip) in forms.items():
            monkeypatch.setattr(client, "_pool_options", options)
            monkeypatch.setattr(client, "_pools", {})  # the pool of these options (social.cache)
            monkeypatch.setattr(fanout, "_publisher", publishers["python" if form == "python" else "hiredis"])
            monkeypatch.setattr(fragments, "_shared_put", (lambda *a, **k: None) if skip else shared_put)
            toggles(api, paths, 10)
            start = time.process_time()
            toggles(api, paths, TOGGLES)
            figures[form].append((time.process_time() - start) * 1000 / TOGGLES)
    print(f"\nload average {os.getloadavg()[0]:.1f}; ms CPU a toggle, min / median of {ROUNDS} rounds")
    for form, values in figures.items():
        print(f"{form:9s} {min(values):5.3f} / {statistics.median(values):5.3f}")
