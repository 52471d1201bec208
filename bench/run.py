"""`make bench`: load figures of the production shape on this machine, written to bench/RESULTS.md.

    .venv/bin/python -m bench.run [--quick]

It uses its own services only: the database `social_bench` (dropped and recreated), Redis DB 9
(flushed) and a moto S3 server it starts. It seeds demo data (manage.py seed_demo), starts the
production shape (scripts.serve.Shape: nginx -> gunicorn + daphne), a single daphne and the
bare-Django floor (bench/floor, gunicorn), drives them with wrk (HTTP) and an asyncio WebSocket
client (chat), and stops every process it started, also on an error or Ctrl-C. All traffic goes
to 127.0.0.1. Every figure is min / median / max over repeated runs.
"""

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.metrics_cost import metric_ops_us, metrics_cost, metrics_cost_lines  # noqa: E402
from scripts.serve import Shape, free_port  # noqa: E402

BIN = Path(sys.executable).parent
# Overridable, so a bench beside other users of the machine's services keeps to its own.
DB_NAME = os.environ.get("BENCH_DB_NAME", "social_bench")
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "9"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
BUCKET = "bench-media"
RESULTS = ROOT / "bench" / "RESULTS.md"
WRK_SCRIPT = ROOT / "bench" / "wrk.lua"
CORES = os.cpu_count() or 1

# What the run does; --quick shortens it for trying the driver out.
SETTINGS = {
    "duration": 5,  # seconds per wrk run
    "runs": 3,  # wrk runs per figure (min / median / max)
    "paired_runs": 5,  # runs of a goal's figure, each after a floor run (wrk_series)
    "warmup": 1,
    "small": {"users": 2000, "posts": 2000, "likes": 20000, "views": 5000, "chats": 100, "messages": 20000},
    "large": {"users": 3000, "posts": 48000, "likes": 480000, "views": 95000, "chats": 150, "messages": 80000},
    "chat_paced": 100,  # messages per paced run
    "chat_rate": 10,  # messages/s of a paced run: one socket's flood limit (CHAT_MESSAGE_RATE)
    "chat_flood": 300,  # messages per throughput run
    "idle_sockets": 1000,
    "logins": 30,
    "deep_pages": 2000,  # random cursors of the "pages from anywhere" feed figure
}
QUICK = {
    **SETTINGS,
    "duration": 2,
    "runs": 2,
    "paired_runs": 2,
    "chat_paced": 30,
    "chat_flood": 100,
    "idle_sockets": 200,
    "logins": 8,
}
QUICK["large"] = {"users": 500, "posts": 8000, "likes": 80000, "views": 8000, "chats": 20, "messages": 5000}


# --- processes ---------------------------------------------------------------------------------
class Processes:
    """Every process the bench starts; `stop_all` ends them (children first-in, last-out)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.popen: list[subprocess.Popen] = []
        self.shapes: list[Shape] = []

    def spawn(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.popen.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process in self.popen:
            self.popen.remove(process)

    def stop_all(self) -> None:
        for shape in reversed(self.shapes):
            shape.stop()
        self.shapes.clear()
        for process in reversed(list(self.popen)):
            self.stop(process)


def daphne_command(port: int) -> list[str]:
    """A daphne like the shape's (scripts/serve.py), on its own port."""
    return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "social.asgi:application"]


def wait_http(url: str, process: subprocess.Popen | None = None, timeout: float = 60.0, status: int = 200) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == status:
                    return
        except urllib.error.HTTPError as error:
            if error.code == status:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer {status} within {timeout}s")


def run(command: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, check=True, text=True, capture_output=True, **kwargs)


