"""Diagnostic: where a paced fan-out run's slow deliveries come from (issue #26, the user socket's
rare p99 stall). Not part of `make bench`; it uses only the database and Redis DB it is given.

    .venv/bin/python -m bench.sockstall_probe --database-url URL --redis-url URL \
        [--rounds 3] [--kinds chat,user] [--client default,frozen] [--hooks] [--thresholds 'A;B']

Each round starts, like bench/run.py's step (5), two daphnes per kind of socket, one sender and
100 members, and sends `--runs` paced runs (100 messages at 10/s) with the client's collector as
it is (`default`) or as bench/sockets.py now keeps it (`frozen`). Every delivery's send and
receipt time is kept (CLOCK_MONOTONIC, shared with the daphnes), with the client's collections,
the machine's CPU pressure (/proc/pressure/cpu) and how long each daphne and the client waited
for a core (schedstat) during each run. With --hooks every process also logs its collections,
long callbacks, slow statements and publishes (bench/stall_hooks); --thresholds alternates the
daphnes' GC thresholds. Prints each run's figures and, for each message late for ten or more
members, when its deliveries arrived on each daphne and what the hooks logged meanwhile.
"""

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import secrets
import sys
import time
from pathlib import Path

from bench.run import SOCKET_SEED, Processes, driver_setup, environment, manage, seed, services_reset, tokens_for
from bench.sockets import KINDS, client_heap_frozen, timed
from bench.stats import percentile

LATE_MS = 25.0
HOOKS = Path(__file__).resolve().parent / "stall_hooks"


def heap_collection_ms() -> None:
    """What one full collection of this client's heap costs (wall and CPU), as it is and frozen
    (bench/sockets.py)."""
    import statistics

    def collection() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        gc.collect()
        return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000

    def median(samples) -> str:
        walls, cpus = zip(*samples, strict=True)
        return f"{statistics.median(walls):.1f} ms (CPU {statistics.median(cpus):.1f} ms)"

    plain = median([collection() for _ in range(5)])
    with client_heap_frozen():
        frozen = median([collection() for _ in range(5)])
    print(f"client: a full collection of its heap ({len(gc.get_objects()):,} objects) {plain}, frozen {frozen}")


def psi_cpu_us() -> int:
    """Microseconds some task on the machine waited for a CPU, since boot (PSI)."""
    line = open("/proc/pressure/cpu").readline()
    return int(line.rsplit("total=", 1)[1])


def runqueue_wait_ms(pid: int) -> float:
    """Time the threads of `pid` spent runnable but waiting for a CPU (schedstat), in ms."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError):
            pass
    return total / 1e6


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


class ClientLog:
    """The client's own GC pauses and long event-loop callbacks (CLOCK_MONOTONIC)."""

    def __init__(self):
        self.gc: list[tuple[float, float, int]] = []
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase, info):
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.gc.append((self._started, (now - self._started) * 1000, info["generation"]))


