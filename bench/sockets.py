"""WebSocket figures with an asyncio client: chat fan-out latency and throughput, idle sockets' memory."""

import asyncio
import json
import secrets
import time

from bench.machine import rss_kb
from bench.stats import mmm, percentile


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
