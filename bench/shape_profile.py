"""Where a gunicorn worker of the production shape spends its CPU, by layer (issue #26: the
framework's share of every authenticated request). It seeds a small database of its own
(bench/shape_gap.py's), starts one shape (nginx -> one gunicorn sync worker over its Unix socket),
and for `/api/health`, a Bearer like toggle, the Bearer feed's first page and the chat list runs
wrk while py-spy samples the worker's main thread. Printed: the request's layers (gunicorn
outside the WSGI application, Django's handler outside the middleware, the middleware's own
work, URL resolution, DRF outside the view, the view), each sample given to the innermost frame
of a known package (self time), a few frames' inclusive shares, the hottest leaves. Not
collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/shape_profile.py [SECONDS] [RATE]

PYSPY_ARGS adds py-spy flags. Use `--gil` (only samples holding the GIL: the Python work): in
py-spy's default mode a thread that is runnable but not running (2 busy cores) or stopped by
py-spy itself counts as busy, so the socket calls showed 35-40% of `/api/health` while the
worker's system time (/proc) is ~5% of its CPU.

The worker's CPU per request is read from /proc over the same run, so a share times it is the
layer's microseconds per request. Needs py-spy (`.venv/bin/python -m pip install py-spy`) and the
rights to ptrace the worker (same user).
"""

import os
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run as bench_run  # noqa: E402
from bench.load import wrk  # noqa: E402
from bench.shape_gap import TICK, children_of, cpu_ticks, seeded_paths, shape_running  # noqa: E402

# (layer, test on a frame's "function (path:line)" as py-spy writes it, the path relative to its
# sys.path entry), innermost match wins; order matters where paths nest.
LAYERS = (
    ("psycopg", ("(psycopg/", "(psycopg_c/", "(psycopg_binary/")),
    ("redis", ("(redis/", "(django_redis/")),
    ("jwt (PyJWT, simplejwt)", ("(jwt/", "(rest_framework_simplejwt/")),
    ("prometheus_client", ("(prometheus_client/",)),
    ("logging", ("(logging/", "(social/logs.py")),
    ("DRF", ("(rest_framework/",)),
    ("corsheaders", ("(corsheaders/",)),
    ("whitenoise", ("(whitenoise/",)),
    ("django SecurityMiddleware", ("(django/middleware/security.py",)),
    ("django SessionMiddleware", ("(django/contrib/sessions/",)),
    ("django CommonMiddleware", ("(django/middleware/common.py",)),
    ("django CsrfViewMiddleware", ("(django/middleware/csrf.py",)),
    ("django AuthenticationMiddleware", ("(django/contrib/auth/middleware.py",)),
    ("django MessageMiddleware", ("(django/contrib/messages/",)),
    ("django XFrameOptionsMiddleware", ("(django/middleware/clickjacking.py",)),
    ("django middleware chain", ("(django/utils/deprecation.py", "(django/core/handlers/exception.py")),
    ("django urls", ("(django/urls/",)),
    ("django http (request, response)", ("(django/http/",)),
    ("django db", ("(django/db/",)),
    ("django signals", ("(django/dispatch/",)),
    ("django handler", ("(django/core/handlers/",)),
    ("django other", ("(django/",)),
    ("asgiref", ("(asgiref/",)),
    ("gunicorn", ("(gunicorn/",)),
    ("our middleware", ("(social/middleware.py",)),
    (
        "our code",
        tuple(
            f"({app}/"
            for app in ("accounts", "posts", "chats", "social", "notifications", "friends", "safety", "moderation")
        ),
    ),
    (
        "stdlib",
        (
            "(socket.py",
            "(email/",
            "(uuid.py",
            "(threading.py",
            "(datetime.py",
            "(json/",
            "(re/",
            "(urllib/",
            "(contextvars",
            "(time",
            "(io.py",
            "(selectors.py",
            "(os.py",
            "(functools.py",
        ),
    ),
)
# Inclusive shares: a sample counts once for each of these frames it passes through.
INCLUSIVE = (
    ("gunicorn handle (whole request)", "SyncWorker.handle (gunicorn/workers/sync.py"),
    ("gunicorn handle_request", "SyncWorker.handle_request (gunicorn/workers/sync.py"),
    ("WSGIHandler.__call__", "WSGIHandler.__call__ (django/core/handlers/wsgi.py"),
    ("WSGIRequest built", "WSGIRequest.__init__ (django/core/handlers/wsgi.py"),
    ("request_started/finished signals", "Signal.send (django/dispatch/dispatcher.py"),
    ("BaseHandler.get_response", "BaseHandler.get_response (django/core/handlers/base.py"),
    ("BaseHandler._get_response (resolve + view)", "BaseHandler._get_response (django/core/handlers/base.py"),
    ("resolve", "URLResolver.resolve (django/urls/resolvers.py"),
    ("DRF dispatch", "APIView.dispatch (rest_framework/views.py"),
    ("DRF initialize_request", "APIView.initialize_request (rest_framework/views.py"),
    ("DRF initial (auth, perms, throttles, negotiation)", "APIView.initial (rest_framework/views.py"),
    ("DRF perform_authentication", ".perform_authentication ("),
    ("DRF finalize_response", "APIView.finalize_response (rest_framework/views.py"),
    ("response render", "Response.rendered_content (rest_framework/response.py"),
    ("gunicorn response write", "Response.write (gunicorn/http/wsgi.py"),
    ("gunicorn start_response/headers", "Response.start_response (gunicorn/http/wsgi.py"),
    ("gunicorn close socket", "close (gunicorn/util.py"),
    ("RequestLogMiddleware.__call__", "RequestLogMiddleware.__call__ (social/middleware.py"),
    ("logger.info", "Logger.info (logging/__init__.py"),
    ("psycopg (any)", "(psycopg/"),
    ("redis (any)", "(redis/"),
)


