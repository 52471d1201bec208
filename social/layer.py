"""The channel layer: every call but the blocking receive has a deadline, and group membership
survives a Redis hiccup."""

import asyncio
import logging

from channels_redis.core import RedisChannelLayer

from social.outages import is_outage

logger = logging.getLogger(__name__)

# Seconds between attempts: a burst of disconnects (a proxy restart drops every socket at once)
# can find the pool full or Redis restarting for a moment.
DISCARD_RETRY_DELAYS = (0.1, 0.5, 2.0)


async def layer_groups_discard(layer, groups, channel: str) -> None:
    """Take `channel` out of every group, retrying each failed discard: a member left behind
    stays in the group for channels_redis's group_expiry (a day), and every event to the group
    is sent to the dead channel meanwhile."""
    for group in groups:
        for delay in (*DISCARD_RETRY_DELAYS, None):
            try:
                await layer.group_discard(group, channel)
                break
            except Exception as error:
                if not is_outage(error):
                    raise
                if delay is None:
                    logger.warning("could not leave group %s: %s: %s", group, type(error).__name__, error)
                    break
                await asyncio.sleep(delay)


class DeadlineRedisChannelLayer(RedisChannelLayer):
    """channels_redis's layer whose sends and group changes end after `send_timeout` seconds.

    The layer's connections have no socket timeout (the blocking receive must wait for as long
    as a socket is idle: PITFALLS, channels_redis #422), so on a frozen Redis, which accepts and
    never answers, a send would wait forever: a request's after-commit event (social/events.py)
    until gunicorn kills the worker, a consumer's group_add until daphne's handshake timeout.
    Bounded here, every caller gets a TimeoutError (an outage, social/outages.py) in seconds:
    events log and meter it as a failed send, a handshake closes 4503. redis-py drops a
    connection whose command was cancelled mid-reply, so none goes back to the pool half-read.
    `receive` stays unbounded.
    """

    def __init__(self, *args, send_timeout: float = 2.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.send_timeout = send_timeout

    async def send(self, channel, message):
        await asyncio.wait_for(super().send(channel, message), self.send_timeout)

    async def group_add(self, group, channel):
        await asyncio.wait_for(super().group_add(group, channel), self.send_timeout)

    async def group_discard(self, group, channel):
        await asyncio.wait_for(super().group_discard(group, channel), self.send_timeout)

    async def group_send(self, group, message):
        await asyncio.wait_for(super().group_send(group, message), self.send_timeout)
