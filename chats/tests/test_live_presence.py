"""Presence across real daphne processes: one of them killed with SIGKILL leaves no one online
for more than 60 s (EXTENSIONS.md §2), and the survivor announces the offline."""

import asyncio
import json
import signal
import time
from datetime import datetime

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from friends.services import friendship_add
from scripts.processes import daphne_command, free_port
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
LIMIT_SECONDS = 60


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {session_start(user=user).access}"}


async def frame(socket, timeout=5) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout=timeout))


async def test_a_daphne_killed_with_sigkill_leaves_no_one_online_for_more_than_a_minute(client_for):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    await database_sync_to_async(friendship_add)(user=alice, friend=bob)
    alice_headers, bob_headers = await database_sync_to_async(lambda: (bearer(alice), bearer(bob)))()
    as_alice = await database_sync_to_async(client_for)(alice)

    def bob_seen_by_alice() -> dict:
        return as_alice.get(f"/api/users/{bob.pk}").json()

    port = free_port()
    doomed = live.running(daphne_command(port), f"http://127.0.0.1:{port}/api/health", live.server_env())
    with doomed as doomed_process, live.daphne() as survivor:
        async with connect(f"ws://{survivor}/api/ws", additional_headers=alice_headers) as alice_socket:
            assert (await frame(alice_socket))["type"] == "ready"
            bob_socket = await connect(f"ws://127.0.0.1:{port}/api/ws", additional_headers=bob_headers)
            assert (await frame(bob_socket))["type"] == "ready"
            # Announced across processes, and shown on the profile.
            assert await frame(alice_socket) == {
                "type": "presence",
                "user_id": str(bob.pk),
                "online": True,
                "last_seen": None,
            }
            assert (await database_sync_to_async(bob_seen_by_alice)())["online"] is True

            connected_at = time.time()
            doomed_process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            doomed_process.wait()

            # The profile: offline within the limit (polled each second).
            while (await database_sync_to_async(bob_seen_by_alice)())["online"]:
                assert time.monotonic() - killed_at <= LIMIT_SECONDS, "still online a minute after the kill"
                await asyncio.sleep(1)
            offline_after = time.monotonic() - killed_at

            # The surviving process swept bob and told alice, within the limit too.
            left = LIMIT_SECONDS - (time.monotonic() - killed_at)
            offline = await frame(alice_socket, timeout=max(left, 0.1))
            announced_after = time.monotonic() - killed_at
            assert (offline["type"], offline["user_id"], offline["online"]) == ("presence", str(bob.pk), False)
            # last_seen: his last refresh, between the connect and the kill.
            assert connected_at - 1 <= datetime.fromisoformat(offline["last_seen"]).timestamp() <= time.time()
            print(f"offline on the profile {offline_after:.1f} s after SIGKILL, announced {announced_after:.1f} s")
            await bob_socket.close()