# The view's own frame: a class-based view's handler, or the health function view.
VIEW = re.compile(r"(View\.(get|post|put|patch|delete) \(|^health \(social/health\.py)")
# (label, outer frame, inner frame): the outer's inclusive share less the inner's.
STEPS = (
    ("gunicorn outside the WSGI application", "gunicorn handle (whole request)", "WSGIHandler.__call__"),
    ("Django's handler outside the middleware", "WSGIHandler.__call__", "BaseHandler.get_response"),
    ("the middleware's own work", "BaseHandler.get_response", "BaseHandler._get_response (resolve + view)"),
    ("URL resolution", "resolve", None),
    ("DRF outside the view", "DRF dispatch", "view"),
    ("the view", "view", None),
)


def layer_of(frame: str) -> str | None:
    for layer, needles in LAYERS:
        if any(needle in frame for needle in needles):
            return layer
    return None


def profile(pid: int, seconds: int, rate: int, output: Path) -> None:
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--duration",
            str(seconds),
            "--output",
            str(output),
            *os.environ.get("PYSPY_ARGS", "").split(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarize(raw: Path) -> tuple[int, Counter, Counter, Counter]:
    selfs, inclusive, leaves, total = Counter(), Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        count = int(count)
        frames = stack.split(";")
        if "SyncWorker" not in stack:
            continue  # another thread of the worker (an idle pool's wait py-spy saw as running)
        total += count
        for frame in reversed(frames):
            layer = layer_of(frame)
            if layer:
                selfs[layer] += count
                break
        else:
            selfs["unattributed"] += count
        leaves[frames[-1]] += count
        for name, needle in INCLUSIVE:
            if any(needle in frame for frame in frames):
                inclusive[name] += count
        if any(VIEW.search(frame) for frame in frames):
            inclusive["view"] += count
    return total, selfs, inclusive, leaves


def print_summary(name: str, raw: Path, ms: float) -> None:
    total, selfs, inclusive, leaves = summarize(raw)
    print(f"  self time by layer (share of {total} samples of the main thread, µs/request):")
    for layer, count in selfs.most_common():
        print(f"    {layer:34s} {count / total:6.1%} {count / total * ms * 1000:7.1f}")
    print("  the request's layers:")
    for label, outer, inner in STEPS:
        count = inclusive[outer] - (inclusive[inner] if inner else 0)
        print(f"    {label:50s} {count / total:6.1%} {count / total * ms * 1000:7.1f}")
    print("  inclusive:")
    for label, _ in INCLUSIVE:
        count = inclusive[label]
        print(f"    {label:50s} {count / total:6.1%} {count / total * ms * 1000:7.1f}")
    print("  hottest leaves:")
    for frame, count in leaves.most_common(30):
        print(f"    {count / total:6.1%} {frame}")


def main() -> None:
    if sys.argv[1:2] == ["--raw"]:
        # Summarize saved profiles again: --raw DIR name=ms ...
        for pair in sys.argv[3:]:
            name, _, ms = pair.partition("=")
            print(f"\n== {name} ({ms} ms/request)")
            print_summary(name, Path(sys.argv[2]) / f"{name}.raw", float(ms))
        return
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 997
    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    work = Path(tempfile.mkdtemp(prefix="shape-profile-"))
    processes = bench_run.Processes(work)
    running = ExitStack()  # the shape, stopped at the end
    try:
        env, configs = seeded_paths(processes, work, database_url=database_url, redis_url=redis_url)
        shape = running.enter_context(shape_running(ROOT, work, env, workers=1))
        master, base = shape.gunicorn, shape.base
        (worker,) = children_of(master)
        for name, config in configs.items():
            wrk(base, config, duration=2, connections=4, threads=1)  # warm-up
            raw = work / f"{name}.raw"
            before = cpu_ticks(master)
            thread = threading.Thread(target=profile, args=(worker, seconds, rate, raw))
            thread.start()
            result = wrk(base, config, duration=seconds, connections=4, threads=1)
            thread.join()
            if result["non2xx"] or result["errors"]:
                raise SystemExit(f"{name}: {result['non2xx']} answers were not 2xx, {result['errors']} errors")
            ms = (cpu_ticks(master) - before) / TICK * 1000 / result["requests"]
            print(
                f"\n== {name}: {result['rps']:.0f} req/s, worker CPU {ms:.3f} ms/request (py-spy's cost included)",
                flush=True,
            )
            print_summary(name, raw, ms)
        print("\nraw profiles in", work)
        print("load average", Path("/proc/loadavg").read_text().split()[:3])
    finally:
        running.close()
        processes.stop_all()


if __name__ == "__main__":
    main()
