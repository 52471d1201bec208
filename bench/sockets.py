"""WebSocket figures with an asyncio client: fan-out latency and throughput on both kinds of
socket (the contract's chat socket and the user socket `/api/ws`), idle sockets' memory."""

import asyncio
import gc
import json
import secrets
import time
from contextlib import contextmanager

from bench.machine import cpu_s, load_average, pressure_us, rss_kb
from bench.stats import mmm, percentile


async def ws_connect(port: int, chat_id, user_id, token: str):
    """A chat socket (the contract's) of `user_id` in `chat_id`."""
    import websockets

    url = f"ws://127.0.0.1:{port}/api/chats/ws/{chat_id}/{user_id}?token={token}"
    return await websockets.connect(url, max_size=2**20, open_timeout=30, ping_interval=None)


async def user_ws_connect(port: int, chat_id, user_id, token: str):
    """A user socket (`/api/ws`) that has received its `ready` frame: from then on no event is missed."""
    import websockets

    url = f"ws://127.0.0.1:{port}/api/ws?token={token}"
    socket = await websockets.connect(url, max_size=2**20, open_timeout=30, ping_interval=None)
    ready = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
    assert ready["type"] == "ready", ready
    return socket


class ChatSocketKind:
    """The contract's chat socket: sends `{"message"}`, receives the message object."""

    connect = staticmethod(ws_connect)

    @staticmethod
    def send_frame(chat_id, text: str) -> str:
        return json.dumps({"message": text})

    @staticmethod
    def text_of(frame: dict):
        return frame.get("message")


class UserSocketKind:
    """The user socket: sends `message.send`, receives `message.new`."""

    connect = staticmethod(user_ws_connect)

    @staticmethod
    def send_frame(chat_id, text: str) -> str:
        return json.dumps({"type": "message.send", "chat_id": str(chat_id), "message": text})

    @staticmethod
    def text_of(frame: dict):
        message = frame.get("message") if frame.get("type") == "message.new" else None
        return message.get("message") if isinstance(message, dict) else None


KINDS = {"chat": ChatSocketKind, "user": UserSocketKind}
WARMUP_MESSAGES = 10


@contextmanager
def client_heap_frozen():
    """The measuring client's own collector kept out of the figures. This process holds Django,
    the bench's data and 101 sockets: a full collection of that heap paused its event loop for
    ≈ 65 ms (gc.callbacks in bench/sockstall_probe.py), and every frame that arrived meanwhile
    was timed 65 ms late: one paced run's p99 went from ≈ 12 to 53 ms with no server involved.
    The heap so far is frozen (out of every later collection) while the fan-out is measured;
    `timed()` turns the collector off for each timed phase and on between them, where it goes
    over the young objects alone. The servers' collectors are untouched (social/gc_tuning.py)."""
    gc.collect()
    was_frozen = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not was_frozen:
            gc.unfreeze()


