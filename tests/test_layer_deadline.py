"""social.layer.DeadlineRedisChannelLayer: every call but the blocking receive ends at its
deadline on a Redis that accepts connections and never answers (what a frozen one does)."""

import asyncio
import socket
import time

import pytest

from social.layer import DeadlineRedisChannelLayer
from social.outages import is_outage


@pytest.fixture
def silent_redis():
    """A listening socket nobody accepts from: connections land in the kernel's backlog and no
    byte ever comes back, as from a Redis stopped with SIGSTOP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def _layer(address: str) -> DeadlineRedisChannelLayer:
    # The production host options (social/settings.py): no socket timeout, for the receive.
    return DeadlineRedisChannelLayer(
        hosts=[{"address": address, "socket_timeout": None, "socket_connect_timeout": 1}], send_timeout=0.3
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda layer: layer.group_send("chat.x", {"type": "chat.message"}),
        lambda layer: layer.send("specific.x!y", {"type": "health.ping"}),
        lambda layer: layer.group_add("chat.x", "specific.x!y"),
        lambda layer: layer.group_discard("chat.x", "specific.x!y"),
    ],
    ids=["group_send", "send", "group_add", "group_discard"],
)
def test_a_call_to_a_redis_that_never_answers_ends_at_the_deadline_as_an_outage(silent_redis, call):
    async def scenario():
        layer = _layer(silent_redis)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as raised:
            await call(layer)
        return time.monotonic() - started, raised.value

    seconds, error = asyncio.run(scenario())
    assert 0.25 < seconds < 1.5
    assert is_outage(error)  # logged and counted as a failed send (social/events.py), 4503 at a handshake


def test_the_blocking_receive_has_no_deadline(silent_redis):
    async def scenario():
        layer = _layer(silent_redis)
        channel = await layer.new_channel()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 1.0)  # our own limit, not the layer's
        return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.95