# --- statistics ----------------------------------------------------------------------------------
def mmm(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def fmt(stats: dict, digits: int = 0, unit: str = "") -> str:
    f = f"{{:,.{digits}f}}"
    return f"{f.format(stats['median'])}{unit} ({f.format(stats['min'])}–{f.format(stats['max'])})"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# --- wrk -----------------------------------------------------------------------------------------
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
    for _ in range(settings["paired_runs"] if floor else settings["runs"]):
        if floor:
            floor_results.append(wrk(*floor, duration=settings["duration"], connections=connections))
        before, wrk_before = cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
        results.append(wrk(base, config, duration=settings["duration"], connections=connections))
        after, wrk_after = cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
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


# --- the machine ---------------------------------------------------------------------------------
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


def rss_kb(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


# --- WebSocket clients -------------------------------------------------------------------------
async def ws_connect(port: int, chat_id, user_id, token: str):
    import websockets

    url = f"ws://127.0.0.1:{port}/api/chats/ws/{chat_id}/{user_id}?token={token}"
    return await websockets.connect(url, max_size=2**20, open_timeout=30, ping_interval=None)


WARMUP_MESSAGES = 10


async def chat_fanout(ports: tuple[int, int], chat_id, sender, members, settings: dict) -> dict:
    """One sender (on the first daphne) to len(members) members split over both daphnes.

    Paced runs give delivery latency (send → each member's receipt, one clock: all sockets are in
    this process); flood runs give messages/s (all messages delivered to every member)."""
    receivers = []
    for index, (user_id, token) in enumerate(members):
        receivers.append(await ws_connect(ports[index % 2], chat_id, user_id, token))
    sender_socket = await ws_connect(ports[0], chat_id, *sender)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    received = {"total": 0}
    done = asyncio.Event()
    expected = {"count": 0}

    async def listen(socket):
        async for frame in socket:
            now = time.perf_counter()
            message = json.loads(frame)
            key = message.get("message")
            if key in sent:
                latencies.append((now - sent[key]) * 1000)
                received["total"] += 1
                if received["total"] >= expected["count"]:
                    done.set()

    async def drain_sender():
        async for _ in sender_socket:
            pass

    tasks = [asyncio.create_task(listen(s)) for s in receivers] + [asyncio.create_task(drain_sender())]
    total = len(receivers)
    results = {"paced_p50": [], "paced_p99": [], "paced_max": [], "flood_mps": [], "flood_dps": []}
    try:
        # Warm-up, as wrk has one: the first messages pay for connections and caches of both
        # processes (≈ 80–200 ms for the very first), which is not a steady-state latency.
        expected["count"] = WARMUP_MESSAGES * total
        for i in range(WARMUP_MESSAGES):
            key = f"warm-up {i} {secrets.token_hex(4)}"
            sent[key] = time.perf_counter()
            await sender_socket.send(json.dumps({"message": key}))
            await asyncio.sleep(0.05)
        await asyncio.wait_for(done.wait(), timeout=60)
        for run_index in range(settings["runs"]):
            # Paced: a steady rate, the latency a member sees.
            latencies.clear()
            received["total"] = 0
            sent.clear()
            done.clear()
            expected["count"] = settings["chat_paced"] * total
            interval = 1 / settings["chat_rate"]
            start = time.perf_counter()
            for i in range(settings["chat_paced"]):
                key = f"paced {run_index} {i} {secrets.token_hex(4)}"
                sent[key] = time.perf_counter()
                await sender_socket.send(json.dumps({"message": key}))
                await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.perf_counter()))
            await asyncio.wait_for(done.wait(), timeout=60)
            results["paced_p50"].append(percentile(latencies, 50))
            results["paced_p99"].append(percentile(latencies, 99))
            results["paced_max"].append(max(latencies))
            # Flood: as fast as the sender's socket takes them.
            received["total"] = 0
            sent.clear()
            done.clear()
            expected["count"] = settings["chat_flood"] * total
            start = time.perf_counter()
            for i in range(settings["chat_flood"]):
                key = f"flood {run_index} {i} {secrets.token_hex(4)}"
                sent[key] = time.perf_counter()
                await sender_socket.send(json.dumps({"message": key}))
            await asyncio.wait_for(done.wait(), timeout=120)
            elapsed = time.perf_counter() - start
            results["flood_mps"].append(settings["chat_flood"] / elapsed)
            results["flood_dps"].append(settings["chat_flood"] * total / elapsed)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(s.close() for s in [*receivers, sender_socket]), return_exceptions=True)
    return {key: mmm(values) for key, values in results.items()}


