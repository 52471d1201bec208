"""The machine a run measured: cores, versions, load, a process's memory and CPU time."""

import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from bench.common import CORES
from scripts.processes import BIN


def machine() -> dict:
    def version(command, pattern=r"([\d.]+\d)"):
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=10)
            found = re.search(pattern, out.stdout + out.stderr)
            return found.group(1) if found else "?"
        except OSError:
            return "?"

    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    import django

    return {
        "cores": CORES,
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "memory_gb": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": version(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"]),
        "redis": version(["redis-cli", "-h", "127.0.0.1", "INFO", "server"], r"redis_version:([\d.]+)"),
        "nginx": version(["nginx", "-v"]) if shutil.which("nginx") else version(["/usr/sbin/nginx", "-v"]),
        "wrk": version(["wrk", "-v"]),
        "gunicorn": version([str(BIN / "gunicorn"), "--version"]),
        "daphne": version([str(BIN / "python"), "-c", "import daphne; print(daphne.__version__)"]),
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pressure_us(kind: str) -> int | None:
    """Microseconds during which some task on the machine waited for `kind` ("cpu": runnable
    but no core free; "io": blocked on a disk read or write, a commit's flush among them), since
    boot (the kernel's pressure stall information); None where the kernel has none. Over a run,
    its growth divided by the run's time is the share of the run that anything (ours or another
    engineer's) waited so: what turns a 5 ms delivery into a 30 ms one."""
    try:
        line = Path(f"/proc/pressure/{kind}").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    found = re.search(r"total=(\d+)", line)
    return int(found.group(1)) if found else None


def cpu_s(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far, in seconds: a figure the other
    load on the machine moves much less than a rate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def idle_ticks() -> tuple[int, int]:
    """(idle + I/O-wait clock ticks, all clock ticks) of the whole machine since boot, from
    /proc/stat: over a run, their growth's ratio is the share of the machine's cores that had
    nothing to run. A path served at full CPU leaves almost none; one whose requests wait on
    something that takes no CPU here (a disk flush) leaves the rest idle."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return values[3] + values[4], sum(values)


FLUSH_COMMITS = 200


def commit_ms(database_url: str) -> dict:
    """What one commit of a one-row insert costs on `database_url`'s server, in ms (median and
    least of FLUSH_COMMITS, each timed alone): durable (the server's own setting, which waits
    for the WAL's flush to disk) and with `synchronous_commit = off` for the timing's own
    transactions (which does not). Their difference is the flush a like toggle waits for."""
    figures = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A regular table: a temporary one writes no WAL, so its commit flushes nothing.
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commit (n int)")
        try:
            for mode, setting in (("durable", "on"), ("asynchronous", "off")):
                conn.execute(f"SET synchronous_commit = {setting}")
                times = []
                for n in range(FLUSH_COMMITS):
                    started = time.perf_counter()
                    conn.execute("INSERT INTO bench_commit VALUES (%s)", (n,))  # autocommit: its own commit
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                figures[mode] = {"median": times[len(times) // 2], "min": times[0]}
        finally:
            conn.execute("RESET synchronous_commit")
            conn.execute("DROP TABLE bench_commit")
    return figures
