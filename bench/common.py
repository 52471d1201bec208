"""What every part of the bench shares: where things are, running a command, the run's log."""

import cProfile
import os
import pstats
import subprocess
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
WRK_SCRIPT = ROOT / "bench" / "wrk.lua"
CORES = os.cpu_count() or 1


def run(command: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, check=True, text=True, capture_output=True, **kwargs)


def log(text: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {text}", flush=True)


def cpu_profile_print(call, times: int, *, sort: str = "cumulative", top: int = 45) -> None:
    """Print the `top` functions of `times` calls of `call()` under cProfile, counting CPU time:
    a wait on PostgreSQL, Redis or S3 is not this process's cost (the in-process harnesses)."""
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for _ in range(times):
        call()
    profile.disable()
    pstats.Stats(profile).sort_stats(sort).print_stats(top)
