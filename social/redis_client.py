"""A redis-py client that runs each command on a connection it holds, when no other thread is
using that connection, instead of taking one from its pool and giving it back.

redis-py 8 takes a pooled connection and gives it back around every command with a lock, a
poll() of the socket and four metrics records (no-ops unless OpenTelemetry is set up): 15-20 µs
of CPU a command, about as much as the command's own packing, send and reply (a GET of a
shared post encoding 35 µs pooled, 20 µs on a held connection; bench/like_redis_held_ab.py).
A like toggle whose previous rev another worker made sends three (the shared encoding's GET
and SET, the notification's PUBLISH: issue #26).

The held connection is lent to one thread at a time: a thread that finds it lent goes
through the pool as before, so threads never queue behind each other's commands (nor behind
a Redis that hangs) and a process holds at most one connection more than the pool's. Before
each command the held connection is checked as the pool checks the ones it hands out (a
poll(): one the server closed is opened anew), and redis-py disconnects a connection on any
error while sending or reading, so it never carries another command's reply.
After a fork the child holds a connection of its own, never its parent's socket.
"""

import os
import threading

import redis


def _checked(connection) -> None:
    """As the pool checks a connection it hands out: one the server closed (or that holds an
    unread reply) is opened anew, so the command needs no retry to find it closed."""
    try:
        if connection.can_read():
            connection.disconnect()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        connection.disconnect()


class HeldConnectionRedis(redis.Redis):
    """`redis.Redis` on a pool, its commands on one held connection when it is free (see the
    module's docstring). Pipelines and pub/sub take pooled connections as before."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lending = threading.Lock()
        self._held: redis.Redis | None = None
        self._held_pid = 0

    def execute_command(self, *args, **options):
        if not self._lending.acquire(blocking=False):
            return super().execute_command(*args, **options)
        try:
            held = self._held
            if held is None or self._held_pid != os.getpid():
                # Built here, not at start-up: it takes its connection from the pool (which
                # resets itself in a forked child) and connects at once.
                held = redis.Redis(connection_pool=self.connection_pool, single_connection_client=True)
                self._held, self._held_pid = held, os.getpid()
            else:
                _checked(held.connection)
            return held.execute_command(*args, **options)
        finally:
            self._lending.release()

    def close(self) -> None:
        held, self._held = self._held, None
        if held is not None and self._held_pid == os.getpid():
            held.close()  # its connection back to the pool
        super().close()
