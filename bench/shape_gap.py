"""What a gunicorn worker of the production shape spends per request, two trees side by side
(issue #26: the shape's worker CPU per request against the in-process harnesses'). It seeds a
small database of its own, starts one shape (scripts.serve.Shape, nginx -> gunicorn over its
Unix socket, WORKERS workers, default 1) from each tree, and runs wrk on `/api/health`, the
first feed page, a like toggle and the chat list, the trees alternating run by run; a run's
figures are the user + system CPU (from /proc) of the gunicorn processes and of nginx's over
wrk's request count, and wrk's requests per second. Not collected by the suite; run it by path:

    .venv/bin/python bench/shape_gap.py /work/main,/work/wt-x [PAIRS] [SECONDS] [WORKERS]

A tree may name gunicorn settings of its own after a colon, given to that shape's gunicorn as
GUNICORN_CMD_ARGS (over deploy/gunicorn.conf.py, under Shape's own flags), so one tree runs
against itself with another worker class (issue #26's A/B):

    .venv/bin/python bench/shape_gap.py \
        "/work/main:--worker-class sync,/work/main:--worker-class gthread --threads 1 --keep-alive 75" 7 4 2

Throughput between worker classes that run a different number of threads is biased on a
shared machine (more runnable threads get a larger share of a busy CPU): compare them by CPU
per request first.

SHAPE_GAP_ONLY=health,feed runs only those (health, feed, like, chats).

Its database and Redis DB come from DATABASE_URL and REDIS_URL (both are recreated/flushed), so
give it ones of your own. Profile a worker meanwhile with `py-spy record -p <pid>` (blocking
mode: `--nonblocking` counts the wait for nginx in recv as busy), with `--gil` to count only the
Python work; bench/shape_profile.py does it by layer.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run as bench_run  # noqa: E402
from bench.load import wrk, wrk_config  # noqa: E402
from scripts.processes import free_port  # noqa: E402

SEED = {"users": 300, "posts": 2000, "likes": 5000, "views": 1000, "chats": 20, "messages": 500}
TICK = os.sysconf("SC_CLK_TCK")
# Runs in a child, in the tree under test: that tree's Shape, gunicorn.conf.py and code.
LAUNCH = """
import json, sys
sys.path.insert(0, sys.argv[1])
from scripts.serve import Shape
shape = Shape(int(sys.argv[2]), env=json.load(open(sys.argv[3])), workers=int(sys.argv[5]), log=open(sys.argv[4], "ab"))
shape.start()
try:
    shape.wait_ready()
    pids = {child.name: child.process.pid for child in shape.children}
    print(pids["gunicorn"], pids["nginx"], flush=True)
    sys.stdin.read()  # until the bench closes our stdin
finally:
    shape.stop()
"""


@dataclass(frozen=True)
class RunningShape:
    base: str  # nginx's URL
    gunicorn: int  # the master processes' pids
    nginx: int


@contextmanager
def shape_running(tree, work: Path, env: dict, *, workers: int, name: str = "shape"):
    """A shape (scripts.serve.Shape) of `tree`, run by LAUNCH in a child with `env` and
    `workers` gunicorn workers, its output in work/shape.log: a RunningShape while the block
    runs, stopped when it ends (the child stops the shape when its stdin closes). Also
    bench/shape_profile.py's and bench/commit_wait.py's."""
    port = free_port()
    env_file = work / f"{name}.json"
    env_file.write_text(json.dumps(env))
    log = work / "shape.log"
    child = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(tree), str(port), str(env_file), str(log), str(workers)],
        cwd=tree,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        if not line.strip():
            raise SystemExit(f"the shape of {tree} did not start: see {log}")
        gunicorn_master, nginx_master = map(int, line.split())
        yield RunningShape(f"http://127.0.0.1:{port}", gunicorn_master, nginx_master)
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def children_of(master: int) -> set[int]:
    """The pids of a master process's children (gunicorn's workers)."""
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue  # exited meanwhile
            if int(parent) == master:
                found.add(int(pid))
    return found


def cpu_ticks(master: int) -> int:
    """User + system clock ticks of a master process (gunicorn's, nginx's) and its workers."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == master or int(fields[1]) == master:
            total += int(fields[11]) + int(fields[12])
    return total