async def paced_runs(
    ports, chat_id, sender, members, kind: str, runs: int, count: int, rate: float, frozen: bool, pids=()
):
    socket_kind = KINDS[kind]
    receivers = []
    for index, (user_id, token) in enumerate(members):
        receivers.append(await socket_kind.connect(ports[index % 2], chat_id, user_id, token))
    sender_socket = await socket_kind.connect(ports[0], chat_id, *sender)
    sent: dict[str, tuple[int, float]] = {}
    deliveries: list[tuple[str, int, float]] = []  # key, member index, receipt time
    waiting = {"left": 0}
    done = asyncio.Event()

    async def listen(member: int, socket):
        async for frame in socket:
            now = time.perf_counter()
            key = socket_kind.text_of(json.loads(frame))
            if key in sent:
                deliveries.append((key, member, now))
                waiting["left"] -= 1
                if waiting["left"] <= 0:
                    done.set()

    async def drain():
        async for _ in sender_socket:
            pass

    tasks = [asyncio.create_task(listen(i, s)) for i, s in enumerate(receivers)]
    tasks.append(asyncio.create_task(drain()))
    results = []
    heap = client_heap_frozen() if frozen else contextlib.nullcontext()
    try:
        with heap:
            for phase in ["warm-up", *range(runs)]:
                n = 10 if phase == "warm-up" else count
                sent.clear()
                deliveries.clear()
                done.clear()
                waiting["left"] = n * len(receivers)
                watched = [*pids, os.getpid()]
                psi_before = psi_cpu_us()
                waits_before = [runqueue_wait_ms(pid) for pid in watched]
                cpu_before = [cpu_ms(pid) for pid in watched]
                with timed() if frozen else contextlib.nullcontext():
                    start = time.perf_counter()
                    for i in range(n):
                        key = f"{phase} {i} {secrets.token_hex(4)}"
                        sent[key] = (i, time.perf_counter())
                        await sender_socket.send(socket_kind.send_frame(chat_id, key))
                        await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
                    await asyncio.wait_for(done.wait(), 60)
                elapsed = time.perf_counter() - start
                stalls = {
                    "psi_pct": (psi_cpu_us() - psi_before) / 1e4 / elapsed,
                    "waits": [runqueue_wait_ms(pid) - was for pid, was in zip(watched, waits_before, strict=True)],
                    "cpus": [cpu_ms(pid) - was for pid, was in zip(watched, cpu_before, strict=True)],
                }
                if phase != "warm-up":
                    results.append(
                        {
                            **stalls,
                            "sent": dict(sent),
                            "deliveries": list(deliveries),
                            "load": open("/proc/loadavg").read().split()[:3],
                        }
                    )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(s.close() for s in [*receivers, sender_socket]), return_exceptions=True)
    return results


def server_events(diag_log: str, pid: int) -> list[str]:
    path = Path(f"{diag_log}.{pid}")
    return path.read_text().splitlines() if path.exists() else []


