"""What a gunicorn worker of the production shape spends per request, two trees side by side
(issue #26: the shape's worker CPU per request against the in-process harnesses'). It seeds a
small database of its own, starts one shape (scripts.serve.Shape, nginx -> gunicorn over its
Unix socket, one sync worker) from each tree, and runs wrk on `/api/health` and on the first
feed page, the trees alternating run by run; a run's figure is the gunicorn processes' user +
system CPU (from /proc) over wrk's request count. Not collected by the suite; run it by path:

    .venv/bin/python bench/shape_gap.py /work/main,/work/wt-x [PAIRS] [SECONDS]

Its database and Redis DB come from DATABASE_URL and REDIS_URL (both are recreated/flushed), so
give it ones of your own. Profile a worker meanwhile with `py-spy record -p <pid>` (blocking
mode: `--nonblocking` counts the wait for nginx in recv as busy).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
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
shape = Shape(int(sys.argv[2]), env=json.load(open(sys.argv[3])), workers=1, log=open(sys.argv[4], "ab"))
shape.start()
try:
    shape.wait_ready()
    print(shape.children[0].process.pid, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
finally:
    shape.stop()
"""


def cpu_ticks(master: int) -> int:
    """User + system clock ticks of gunicorn's master and its workers."""
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


def main() -> None:
    trees = sys.argv[1].split(",")
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    work = Path(tempfile.mkdtemp(prefix="shape-gap-"))
    processes = bench_run.Processes(work)
    children, shapes = [], []  # shapes: (tree, base URL, gunicorn master pid)
    try:
        bench_run.services_reset(database_url=database_url, redis_url=redis_url)
        env = bench_run.environment(processes, database_url=database_url, redis_url=redis_url)
        bench_run.manage("migrate", "--noinput", "-v", "0", env=env)
        bench_run.driver_setup(env)
        bench_run.seed(SEED, env=env)
        from accounts.models import User

        tokens = bench_run.tokens_for(User.objects.order_by("pk")[:5])
        (work / "env.json").write_text(json.dumps(env))
        configs = {
            "health": wrk_config(work / "health.lua", [{"path": "/api/health"}]),
            "feed": wrk_config(
                work / "feed.lua", [{"path": "/api/posts/all?limit=20", "token": token} for _, token in tokens]
            ),
        }
        for tree in trees:
            port = free_port()
            child = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, tree, str(port), str(work / "env.json"), str(work / "shape.log")],
                cwd=tree,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            children.append(child)
            line = child.stdout.readline()
            if not line.strip():
                raise SystemExit(f"the shape of {tree} did not start: see {work / 'shape.log'}")
            shapes.append((tree, f"http://127.0.0.1:{port}", int(line)))
        for name, config in configs.items():
            figures = {tree: [] for tree in trees}
            for _, base, _ in shapes:
                wrk(base, config, duration=1, connections=4, threads=1)  # warm-up
            for number in range(pairs):
                for tree, base, master in shapes if number % 2 == 0 else shapes[::-1]:
                    before = cpu_ticks(master)
                    result = wrk(base, config, duration=seconds, connections=4, threads=1)
                    if result["non2xx"]:
                        raise SystemExit(f"{tree} {name}: {result['non2xx']} answers were not 2xx")
                    figures[tree].append((cpu_ticks(master) - before) / TICK * 1000 / result["requests"])
            for tree, ms in figures.items():
                low, mid = min(ms), statistics.median(ms)
                print(f"{name:7s} {tree:24s} gunicorn CPU ms/request min {low:.3f} median {mid:.3f}")
        print("load average", Path("/proc/loadavg").read_text().split()[:3])
    finally:
        for child in children:
            child.stdin.close()
            child.wait(timeout=30)
        processes.stop_all()


if __name__ == "__main__":
    main()