@contextmanager
def timed():
    """A timed phase with the client's collector off; its garbage is collected after it
    (`client_heap_frozen`)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


async def chat_fanout(
    ports: tuple[int, int], chat_id, sender, members, settings: dict, kind: str = "chat", pids: tuple[int, ...] = ()
) -> dict:
    """One sender (on the first daphne) to len(members) members split over both daphnes, every
        socket of `kind` ("chat" or "user").

        Paced runs give delivery latency (send → each member's receipt, one clock: all sockets are in
        this process); flood runs give messages/s (all messages delivered to every member). Each
        member must receive each message exactly once: a duplicate fails the run; deliveries still
    missing 120 s after a phase's last send are counted (`missing`), and that phase's figures are
    those of what arrived. With the daphnes' `pids` (the sender's first), each phase also gives
    the CPU time each daphne spent per message sent (`*_cpu_sender_ms`, `*_cpu_other_ms`): what
    the rest of the machine's load moves much less than the rates."""
    socket_kind = KINDS[kind]
    receivers = []
    for index, (user_id, token) in enumerate(members):
        receivers.append(await socket_kind.connect(ports[index % 2], chat_id, user_id, token))
    sender_socket = await socket_kind.connect(ports[0], chat_id, *sender)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    received = {"total": 0}
    done = asyncio.Event()
    expected = {"count": 0}
    duplicates: list[str] = []

    async def listen(socket):
        seen: set[str] = set()
        async for frame in socket:
            now = time.perf_counter()
            key = socket_kind.text_of(json.loads(frame))
            if key in sent:
                if key in seen:
                    duplicates.append(key)
                seen.add(key)
                latencies.append((now - sent[key]) * 1000)
                received["total"] += 1
                if received["total"] >= expected["count"]:
                    done.set()

    async def drain_sender():
        async for _ in sender_socket:
            pass

    async def send(text: str):
        sent[text] = time.perf_counter()
        await sender_socket.send(socket_kind.send_frame(chat_id, text))

    async def finished(timeout: float) -> None:
        """Wait for every expected delivery; past `timeout` the run counts what arrived and
        records the rest as missing (a shape too slow to finish still gets figures)."""
        try:
            await asyncio.wait_for(done.wait(), timeout=timeout)
        except TimeoutError:
            results["missing"][-1] += expected["count"] - received["total"]

    tasks = [asyncio.create_task(listen(s)) for s in receivers] + [asyncio.create_task(drain_sender())]
    total = len(receivers)
    results = {"paced_p50": [], "paced_p99": [], "paced_max": [], "flood_mps": [], "flood_dps": [], "missing": [0]}
    # Each paced run's p99 beside the shares of it during which the machine had a task waiting
    # for a core or for the disk (bench.machine.pressure_us; every message's commit waits for a
    # flush): a worst run with a busy machine beside it is the machine's, one on an idle machine
    # is ours.
    paced_runs: list[dict] = []
    if pids:
        for phase in ("paced", "flood"):
            results[f"{phase}_cpu_sender_ms"], results[f"{phase}_cpu_other_ms"] = [], []

    def cpu_now() -> list[float]:
        return [cpu_s(pid) for pid in pids]

    def cpu_per_message(phase: str, before: list[float], messages: int) -> None:
        used = [after - was for after, was in zip(cpu_now(), before, strict=True)]
        for name, seconds in zip(("sender", "other"), used, strict=True):
            results[f"{phase}_cpu_{name}_ms"].append(seconds * 1000 / messages)

    try:
        # Warm-up, as wrk has one: the first messages pay for connections and caches of both
        # processes (≈ 80–200 ms for the very first), which is not a steady-state latency.
        expected["count"] = WARMUP_MESSAGES * total
        for i in range(WARMUP_MESSAGES):
            await send(f"warm-up {i} {secrets.token_hex(4)}")
            await asyncio.sleep(0.05)
        await finished(60)
        results["missing"][-1] = 0  # the warm-up's do not count
        with client_heap_frozen():
            for run_index in range(settings["runs"]):
                if run_index:
                    results["missing"].append(0)
                # Paced: a steady rate, the latency a member sees.
                latencies.clear()
                received["total"] = 0
                sent.clear()
                done.clear()
                expected["count"] = settings["chat_paced"] * total
                interval = 1 / settings["chat_rate"]
                cpu_before = cpu_now()
                pressure_before = {kind: pressure_us(kind) for kind in ("cpu", "io")}
                with timed():
                    start = time.perf_counter()
                    for i in range(settings["chat_paced"]):
                        await send(f"paced {run_index} {i} {secrets.token_hex(4)}")
                        await asyncio.sleep(max(0.0, start + (i + 1) * interval - time.perf_counter()))
                    await finished(120)
                    paced_s = time.perf_counter() - start
                pressure_after = {kind: pressure_us(kind) for kind in ("cpu", "io")}
                if pids:
                    cpu_per_message("paced", cpu_before, settings["chat_paced"])
                results["paced_p50"].append(percentile(latencies, 50))
                results["paced_p99"].append(percentile(latencies, 99))
                results["paced_max"].append(max(latencies))
                paced_runs.append(
                    {
                        "p99": percentile(latencies, 99),
                        "max": max(latencies),
                        **{
                            f"{kind}_wait_pct": None
                            if pressure_before[kind] is None or pressure_after[kind] is None
                            else (pressure_after[kind] - pressure_before[kind]) / 1e4 / paced_s
                            for kind in ("cpu", "io")
                        },
                        "load": load_average(),
                    }
                )
                # Flood: as fast as the sender's socket takes them.
                received["total"] = 0
                sent.clear()
                done.clear()
                expected["count"] = settings["chat_flood"] * total
                cpu_before = cpu_now()
                with timed():
                    start = time.perf_counter()
                    for i in range(settings["chat_flood"]):
                        await send(f"flood {run_index} {i} {secrets.token_hex(4)}")
                    await finished(120)
                    elapsed = time.perf_counter() - start
                if pids:
                    cpu_per_message("flood", cpu_before, settings["chat_flood"])
                results["flood_mps"].append(received["total"] / total / elapsed)
                results["flood_dps"].append(received["total"] / elapsed)
        await asyncio.sleep(0.5)  # a late duplicate still counts
        assert not duplicates, f"{len(duplicates)} frames arrived twice"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(s.close() for s in [*receivers, sender_socket]), return_exceptions=True)
    return {**{key: mmm(values) for key, values in results.items()}, "paced_runs": paced_runs}


async def idle_sockets(port: int, pid: int, chat_id, members, count: int, kind: str = "chat") -> dict:
    """RSS growth of one daphne over `count` open, idle sockets of `kind` (after a warm-up of 20)."""
    connect = KINDS[kind].connect
    sockets = []
    limit = asyncio.Semaphore(50)

    async def open_one(i):
        async with limit:
            user_id, token = members[i % len(members)]
            sockets.append(await connect(port, chat_id, user_id, token))

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
