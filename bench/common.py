"""What every part of the bench shares: where things are, running a command, the run's log."""

import os
import subprocess
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
