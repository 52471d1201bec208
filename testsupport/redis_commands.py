"""What Redis is asked, seen from Redis itself (MONITOR): for tests that count round trips."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings


@contextmanager
def redis_commands(containing: str) -> Iterator[list[str]]:
    """Within the block, the list of the commands the cache's Redis server receives, from any
    client, on the cache's DB, that mention `containing` (a key of the test's own: the server is
    shared with other test runs), each as "COMMAND arg ...". Filled when the block ends."""
    location = settings.CACHES["default"]["LOCATION"]
    client = redis.Redis.from_url(location)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    seen: list[str] = []
    with client.monitor() as monitor:  # MONITOR answered: every later command is reported
        yield seen
        end = f"redis-commands-end-{uuid.uuid4().hex}"
        client.echo(end)
        for command in monitor.listen():
            if end in command["command"]:
                break
            if command["db"] == db and containing in command["command"]:
                seen.append(command["command"])
    client.close()
