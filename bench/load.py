"""HTTP load with wrk, and the CPU time each kind of process spends per request (from /proc)."""

import json
import os
import re
import resource
from collections import Counter
from pathlib import Path

from bench.common import WRK_SCRIPT, run
from bench.machine import idle_ticks
from bench.stats import mmm


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string


def wrk_config(path: Path, requests: list[dict], method: str = "GET", content_type: str | None = None) -> Path:
    lines = ["return {", f"  method = {lua_string(method)},"]
    if content_type:
        lines.append(f"  content_type = {lua_string(content_type)},")
    lines.append("  requests = {")
    for r in requests:
        parts = [f"path = {lua_string(r['path'])}"]
        for key in ("token", "body_file"):
            if r.get(key):
                parts.append(f"{key} = {lua_string(str(r[key]))}")
        lines.append("    {" + ", ".join(parts) + "},")
    lines += ["  },", "}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(base: str, config: Path, *, duration: int, connections: int = 16, threads: int = 2) -> dict:
    output = run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            base,
            "--",
            str(config),
        ]
    ).stdout
    match = re.search(r"BENCH_JSON (\{.*\})", output)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    data["rps"] = data["requests"] / seconds
    data["ok_rps"] = (data["requests"] - data["non2xx"]) / seconds
    return data


def wrk_series(
    base: str, config: Path, settings: dict, *, connections: int = 16, floor: tuple[str, Path] | None = None
) -> dict:
    """Warm up, then settings['runs'] runs: throughput and latency, min/median/max, and the
    CPU time each kind of process spent per request over those runs.

    With `floor` (its base URL and config), settings['paired_runs'] runs instead, each right
    after a run of the floor, and `ratio` holds each pair's ratio. This machine's speed drifts
    by tens of percent within minutes (it is shared), so a goal's ratio compares figures taken
    seconds apart rather than the figure with a floor measured minutes earlier."""
    wrk(base, config, duration=settings["warmup"], connections=connections)
    results, floor_results = [], []
    cpu_s: Counter = Counter()
    idle, ticks_all = 0, 0
    for _ in range(settings["paired_runs"] if floor else settings["runs"]):
        if floor:
            floor_results.append(wrk(*floor, duration=settings["duration"], connections=connections))
        before, wrk_before, idle_before = cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN), idle_ticks()
        results.append(wrk(base, config, duration=settings["duration"], connections=connections))
        after, wrk_after, idle_after = cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN), idle_ticks()
        idle += idle_after[0] - idle_before[0]
        ticks_all += idle_after[1] - idle_before[1]
        for pid, (kind, ticks) in after.items():
            cpu_s[kind] += (ticks - before.get(pid, (kind, 0))[1]) / CLOCK_TICKS
        # wrk runs as our child: its time shows in our children's usage once it has exited.
        cpu_s["wrk"] += (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    bad = sum(r["non2xx"] + r["errors"] for r in results)
    if bad:
        print(f"  warning: {bad} non-2xx/errors in {config.name}", flush=True)
    requests = sum(r["requests"] for r in results)
    series = {
        "rps": mmm([r["ok_rps"] for r in results]),
        "p50_ms": mmm([r["p50_us"] / 1000 for r in results]),
        "p99_ms": mmm([r["p99_us"] / 1000 for r in results]),
        "errors": bad,
        "requests": requests,
        "cpu_ms_per_request": {kind: seconds * 1000 / max(requests, 1) for kind, seconds in cpu_s.items()},
        # The machine's cores left idle over the measured runs: near 0 for a path that is
        # CPU-bound here, more for one whose requests wait on what takes no CPU (a disk flush).
        "idle_share": idle / max(ticks_all, 1),
    }
    if floor:
        series["floor_rps"] = mmm([r["ok_rps"] for r in floor_results])
        series["ratio"] = mmm([r["ok_rps"] / f["ok_rps"] for r, f in zip(results, floor_results, strict=True)])
    return series


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_KINDS = ("gunicorn", "daphne", "nginx", "postgres", "redis-server", "moto_server")


def cpu_ticks() -> dict[str, tuple[str, int]]:
    """{pid: (kind, user + system clock ticks)} of the processes of the kinds in CPU_KINDS."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            # The command name is in parentheses and may hold spaces: fields follow the last ")".
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        kind = next((kind for kind in CPU_KINDS if kind in command), None)
        if kind is not None:
            found[pid] = (kind, int(fields[11]) + int(fields[12]))
    return found
