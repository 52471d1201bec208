"""The hooks themselves (see sitecustomize.py here); `install` also serves the probe's own process."""

import asyncio.events
import gc
import os
import time


def install(path: str, *, gc_thresholds: str | None = None) -> None:
    out = open(f"{path}.{os.getpid()}", "a", buffering=1)
    started = {}

    def on_gc(phase, info):
        now, cpu = time.perf_counter(), time.thread_time()
        if phase == "start":
            started["t"], started["cpu"] = now, cpu
            return
        began, used = started.get("t", now), (cpu - started.get("cpu", cpu)) * 1000
        out.write(
            f"gc {began:.6f} {(now - began) * 1000:.2f} cpu={used:.2f} gen{info['generation']} "
            f"collected={info['collected']}\n"
        )

    gc.callbacks.append(on_gc)

    run = asyncio.events.Handle._run

    def timed_run(self):
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            return run(self)
        finally:
            took = time.perf_counter() - began
            if took > 0.005:
                used = (time.thread_time() - cpu) * 1000
                out.write(f"slow {began:.6f} {took * 1000:.2f} cpu={used:.2f} {self._callback!r:.160}\n")

    asyncio.events.Handle._run = timed_run

    def timed(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def call(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.perf_counter() - began
                if took > 0.003:
                    out.write(f"{label} {began:.6f} {took * 1000:.2f}\n")

        setattr(owner, name, call)

    forced = gc_thresholds or os.environ.get("SOCKSTALL_GC_THRESHOLDS")
    if forced:
        # The A/B of the servers' thresholds: social.gc_tuning's call sets these instead.
        values = tuple(int(value) for value in forced.split(","))
        set_threshold = gc.set_threshold

        def forced_threshold(*asked):
            out.write(f"thresholds {time.perf_counter():.6f} 0 {values} instead of {asked}\n")
            set_threshold(*values)

        gc.set_threshold = forced_threshold

    try:
        import psycopg
        import redis.client
    except ImportError:
        return
    timed(psycopg.Connection, "commit", "commit")
    timed(psycopg.Cursor, "execute", "execute")
    timed(redis.client.Redis, "publish", "publish")
