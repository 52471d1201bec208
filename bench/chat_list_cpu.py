"""The messenger's chat list `GET /api/chats?limit=20` (issue #26), the whole request's CPU in
process, a revision's list against the current one: Django's WSGI handler over the real
middleware with a Bearer token (as gunicorn runs it), on `bench/pages_cpu.py`'s data (the
reader's 200 chats of two members, 5 messages each). The baseline is another revision's
chats/selectors.py, serializers.py and views.py (CHAT_LIST_BASELINE=<git revision>, HEAD by
default), loaded beside the current modules; ChatListView's handler is switched between the
two, alternating ROUNDS rounds of REQUESTS requests each (the machine is shared: separate runs
differ by more than the cuts). CPU ms per request (`time.process_time`), least and median of
the rounds. Both answer the same bytes (first and next page) or the run fails. With
CHAT_LIST_PROFILE=1, also a cProfile of the current list (CHAT_LIST_SORT, tottime by default).
Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/chat_list_cpu.py -q -s
"""

import gc
import os
import subprocess
import sys
import time
import types
from pathlib import Path

from django.core.handlers.wsgi import WSGIHandler

from bench.common import cpu_profile_print
from bench.overhead_cpu import _environ, wsgi_urls  # noqa: F401 - wsgi_urls: a fixture
from bench.pages_cpu import seeded  # noqa: F401 - seeded: a fixture
from chats import views

REQUESTS = int(os.environ.get("CHAT_LIST_REQUESTS", "200"))
ROUNDS = int(os.environ.get("CHAT_LIST_ROUNDS", "11"))
PATH = "/api/chats?limit=20"


def _module_of_revision(revision: str, path: str, name: str, replace: dict) -> types.ModuleType:
    """`path` as of `revision`, run as a module `name` whose globals in `replace` are set
    (the baseline modules' references to each other) after it ran."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType(name)
    module.__file__ = f"{revision}:{path}"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    for key, getter in replace.items():
        if key in module.__dict__:
            module.__dict__[key] = getter()
    return module


def baseline_get(revision: str):
    """ChatListView.get of `revision`, with that revision's selectors and serializers."""
    selectors = _module_of_revision(revision, "chats/selectors.py", "baseline_chats_selectors", {})
    serializers = _module_of_revision(revision, "chats/serializers.py", "baseline_chats_serializers", {})
    module = _module_of_revision(
        revision,
        "chats/views.py",
        "baseline_chats_views",
        {"selectors": lambda: selectors, "chat_list_items": lambda: serializers.chat_list_items},
    )
    return module.ChatListView.get


def _answer(handler, path_and_query: str, token: str) -> tuple[str, list, bytes]:
    status = []
    response = handler(_environ(path_and_query, token), lambda code, headers: status.append((code, headers)))
    body = b"".join(response)
    response.close()
    code, headers = status[0]
    return code, [header for header in headers if header[0] == "Link"], body


def _cpu(handler, token: str, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        response = handler(_environ(PATH, token), lambda *args: None)
        b"".join(response)
        response.close()
    return (time.process_time() - start) * 1000 / n


def test_chat_list_cpu(api, seeded, wsgi_urls):  # noqa: F811
    token = api.tokens.access
    handler = WSGIHandler()
    current = views.ChatListView.get
    revision = os.environ.get("CHAT_LIST_BASELINE", "HEAD")
    gets = {"baseline": baseline_get(revision), "current": current}
    try:
        answers = {}
        for name, get in gets.items():
            views.ChatListView.get = get
            first = _answer(handler, PATH, token)
            link = first[1][0][1]
            following = _answer(handler, link[link.index("/api/") : link.index(">")], token)
            answers[name] = (first, following)
        assert answers["baseline"] == answers["current"], "the two revisions answer differently"
        cpu = {name: [] for name in gets}
        for get in gets.values():  # warm both: prepared statements, caches
            views.ChatListView.get = get
            _cpu(handler, token, 50)
        gc.collect()
        for _ in range(ROUNDS):
            for name, get in gets.items():
                views.ChatListView.get = get
                cpu[name].append(_cpu(handler, token, REQUESTS))
        for name, values in cpu.items():
            values.sort()
            print(
                f"{name:8s} ({revision if name == 'baseline' else 'worktree'}) min {values[0]:.3f} "
                f"med {values[len(values) // 2]:.3f} ms CPU/request ({ROUNDS} rounds of {REQUESTS})"
            )
        print(f"load average {os.getloadavg()}")
        if os.environ.get("CHAT_LIST_PROFILE"):
            views.ChatListView.get = current
            cpu_profile_print(
                lambda: _answer(handler, PATH, token), 300, sort=os.environ.get("CHAT_LIST_SORT", "tottime")
            )
    finally:
        views.ChatListView.get = current