def seeded_paths(processes, work: Path, *, database_url: str, redis_url: str) -> tuple[dict, dict]:
    """The shapes' environment, on a database and Redis DB reset and seeded with SEED, and the
    wrk configurations of the paths measured, by name (health, feed, like, chats). Also
    bench/shape_profile.py's."""
    bench_run.services_reset(database_url=database_url, redis_url=redis_url)
    env = bench_run.environment(processes, database_url=database_url, redis_url=redis_url)
    bench_run.manage("migrate", "--noinput", "-v", "0", env=env)
    bench_run.driver_setup(env)
    bench_run.seed(SEED, env=env)
    from accounts.models import User
    from posts.models import Post

    tokens = bench_run.tokens_for(User.objects.order_by("pk")[:5])
    recent = list(Post.objects.order_by("-created_at").values_list("pk", flat=True)[:200])
    configs = {
        "health": wrk_config(work / "health.lua", [{"path": "/api/health"}]),
        "feed": wrk_config(
            work / "feed.lua", [{"path": "/api/posts/all?limit=20", "token": token} for _, token in tokens]
        ),
        # PATCH toggles: a like, then its removal the next time round (200 both ways).
        "like": wrk_config(
            work / "like.lua",
            [
                {"path": f"/api/posts/{recent[(i * 7 + j) % len(recent)]}/like/{user_id}", "token": token}
                for i, (user_id, token) in enumerate(tokens)
                for j in range(10)
            ],
            method="PATCH",
        ),
        "chats": wrk_config(
            work / "chats.lua", [{"path": "/api/chats?limit=20", "token": token} for _, token in tokens]
        ),
    }
    return env, configs


def main() -> None:
    trees = sys.argv[1].split(",")
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    work = Path(tempfile.mkdtemp(prefix="shape-gap-"))
    processes = bench_run.Processes(work)
    shapes = []  # (label, base URL, gunicorn master pid, nginx master pid)
    running = ExitStack()  # the shapes, stopped at the end
    try:
        env, configs = seeded_paths(processes, work, database_url=database_url, redis_url=redis_url)
        for number, spec in enumerate(trees):
            tree, _, gunicorn_args = spec.partition(":")
            tree_env = {**env, "GUNICORN_CMD_ARGS": gunicorn_args} if gunicorn_args else env
            shape = running.enter_context(shape_running(tree, work, tree_env, workers=workers, name=f"env-{number}"))
            shapes.append((spec, shape.base, shape.gunicorn, shape.nginx))
        only = [name for name in os.environ.get("SHAPE_GAP_ONLY", "").split(",") if name]
        for name, config in configs.items():
            if only and name not in only:
                continue
            figures = {spec: {"gunicorn": [], "nginx": [], "both": [], "rps": []} for spec in trees}
            for _, base, _, _ in shapes:
                wrk(base, config, duration=1, connections=4, threads=1)  # warm-up
            for number in range(pairs):
                for spec, base, gunicorn_master, nginx_master in shapes if number % 2 == 0 else shapes[::-1]:
                    before = cpu_ticks(gunicorn_master), cpu_ticks(nginx_master)
                    result = wrk(base, config, duration=seconds, connections=4, threads=1)
                    if result["non2xx"] or result["errors"]:
                        raise SystemExit(
                            f"{spec} {name}: {result['non2xx']} answers were not 2xx, {result['errors']} errors"
                        )
                    gunicorn_ms, nginx_ms = (
                        (cpu_ticks(master) - ticks) / TICK * 1000 / result["requests"]
                        for master, ticks in zip((gunicorn_master, nginx_master), before, strict=True)
                    )
                    figures[spec]["gunicorn"].append(gunicorn_ms)
                    figures[spec]["nginx"].append(nginx_ms)
                    figures[spec]["both"].append(gunicorn_ms + nginx_ms)
                    figures[spec]["rps"].append(result["rps"])
            for spec, series in figures.items():
                print(
                    f"{name:7s} {spec}\n        CPU ms/request (min/median) "
                    + "  ".join(
                        f"{kind} {min(series[kind]):.3f}/{statistics.median(series[kind]):.3f}"
                        for kind in ("gunicorn", "nginx", "both")
                    )
                    + f"  req/s {min(series['rps']):.0f}/{statistics.median(series['rps']):.0f}",
                    flush=True,
                )
            if len(trees) == 2:
                # Each pair's ratio (second tree over first, the two runs of one round side by
                # side): the spread of the change, the machine's drift between rounds taken out.
                first, second = (figures[spec] for spec in trees)
                for kind in ("gunicorn", "both"):
                    ratios = sorted(b / a for a, b in zip(first[kind], second[kind], strict=True))
                    print(
                        f"        {kind} CPU second/first per pair: median {statistics.median(ratios):.3f}"
                        f" ({ratios[0]:.3f}-{ratios[-1]:.3f})",
                        flush=True,
                    )
        print("load average", Path("/proc/loadavg").read_text().split()[:3])
    finally:
        running.close()
        processes.stop_all()


if __name__ == "__main__":
    main()
