"""The machine a run measured: cores, versions, load, a process's memory and CPU time."""

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

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


def cpu_pressure_us() -> int | None:
    """Microseconds during which some task on the machine was runnable but waited for a CPU,
    since boot (the kernel's pressure stall information); None where the kernel has none. Over
    a run, its growth divided by the run's time is the share of the run that anything (ours or
    another engineer's) queued for a core: what turns a 5 ms delivery into a 30 ms one."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
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