async def idle_sockets(port: int, pid: int, chat_id, members, count: int) -> dict:
    """RSS growth of one daphne over `count` open, idle sockets (after a warm-up of 20)."""
    sockets = []
    limit = asyncio.Semaphore(50)

    async def open_one(i):
        async with limit:
            user_id, token = members[i % len(members)]
            sockets.append(await ws_connect(port, chat_id, user_id, token))

    try:
        await asyncio.gather(*(open_one(i) for i in range(20)))
        await asyncio.sleep(1)
        before = rss_kb(pid)
        await asyncio.gather(*(open_one(i) for i in range(count)))
        await asyncio.sleep(3)
        after = rss_kb(pid)
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return {"before_mb": before / 1024, "after_mb": after / 1024, "growth_mb": (after - before) / 1024}


# --- the bench -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs and smaller data, to try the driver")
    parser.add_argument("--output", default=str(RESULTS))
    options = parser.parse_args()
    settings = QUICK if options.quick else SETTINGS

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

    work = Path(tempfile.mkdtemp(prefix="social-bench-"))
    processes = Processes(work)
    began = time.monotonic()
    try:
        figures = bench(processes, work, settings)
        figures["elapsed_s"] = time.monotonic() - began
        write_results(Path(options.output), figures, quick=options.quick)
        print(f"wrote {options.output} in {figures['elapsed_s']:.0f} s", flush=True)
    except KeyboardInterrupt:
        print("interrupted: stopping every process the bench started", file=sys.stderr)
        sys.exit(130)
    finally:
        processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def log(text: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {text}", flush=True)


def bench(processes: Processes, work: Path, settings: dict) -> dict:
    figures: dict = {"load_before": load_average(), "settings": settings}
    run(["scripts/ensure-services.sh"])
    log(f"database {DB_NAME} (recreated), Redis DB {REDIS_DB} (flushed)")
    run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DB_NAME])
    run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB_NAME])
    run(["redis-cli", "-h", "127.0.0.1", "-n", str(REDIS_DB), "FLUSHDB"])

    moto_port = free_port()
    moto_command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)]
    moto = processes.spawn("moto", moto_command, dict(os.environ))
    wait_http(f"http://127.0.0.1:{moto_port}/moto-api/", moto)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "social.settings",
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "COOKIE_SECURE": "0",
        "STATIC_MANIFEST": "0",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_S3_ADDRESSING_STYLE": "path",
        "AWS_S3_URL_PROTOCOL": "http:",
        # The bench logs in and chats far faster than one client may: lift those limits only.
        "AUTH_RATE_LIMIT": "1000000/min",
        "CHAT_MESSAGE_RATE": "100000",
        "CHAT_MESSAGE_BURST": "100000",
    }
    for key in ("WEB_CONCURRENCY", "DB_POOL", "PORT"):
        env.pop(key, None)
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)

    manage = [str(BIN / "python"), "manage.py"]
    run([*manage, "migrate", "--noinput", "-v", "0"], env)

    def seed(counts: dict) -> dict:
        args = [f"--{key}={value}" for key, value in counts.items()]
        started = time.perf_counter()
        out = run([*manage, "seed_demo", *args, "-v", "2"], env).stdout
        total = time.perf_counter() - started
        pool = re.search(r"in ([\d.]+) s \(([\d.]+) s without", out)
        log(out.strip().splitlines()[-1])
        return {"counts": counts, "wall_s": total, "command_s": float(pool.group(1)), "no_pool_s": float(pool.group(2))}

    log(f"seeding {settings['small']}")
    figures["seed_small"] = seed(settings["small"])

    # The driver's own Django (tokens, ids, the bench chat), on the same database.
    os.environ.update({k: v for k, v in env.items() if k != "DB_POOL"})
    os.environ["DB_POOL"] = "0"
    import django

    django.setup()
    figures["machine"] = machine()

    from accounts.models import User
    from accounts.services import session_start

    def tokens_for(users) -> list[tuple[str, str]]:
        return [(str(u.pk), session_start(user=u).access) for u in users]

    readers = tokens_for(User.objects.order_by("?")[:16])

    floor_port, shape_port, daphne_port = free_port(), free_port(), free_port()
    floor = processes.spawn(
        "floor",
        [
            str(BIN / "gunicorn"),
            "bench.floor.wsgi:application",
            "--bind",
            f"127.0.0.1:{floor_port}",
            "--workers",
            str(CORES),
            "--control-socket",
            str(work / "floor.ctl"),
        ],
        {**env, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"},
    )
    shape_log = open(work / "shape.log", "ab")
    shape = Shape(shape_port, env=env, log=shape_log)
    processes.shapes.append(shape)
    shape.start()
    single = processes.spawn(
        "daphne-single",
        daphne_command(daphne_port),
        env,
    )
    wait_http(f"http://127.0.0.1:{floor_port}/floor", floor)
    shape.wait_ready()
    wait_http(f"http://127.0.0.1:{daphne_port}/api/health", single)
    figures["workers"] = shape.workers
    shape_base, floor_base, daphne_base = (f"http://127.0.0.1:{p}" for p in (shape_port, floor_port, daphne_port))

    def cfg(name, requests, **kwargs):
        return wrk_config(work / f"{name}.lua", requests, **kwargs)

    log("(1) floor and /api/health")
    floor_cfg = cfg("floor", [{"path": "/floor"}])
    figures["floor"] = wrk_series(floor_base, floor_cfg, settings)
    paired = {"floor": (floor_base, floor_cfg)}
    health = cfg("health", [{"path": "/api/health"}])
    figures["health_shape"] = wrk_series(shape_base, health, settings, **paired)
    figures["health_daphne"] = wrk_series(daphne_base, health, settings)

    feed = cfg("feed", [{"path": "/api/posts/all?limit=20", "token": token} for _, token in readers])
    log("(2) feed at 2k posts")
    figures["feed_small"] = wrk_series(shape_base, feed, settings, **paired)
    figures["feed_small_daphne"] = wrk_series(daphne_base, feed, settings)

    log("(2b) metrics on vs off: health and feed at 2k posts, paired")

    def start_shape(extra: dict) -> Shape:
        other = Shape(free_port(), env={**env, **extra}, log=shape_log)
        processes.shapes.append(other)
        other.start()
        other.wait_ready()
        return other

    figures["metrics_cost"] = metrics_cost(
        wrk_series=wrk_series,
        start_shape=start_shape,
        on_base=shape_base,
        configs={"`/api/health`": health, "feed at 2k posts": feed},
        settings=settings,
    )
    figures["metrics_cost"]["ops_us"] = metric_ops_us(str(BIN / "python"), ROOT)
    for line in metrics_cost_lines(figures["metrics_cost"], fmt)[-5:-1]:
        log(line)  # now: the run may end early, its figures are written at the end

    log(f"seeding {settings['large']}")
    figures["seed_large"] = seed(settings["large"])
    from posts.models import Like, Post

    figures["rows"] = {"posts": Post.objects.count(), "likes": Like.objects.count(), "users": User.objects.count()}
    log("(2) feed at 50k posts")
    figures["feed_large"] = wrk_series(shape_base, feed, settings, **paired)
    # Pages from all over the table: each process meets posts it has not encoded yet
    # (posts/fragments.py) until its POST_CACHE_BYTES is full, then evicts the oldest.
    from social.pagination import encode_cursor

    anywhere = Post.objects.order_by("?").values_list("created_at", "pk")[: settings["deep_pages"]]
    deep = cfg(
        "feed_deep",
        [
            {"path": f"/api/posts/all?limit=20&cursor={encode_cursor([at.isoformat(), pk])}", "token": token}
            for (at, pk), (_, token) in zip(anywhere, itertools.cycle(readers), strict=False)
        ],
    )
    log("(2) feed at 50k posts, pages from anywhere")
    figures["feed_deep"] = wrk_series(shape_base, deep, settings)
    log("(2) feed at 50k posts, encodings off (POST_CACHE_BYTES=0)")
    uncached = Shape(free_port(), env={**env, "POST_CACHE_BYTES": "0"}, log=shape_log)
    processes.shapes.append(uncached)
    uncached.start()
    uncached.wait_ready()
    figures["feed_large_uncached"] = wrk_series(f"http://127.0.0.1:{uncached.port}", feed, settings)
    uncached.stop()
    # Every request is a first page: the recommended feed's heavy path (candidates, scores,
    # snapshot); next pages cost what a feed page costs.
    recommended = cfg(
        "recommended", [{"path": "/api/posts/recommended?limit=20", "token": token} for _, token in readers]
    )
    log("(2) recommended feed at 50k posts")
    figures["recommended_large"] = wrk_series(shape_base, recommended, settings)

    log("(3) like toggle, post create")
    recent = list(Post.objects.order_by("-created_at").values_list("pk", flat=True)[:200])
    likes = cfg(
        "like",
        [
            {"path": f"/api/posts/{recent[(i * 7 + j) % len(recent)]}/like/{user_id}", "token": token}
            for i, (user_id, token) in enumerate(readers)
            for j in range(10)
        ],
        method="PATCH",
    )
    figures["like_toggle"] = wrk_series(shape_base, likes, settings)
    boundary = "benchboundary" + secrets.token_hex(8)
    image = post_image_bytes()
    creates = []
    for i, (user_id, token) in enumerate(readers):
        body = work / f"create-{i}.body"
        body.write_bytes(multipart(boundary, {"author": user_id, "description": f"Пост из бенчмарка {i}"}, image))
        creates.append({"path": "/api/posts/create", "token": token, "body_file": body})
    create = cfg("create", creates, method="POST", content_type=f"multipart/form-data; boundary={boundary}")
    figures["post_create"] = wrk_series(shape_base, create, settings)
    figures["post_create_image_kb"] = len(image) / 1024

    log("(4) login")
    figures["login"] = login_figures(shape_port, settings, work)

    log("(5) chat fan-out on two daphne processes")
    from chats.models import Chat, ChatMember

    members_users = list(User.objects.order_by("?")[:101])
    chat = Chat.objects.create(title="Бенчмарк")
    ChatMember.objects.bulk_create([ChatMember(chat=chat, user=u) for u in members_users])
    members = tokens_for(members_users)
    ws_ports = (free_port(), free_port())
    daphnes = [
        processes.spawn(
            f"daphne-chat-{i}",
            daphne_command(port),
            env,
        )
        for i, port in enumerate(ws_ports)
    ]
    for port, process in zip(ws_ports, daphnes, strict=True):
        wait_http(f"http://127.0.0.1:{port}/api/health", process)
    figures["chat"] = asyncio.run(chat_fanout(ws_ports, chat.pk, members[0], members[1:], settings))
    figures["chat_members"] = len(members) - 1
    for process in daphnes:
        processes.stop(process)

    log("(6) memory of idle sockets")
    samples = []
    for i in range(settings["runs"]):
        port = free_port()
        process = processes.spawn(
            f"daphne-idle-{i}",
            daphne_command(port),
            env,
        )
        wait_http(f"http://127.0.0.1:{port}/api/health", process)
        samples.append(asyncio.run(idle_sockets(port, process.pid, chat.pk, members, settings["idle_sockets"])))
        processes.stop(process)
    figures["idle"] = {key: mmm([s[key] for s in samples]) for key in samples[0]}
    figures["idle_sockets"] = settings["idle_sockets"]

    processes.stop_all()
    shape_log.close()
    figures["load_after"] = load_average()
    return figures


def post_image_bytes() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (800, 600), (90, 140, 200))
    draw = ImageDraw.Draw(image)
    for i in range(0, 800, 40):
        draw.line([(i, 0), (800 - i, 600)], fill=(255, 200 - i // 8, i // 4), width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def multipart(boundary: str, fields: dict, image: bytes) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="images"; filename="bench.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + image
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def login_figures(port: int, settings: dict, work: Path) -> dict:
    """Sequential logins through the shape (latency), wrk logins (throughput), and the cost of
    one Argon2 verification measured in this process."""
    import http.client

    from django.contrib.auth.hashers import check_password, make_password

    from accounts.models import User
    from demo.seeding import DEMO_PASSWORD

    users = list(User.objects.filter(username__startswith="demo_").order_by("?")[: settings["logins"]])
    latencies = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for user in users:
        body = json.dumps({"email": user.email, "password": DEMO_PASSWORD})
        started = time.perf_counter()
        connection.request("POST", "/api/auth/login", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"login answered {response.status}")
    connection.close()
    encoded = make_password(DEMO_PASSWORD)
    hashes = []
    for _ in range(settings["logins"]):
        started = time.perf_counter()
        check_password(DEMO_PASSWORD, encoded)
        hashes.append((time.perf_counter() - started) * 1000)
    # Throughput: 16 connections of logins (each a new session).
    requests = []
    for i, user in enumerate(users[:16]):
        body = work / f"login-{i}.body"
        body.write_text(json.dumps({"email": user.email, "password": DEMO_PASSWORD}))
        requests.append({"path": "/api/auth/login", "body_file": body})
    config = wrk_config(work / "login.lua", requests, method="POST", content_type="application/json")
    throughput = wrk_series(f"http://127.0.0.1:{port}", config, settings)
    return {"latency_ms": mmm(latencies), "argon2_ms": mmm(hashes), "wrk": throughput}


# --- RESULTS.md ----------------------------------------------------------------------------------
CPU_ROWS = [
    ("(1) floor", "floor"),
    ("(1) `/api/health` through the shape", "health_shape"),
    ("(2) feed at 2k posts", "feed_small"),
    ("(2) feed at 50k posts, first page", "feed_large"),
    ("(2) feed at 50k posts, pages from anywhere", "feed_deep"),
    ("(2) feed at 50k posts, encodings off", "feed_large_uncached"),
    ("(3) like toggle", "like_toggle"),
]


def write_results(path: Path, f: dict, *, quick: bool) -> None:
    m = f["machine"]
    floor = f["floor"]["rps"]["median"]
    f["login_wrk"] = f["login"]["wrk"]

    def ratio(key: str) -> str:
        if "ratio" in f[key]:  # paired with floor runs (wrk_series)
            return f"{f[key]['ratio']['median']:.3f} (paired)"
        return f"{f[key]['rps']['median'] / floor:.2f}"

    def http_row(label: str, key: str, note: str = "") -> str:
        x = f[key]
        return (
            f"| {label} | {fmt(x['rps'])} | {fmt(x['p50_ms'], 1)} | {fmt(x['p99_ms'], 1)} | {ratio(key)} | "
            f"{x['errors']} | {note} |"
        )

    login = f["login"]
    argon_share = login["argon2_ms"]["median"] / login["latency_ms"]["median"]
    chat = f["chat"]
    idle = f["idle"]
    per_socket_kb = idle["growth_mb"]["median"] * 1024 / f["idle_sockets"]
    # The goals' ratios: medians of per-pair ratios (each run against a floor run just before).
    feed_ratio = f["feed_large"]["ratio"]["median"]
    feed_vs_small = feed_ratio / f["feed_small"]["ratio"]["median"]
    health_ratio = f["health_shape"]["ratio"]["median"]

    def spread(key: str) -> str:
        r = f[key]["ratio"]
        return f"{r['min']:.3f}–{r['max']:.3f} over {r['n']} pairs"

    s = f["settings"]
    large = f["seed_large"]

    def cpu_row(label: str, key: str) -> str:
        cpu = f[key].get("cpu_ms_per_request", {})
        kinds = ["gunicorn", "postgres", "nginx", "redis-server", "daphne", "moto_server", "wrk"]
        cells = [f"{cpu.get(kind, 0):.3f}" for kind in kinds]
        return f"| {label} | " + " | ".join(cells) + f" | {sum(cpu.get(kind, 0) for kind in kinds):.3f} |"

    def goal(ok: bool) -> str:
        return "met" if ok else "**missed**"

    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`bench/run.py`{' --quick: NOT the full run' if quick else ''}) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {f['elapsed_s']:.0f} s. Every figure: **median** "
        f"(min–max) over {s['runs']} runs of {s['duration']} s after a {s['warmup']} s warm-up; wrk `-t2 -c16`. "
        "Ratios are to the floor's median in the same run, except for the goals' figures: each of "
        f"their {s['paired_runs']} runs follows a run of the floor, and their ratio is the median of the "
        "pairs' ratios (the machine's speed drifts by tens of percent within minutes).",
        "",
        "## Machine",
        "",
        f"- {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB memory, Linux {m['kernel']}",
        f"- Python {m['python']}, Django {m['django']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}, "
        f"nginx {m['nginx']}, wrk {m['wrk']}, gunicorn {m['gunicorn']}, daphne {m['daphne']}; S3: moto server",
        f"- Load average (1/5/15 min) before: {f['load_before']}, after: {f['load_after']}. Other engineers run "
        "test suites on this machine: a load above ~1 before the run means the figures are lower than an idle "
        "machine would give.",
        f"- Production shape: nginx → gunicorn ({f['workers']} sync workers, persistent DB connections) + daphne; "
        "the single daphne serves everything through Django's ASGI handler (psycopg pool).",
        "- The bench lifts the login rate limit and the chat flood control (it sends faster than one client may).",
        "",
        "## Goals",
        "",
        "Ratios to three decimals, so that a figure just under a goal does not print as the goal.",
        "",
        "| goal | figure | result |",
        "|---|---|---|",
        f"| `/api/health` through the shape ≥ 0.5 × floor | {health_ratio:.3f} × ({spread('health_shape')}) "
        f"| {goal(health_ratio >= 0.5)} |",
        f"| feed at 50k posts ≥ 0.15 × floor (0.3 ambition) | {feed_ratio:.3f} × ({spread('feed_large')}) "
        f"| {goal(feed_ratio >= 0.15)}{' (ambition met)' if feed_ratio >= 0.3 else ''} |",
        f"| feed at 50k within 0.8 of its 2k figure | {feed_vs_small:.3f} × (ratios to the floor: 2k "
        f"{f['feed_small']['ratio']['median']:.3f}, 50k {feed_ratio:.3f}) | {goal(feed_vs_small >= 0.8)} |",
        f"| chat fan-out to {f['chat_members']} members: p99 < 50 ms | {chat['paced_p99']['median']:.1f} ms "
        f"(worst run {chat['paced_p99']['max']:.1f}) | {goal(chat['paced_p99']['max'] < 50)} |",
        f"| {f['idle_sockets']} idle sockets < 100 MB | {idle['growth_mb']['median']:.1f} MB "
        f"(worst {idle['growth_mb']['max']:.1f}) | {goal(idle['growth_mb']['max'] * 1000 / f['idle_sockets'] < 100)} |",
        "",
        "The floor during the paired runs (req/s, median (min–max)): beside `/api/health` "
        f"{fmt(f['health_shape']['floor_rps'])}, beside the feed at 2k {fmt(f['feed_small']['floor_rps'])}, "
        f"beside the feed at 50k {fmt(f['feed_large']['floor_rps'])}; "
        f"on its own at the start {fmt(f['floor']['rps'])}.",
        "",
        *(metrics_cost_lines(f["metrics_cost"], fmt) if "metrics_cost" in f else []),
        "## HTTP (wrk -t2 -c16)",
        "",
        "| what | req/s | p50 ms | p99 ms | × floor | errors | notes |",
        "|---|---|---|---|---|---|---|",
        http_row("(1) floor: bare Django JSON view, gunicorn", "floor", f"{m['cores']} sync workers, no proxy"),
        http_row("(1) `/api/health` through the shape", "health_shape", "nginx → gunicorn"),
        http_row("(1) `/api/health` through one daphne", "health_daphne", "Django's ASGI handler"),
        http_row(
            f"(2) feed `/api/posts/all?limit=20` at {f['seed_small']['counts']['posts']:,} posts",
            "feed_small",
            "16 readers' Bearer tokens",
        ),
        http_row("(2) same feed through one daphne", "feed_small_daphne", "for comparison"),
        http_row(
            f"(2) feed at {f['rows']['posts']:,} posts ({f['rows']['likes']:,} likes)",
            "feed_large",
            "first page; its posts' encodings kept per process",
        ),
        http_row(
            "(2) same data, pages from anywhere",
            "feed_deep",
            f"{s['deep_pages']:,} random cursors: {s['deep_pages'] * 20:,} posts to encode",
        ),
        http_row(
            "(2) same data, first page, encodings off",
            "feed_large_uncached",
            "`POST_CACHE_BYTES=0`: every page reads and encodes its posts",
        ),
        http_row(
            "(2) recommended feed, first page, same data",
            "recommended_large",
            "ranking + snapshot on every request",
        ),
        http_row("(3) like toggle `PATCH /api/posts/<id>/like/<me>`", "like_toggle", "answers the post"),
        http_row(
            "(3) post create, one image",
            "post_create",
            f"{f['post_create_image_kb']:.0f} KB JPEG, re-encoded, stored in moto S3",
        ),
        http_row("(4) login `POST /api/auth/login`", "login_wrk", "Argon2 verify + session"),
        "",
        "### CPU per request (ms of CPU time, all processes of each kind, over the measured runs)",
        "",
        "Where a request's cost goes: the machine has 2 cores, so 2,000 ms ÷ the total is the most "
        "requests per second it could serve; wrk itself runs on the same cores.",
        "",
        "| what | gunicorn | PostgreSQL | nginx | Redis | daphne | moto | wrk | total |",
        "|---|---|---|---|---|---|---|---|---|",
        *[cpu_row(label, key) for label, key in CPU_ROWS if key in f],
        "",
        "## Login (4)",
        "",
        f"- One login, sequential through the shape: {fmt(login['latency_ms'], 1, ' ms')} over {s['logins']} logins.",
        f"- One Argon2 verification (Django's default parameters), in process: {fmt(login['argon2_ms'], 1, ' ms')}.",
        f"- Share of a login spent hashing: **{argon_share:.0%}** (measured apart, so noise can push it past "
        "100%: hashing is practically all of a login). Login throughput is bounded by "
        f"{m['cores']} cores / {login['argon2_ms']['median']:.0f} ms ≈ "
        f"{m['cores'] * 1000 / login['argon2_ms']['median']:.0f} logins/s.",
        "",
        f"## Chat (5): 1 sender → {f['chat_members']} members on two daphne processes "
        f"({f['chat_members'] // 2} sockets each)",
        "",
        f"- Delivery latency at {s['chat_rate']} messages/s ({s['chat_paced']} messages per run, send → each "
        f"member's receipt): p50 {fmt(chat['paced_p50'], 1, ' ms')}, p99 {fmt(chat['paced_p99'], 1, ' ms')}, "
        f"max {fmt(chat['paced_max'], 1, ' ms')}.",
        f"- Throughput ({s['chat_flood']} messages sent back to back, until every member has every one): "
        f"{fmt(chat['flood_mps'])} messages/s = {fmt(chat['flood_dps'])} deliveries/s.",
        "- Every message is stored (one transaction), then `group_send` after commit through Redis; the client "
        "holding all 101 sockets is one asyncio process on the same 2 cores.",
        "",
        f"## Idle WebSockets (6): one daphne, {f['idle_sockets']:,} open sockets",
        "",
        f"- RSS before (after 20 warm-up sockets): {fmt(idle['before_mb'], 1, ' MB')}; after: "
        f"{fmt(idle['after_mb'], 1, ' MB')}.",
        f"- Growth: {fmt(idle['growth_mb'], 1, ' MB')} ≈ **{per_socket_kb:.0f} KB per socket** "
        f"(each: autobahn protocol, consumer, 4 channel-layer group memberships).",
        "",
        "## Seeding (`manage.py seed_demo`, COPY)",
        "",
        f"- {f['seed_small']['counts']}: {f['seed_small']['command_s']:.1f} s "
        f"(image pool upload included; {f['seed_small']['no_pool_s']:.1f} s without).",
        f"- {large['counts']}: {large['command_s']:.1f} s ({large['no_pool_s']:.1f} s without the pool, "
        f"which was already stored).",
        "",
        "Reproduce: `make bench` (≈ 6–8 minutes; needs wrk, nginx, PostgreSQL and Redis on 127.0.0.1).",
        "",
    ]
    path.write_text("\n".join(lines))
    (path.with_suffix(".json")).write_text(json.dumps(f, indent=1, default=str))


if __name__ == "__main__":
    main()
