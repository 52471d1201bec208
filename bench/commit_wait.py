"""What a like toggle through the production shape waits for, besides CPU (issue #26: the like's
goal is missed while its CPU per request is within 0.1 ms of it). It seeds a small database of
its own (bench/shape_gap.py's), starts one shape of this tree with the bench's workers (one per
core), and runs wrk (-c16, as `make bench`) on the like toggle and, as a control, the first feed
page, in two modes that alternate round by round:

- durable: the server's own commit, which waits for the WAL's flush to disk (what the API runs);
- asynchronous: `ALTER DATABASE <its own database> SET synchronous_commit = off`, gunicorn's
  workers restarted (HUP) so their connections take it. An experiment only: the API never runs
  so, since an acknowledged like would be lost in a crash.

Per run: requests per second; the share of the machine's cores left idle (/proc/stat); gunicorn's
CPU per request; the WAL's flushes, flush time and bytes per request (pg_stat_wal, with
track_wal_io_timing on for its database; the cluster's figures, so nothing else should write
meanwhile); and what the database's backends were doing, sampled every 2 ms
(pg_stat_activity: running, or waiting on what). Not collected by the suite; run it by path:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/social_commit REDIS_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/commit_wait.py [ROUNDS] [SECONDS]

Its database is dropped and recreated and its Redis DB flushed: give it ones of your own.
"""

import collections
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench import run as bench_run  # noqa: E402
from bench.load import wrk  # noqa: E402
from bench.machine import idle_ticks  # noqa: E402
from bench.shape_gap import children_of, cpu_ticks, seeded_paths, shape_running  # noqa: E402

PATHS = ("like", "feed")
MODES = {"durable": "DEFAULT", "asynchronous": "off"}


def admin(database_url: str):
    """A connection to the same server's maintenance database (ALTER DATABASE, statistics)."""
    return psycopg.connect(urlparse(database_url)._replace(path="/postgres").geturl(), autocommit=True)


def mode_set(database_url: str, database: str, master: int, mode: str) -> None:
    with admin(database_url) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = {MODES[mode]}')
    # A database's settings reach a connection when it opens: new workers, new connections.
    old = children_of(master)
    os.kill(master, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = children_of(master)
        if len(now) >= len(old) and not now & old:
            return
        time.sleep(0.2)
    raise SystemExit("gunicorn's workers were not replaced after HUP")


def wal_stats(conn) -> tuple[int, float, int]:
    """(flushes, ms spent flushing, bytes) of the cluster's WAL since its statistics' reset."""
    row = conn.execute("SELECT wal_sync, wal_sync_time, wal_bytes FROM pg_stat_wal").fetchone()
    return int(row[0]), float(row[1]), int(row[2])


def measured(base: str, config: Path, *, seconds: int, database: str, master: int, database_url: str) -> dict:
    waits: collections.Counter = collections.Counter()
    stop = threading.Event()

    def sample() -> None:
        with admin(database_url) as conn:
            while not stop.is_set():
                for state, kind, event in conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend'",
                    (database,),
                ):
                    if state == "active":  # idle: waiting for the next statement from gunicorn
                        waits["running" if kind is None else f"{kind}:{event}"] += 1
                time.sleep(0.002)

    with admin(database_url) as conn:
        wal_before = wal_stats(conn)
        idle_before, ticks_before = idle_ticks(), cpu_ticks(master)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = wrk(base, config, duration=seconds, connections=16)
        finally:
            stop.set()
            sampler.join()
        idle_after, ticks_after = idle_ticks(), cpu_ticks(master)
        wal_after = wal_stats(conn)
    if result["non2xx"] or result["errors"]:
        raise SystemExit(f"{result['non2xx']} answers were not 2xx, {result['errors']} errors")
    requests = result["requests"]
    return {
        "rps": result["rps"],
        "idle": (idle_after[0] - idle_before[0]) / max(idle_after[1] - idle_before[1], 1),
        "gunicorn_ms": (ticks_after - ticks_before) / os.sysconf("SC_CLK_TCK") * 1000 / requests,
        "flushes": (wal_after[0] - wal_before[0]) / requests,
        "flush_ms": (wal_after[1] - wal_before[1]) / requests,
        "wal_bytes": (wal_after[2] - wal_before[2]) / requests,
        "waits": waits,
    }


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    database = urlparse(database_url).path.lstrip("/")
    work = Path(tempfile.mkdtemp(prefix="commit-wait-"))
    processes = bench_run.Processes(work)
    running, altered = ExitStack(), False  # the shape, stopped at the end
    try:
        env, configs = seeded_paths(processes, work, database_url=database_url, redis_url=redis_url)
        with admin(database_url) as conn:
            # Flush times are only counted where this is on (a superuser's setting).
            conn.execute(f'ALTER DATABASE "{database}" SET track_wal_io_timing = on')
            altered = True
        shape = running.enter_context(shape_running(ROOT, work, env, workers=os.cpu_count() or 1))
        master, base = shape.gunicorn, shape.base
        runs = {(name, mode): [] for name in PATHS for mode in MODES}
        for number in range(rounds):
            for mode in list(MODES) if number % 2 == 0 else list(MODES)[::-1]:
                mode_set(database_url, database, master, mode)
                for name in PATHS:
                    wrk(base, configs[name], duration=1, connections=16)  # warm-up of the new workers
                    run = measured(
                        base,
                        configs[name],
                        seconds=seconds,
                        database=database,
                        master=master,
                        database_url=database_url,
                    )
                    runs[name, mode].append(run)
        for name in PATHS:
            print(f"{name}: median of {rounds} runs of {seconds} s each (wrk -c16), {os.cpu_count()} sync workers")
            for mode in MODES:
                series = runs[name, mode]
                waits = sum((run["waits"] for run in series), collections.Counter())
                active = sum(waits.values()) or 1
                print(
                    f"  {mode:12s} req/s {statistics.median(r['rps'] for r in series):6.0f}"
                    f"  idle {statistics.median(r['idle'] for r in series):5.1%}"
                    f"  gunicorn {statistics.median(r['gunicorn_ms'] for r in series):.3f} ms/request"
                    f"  WAL: {statistics.median(r['flushes'] for r in series):.2f} flushes,"
                    f" {statistics.median(r['flush_ms'] for r in series):.3f} ms flushing,"
                    f" {statistics.median(r['wal_bytes'] for r in series):.0f} bytes a request"
                )
                print(
                    "               backends while active: "
                    + ", ".join(f"{what} {count / active:.0%}" for what, count in waits.most_common(5))
                )
            ratios = sorted(
                b["rps"] / a["rps"] for a, b in zip(runs[name, "durable"], runs[name, "asynchronous"], strict=True)
            )
            print(
                f"  asynchronous / durable req/s, per round: median {statistics.median(ratios):.3f}"
                f" ({ratios[0]:.3f}-{ratios[-1]:.3f})"
            )
        print("load average", Path("/proc/loadavg").read_text().split()[:3])
    finally:
        if altered:  # the database's own settings back to the server's (it is ours, reseeded each run)
            with admin(database_url) as conn:
                conn.execute(f'ALTER DATABASE "{database}" RESET ALL')
        running.close()
        processes.stop_all()


if __name__ == "__main__":
    main()
