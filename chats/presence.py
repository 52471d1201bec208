"""The sockets' side of presence in one process (the state and who sees it: friends.presence).

`keeper` counts this process's open sockets per user (either kind: `SocketSlotMixin` tells it
of each accepted socket that holds a slot, and of its close). A user's first socket here marks
them online (announced when they were offline everywhere); their last one here starts the
grace period, after which they go offline unless a socket of theirs is open on any process.
One loop per process refreshes all its users in one Redis command every
PRESENCE_REFRESH_SECONDS, whatever the number of sockets, and sweeps the users that dead
processes left behind every half of it.

Presence never fails a socket: a Redis or database outage on the way is logged and skipped.
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from friends import presence
from social.outages import is_outage, log_outage

logger = logging.getLogger("social.socket")

# Redis calls off the event loop, on a thread of their own (as the limits'): a slow Redis must
# not stall every socket of the process.
_redis_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="presence")


async def _redis(func, **kwargs):
    return await asyncio.get_running_loop().run_in_executor(_redis_thread, lambda: func(**kwargs))


_announce = database_sync_to_async(presence.presence_announce)


class PresenceKeeper:
    def __init__(self):
        self.sockets: dict[str, int] = {}  # user id → open sockets of theirs in this process
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: set[asyncio.Task] = set()  # the loop and the grace timers, kept referenced

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        # A new event loop (daphne has one for its life; tests start one per test): what the old
        # one counted is gone with its sockets.
        self.loop, self.sockets = loop, {}
        self.tasks = set()
        self._spawn(self._refresh_loop())

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def opened(self, user_id) -> None:
        """A socket of `user_id` opened on this process."""
        self._start()
        user_id = str(user_id)
        self.sockets[user_id] = self.sockets.get(user_id, 0) + 1
        if self.sockets[user_id] == 1:
            await self._guarded(self._came_online([user_id]), "presence on connect")

    async def closed(self, user_id) -> None:
        """A socket of `user_id` that `opened` counted closed."""
        self._start()
        user_id = str(user_id)
        left = self.sockets.get(user_id, 0) - 1
        if left > 0:
            self.sockets[user_id] = left
            return
        self.sockets.pop(user_id, None)
        await self._guarded(_redis(presence.presence_touch, user_id=user_id), "presence on disconnect")
        self._spawn(self._after_grace(user_id, timezone.now()))

    async def _came_online(self, user_ids: list) -> None:
        for user_id in await _redis(presence.presence_keep, user_ids=user_ids):
            await _announce(user_id=user_id, online=True)

    async def _after_grace(self, user_id: str, closed_at) -> None:
        await asyncio.sleep(settings.PRESENCE_GRACE_SECONDS)
        if user_id in self.sockets:
            return  # reconnected here: nothing to announce

        async def check():
            if await _redis(presence.presence_close, user_id=user_id):
                await _announce(user_id=user_id, online=False, last_seen=closed_at)

        await self._guarded(check(), "presence after a close")

    async def _refresh_loop(self) -> None:
        half = settings.PRESENCE_REFRESH_SECONDS / 2
        tick = 0
        while True:
            await asyncio.sleep(half)
            tick += 1
            if tick % 2 == 0 and self.sockets:
                await self._guarded(self._came_online(list(self.sockets)), "presence refresh")
            await self._guarded(self._sweep(), "presence sweep")

    async def _sweep(self) -> None:
        for user_id, last_seen in await _redis(presence.presence_sweep):
            await _announce(user_id=user_id, online=False, last_seen=last_seen)

    async def _guarded(self, coroutine, where: str) -> None:
        try:
            await coroutine
        except Exception as error:
            if not is_outage(error):
                logger.exception("%s failed", where)
                return
            log_outage(error, where)


keeper = PresenceKeeper()