def report(kind: str, run: dict, client: ClientLog, servers: dict[int, list[str]]) -> None:
    sent = run["sent"]
    latencies = [(now - sent[key][1]) * 1000 for key, _, now in run["deliveries"]]
    p99 = percentile(latencies, 99)
    waits = ", ".join(
        f"{name} waited {wait:.0f} ms (CPU {cpu:.0f} ms)"
        for name, wait, cpu in zip(("daphne A", "daphne B", "client"), run["waits"], run["cpus"], strict=True)
    )
    print(f"  machine: some task waited for a CPU {run['psi_pct']:.0f}% of the run; run queue: {waits}")
    p50, worst, load = percentile(latencies, 50), max(latencies), " ".join(run["load"])
    print(f"  {kind}: p50 {p50:.1f} p99 {p99:.1f} max {worst:.1f} ms, load {load}", flush=True)
    by_message: dict[str, list[tuple[int, float]]] = {}
    for key, member, now in run["deliveries"]:
        by_message.setdefault(key, []).append((member, (now - sent[key][1]) * 1000))
    first = min(t for _, t in sent.values())
    last = max(now for _, _, now in run["deliveries"])
    for key, got in sorted(by_message.items(), key=lambda item: sent[item[0]][0]):
        late = [ms for _, ms in got if ms > LATE_MS]
        if len(late) < 10:
            continue
        t0 = sent[key][1]
        even = sorted(ms for member, ms in got if member % 2 == 0)
        odd = sorted(ms for member, ms in got if member % 2 == 1)
        print(
            f"    message {sent[key][0]} (t {t0:.1f}): {len(late)} late; daphne A (sender's) min/med/max "
            f"{even[0]:.1f}/{even[len(even) // 2]:.1f}/{even[-1]:.1f}, "
            f"daphne B {odd[0]:.1f}/{odd[len(odd) // 2]:.1f}/{odd[-1]:.1f} ms"
        )
        window = (t0 - 0.1, t0 + max(ms for _, ms in got) / 1000 + 0.02)
        for started, took, generation in client.gc:
            if window[0] <= started <= window[1] and took > 1:
                print(f"      client gc gen{generation} at +{(started - t0) * 1000:.1f} ms took {took:.1f} ms")
        for name, lines in servers.items():
            for line in lines:
                parts = line.split()
                at = float(parts[1])
                if window[0] <= at <= window[1]:
                    detail = " ".join(parts[3:])
                    print(f"      {name}: {parts[0]} at +{(at - t0) * 1000:.1f} ms took {parts[2]} ms {detail}")
    # All slow events inside the run, counted by kind.
    for name, lines in servers.items():
        counts: dict[str, list[float]] = {}
        for line in lines:
            parts = line.split()
            if first <= float(parts[1]) <= last:
                counts.setdefault(parts[0], []).append(float(parts[2]))
        shown = ", ".join(
            f"{len(v)} {k} (median {sorted(v)[len(v) // 2]:.2f}, max {max(v):.1f} ms, sum {sum(v):.0f} ms)"
            for k, v in sorted(counts.items())
        )
        print(f"    {name}: {shown or 'nothing slow'}")
    client_gc = [took for started, took, _ in client.gc if first <= started <= last and took > 1]
    print(f"    client: {len(client_gc)} GC>1ms (max {max(client_gc, default=0):.1f} ms)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="chat,user")
    parser.add_argument(
        "--thresholds",
        default="",
        help="daphne GC thresholds to alternate, e.g. '50000,20,10;10000,100,10' (with --diag)",
    )
    parser.add_argument(
        "--client",
        default="frozen",
        help="'default', 'frozen' (bench/sockets.py's client GC handling) or both, alternated",
    )
    parser.add_argument(
        "--hooks", action="store_true", help="log GC, long callbacks, slow SQL and publishes (bench/stall_hooks)"
    )
    options = parser.parse_args()
    work = Path("/tmp/sockstall/probe")
    work.mkdir(parents=True, exist_ok=True)
    processes = Processes(work)
    try:
        services_reset(database_url=options.database_url, redis_url=options.redis_url)
        env = environment(processes, database_url=options.database_url, redis_url=options.redis_url)
        manage("migrate", "--noinput", "-v", "0", env=env)
        driver_setup(env)
        seed(SOCKET_SEED, env=env)
        from accounts.models import User
        from chats.models import Chat, ChatMember

        users = list(User.objects.order_by("?")[:101])
        chat = Chat.objects.create(title="Бенчмарк")
        ChatMember.objects.bulk_create([ChatMember(chat=chat, user=u) for u in users])
        members = tokens_for(users)
        diag_log = str(work / "diag")
        server_env = dict(env)
        if options.hooks:
            server_env["PYTHONPATH"] = str(HOOKS)
            server_env["SOCKSTALL_LOG"] = diag_log
            sys.path.insert(0, str(HOOKS))
            from bench_stall_hooks import install

            install(diag_log)
        heap_collection_ms()
        client = ClientLog()
        settings = [item for item in options.thresholds.split(";") if item] or [""]
        for round_index in range(options.rounds):
            print(f"round {round_index}", flush=True)
            for kind in options.kinds.split(","):
                for thresholds, client_mode in itertools.product(settings, options.client.split(",")):
                    frozen = client_mode == "frozen"
                    env_now = {**server_env, "SOCKSTALL_GC_THRESHOLDS": thresholds} if thresholds else server_env
                    names = [f"daphne-{kind}-{round_index}-{i}" for i in range(2)]
                    daphnes = [processes.daphne(name, env_now) for name in names]
                    ports = tuple(port for port, _ in daphnes)
                    pids = [process.pid for _, process in daphnes]
                    runs = asyncio.run(
                        paced_runs(ports, chat.pk, members[0], members[1:], kind, options.runs, 100, 10, frozen, pids)
                    )
                    servers = {
                        "daphne A": server_events(diag_log, pids[0]),
                        "daphne B": server_events(diag_log, pids[1]),
                    }
                    servers["client"] = server_events(diag_log, os.getpid())
                    for run in runs:
                        report(f"{kind} {thresholds or 'as configured'} client {client_mode}", run, client, servers)
                    for _, process in daphnes:
                        processes.stop(process)
    finally:
        processes.stop_all()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
