"""Bursts of sockets against the Redis pools, and a mass disconnect."""

import asyncio

import pytest
import redis
import websockets

from chaos.conftest import chat_between, signed_up

pytestmark = pytest.mark.chaos

SOCKETS = 200


async def open_many(url: str, count: int):
    async def one():
        try:
            socket = await websockets.connect(url, open_timeout=60)
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        try:
            await asyncio.wait_for(socket.recv(), 0.5)
        except TimeoutError:
            return socket  # open and quiet
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006
        return socket

    return await asyncio.gather(*(one() for _ in range(count)))


def test_200_concurrent_handshakes_all_open_and_a_mass_disconnect_leaves_nothing_held_in_redis(healthy, deps):
    base = healthy.base
    owner, other = signed_up(base), signed_up(base)
    chat_id = chat_between(base, owner, other)
    url = f"ws://127.0.0.1:{healthy.port}/api/chats/ws/{chat_id}/{owner['id']}?token={owner['access']}"
    probe = redis.Redis.from_url(deps["redis"].url)

    def held() -> int:
        # What a socket keeps in Redis: one of its user's slots (a sorted set per user; the
        # routes of its events are in its process), and every socket here is the owner's.
        return sum(probe.zcard(key) for key in probe.scan_iter(match=f"*ws-sockets:{owner['id']}"))

    async def scenario():
        results = await open_many(url, SOCKETS)
        opened = [result for result in results if not isinstance(result, int)]
        members = await asyncio.to_thread(held)
        await asyncio.gather(*(socket.close() for socket in opened))
        for _ in range(100):
            left = await asyncio.to_thread(held)
            if left == 0:
                break
            await asyncio.sleep(0.1)
        return results, members, left

    try:
        results, members, left = asyncio.run(scenario())
    finally:
        probe.close()
    failures = [result for result in results if isinstance(result, int)]
    # Formerly 4 × HTTP 500 "Too many connections" (redis-py's pool of 100) at 200 handshakes.
    assert failures == [], failures[:10]
    assert members == SOCKETS
    assert left == 0  # formerly ~100 dead group members stayed for group_expiry (a day)
