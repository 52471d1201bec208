"""The channel layer: every call but the blocking receive has a deadline.

Sockets no longer use it (every event reaches them through `social.fanout`); the health check's
round trip and anything sent with channels' API still do."""

import asyncio

from channels_redis.core import RedisChannelLayer


class DeadlineRedisChannelLayer(RedisChannelLayer):
    """channels_redis's layer whose sends and group changes end after `send_timeout` seconds.

    The layer's connections have no socket timeout (the blocking receive must wait for as long
    as a socket is idle: PITFALLS, channels_redis #422), so on a frozen Redis, which accepts and
    never answers, a send would wait forever (the health check's round trip, say). Bounded here,
    every caller gets a TimeoutError (an outage, social/outages.py) in seconds. redis-py drops a
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
