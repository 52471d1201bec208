"""CPU per like toggle (issue #26), in process: Django's test client over the whole stack
(authentication, DRF dispatch, the toggle's statements, the notification, the answer's
encoding), `time.process_time` over N toggles, the way `bench/run.py` (3) toggles: one user
toggling their like of 10 posts of other authors in turn, so every other toggle is a like (a
notification for the author) and every other an unlike (which takes it back). Also the
statements of one like and one unlike, and the CPU the PostgreSQL server process serving the
test's connection spent per toggle (its /proc stat, when the server runs on this machine and
we may read it: the write path's cost there, index upkeep included). Not collected by the
suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_cpu.py -q -s

With LIKE_PROFILE=1, also a cProfile of 200 toggles (top 45 functions, LIKE_SORT to re-sort).
"""

import gc
import os
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from bench.common import cpu_profile_print
from posts.tests.factories import PostFactory

REQUESTS = 200


@pytest.fixture
def paths(db, user):
    authors = UserFactory.create_batch(10)
    for author in authors:
        PostFactory.create_batch(3, author=author)
    posts = [PostFactory(author=author) for author in authors]
    return [f"/api/posts/{post.pk}/like/{user.pk}" for post in posts]


def backend_cpu_ms() -> float | None:
    """CPU time (user + system, ms) of the PostgreSQL process serving our connection so far;
    None when it cannot be read (another machine, SQLite, no permission)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime, fields 14 and 15 of proc(5), counted from the state (field 3).
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def toggles(client, paths, n: int) -> None:
    for i in range(n):
        response = client.patch(paths[i % len(paths)])
        assert response.status_code == 200, response.content[:200]


# Committed for real (BEGIN … COMMIT, not the savepoints of a test's transaction): a toggle's
# after-commit work (the notification's frame to the author's sockets) runs as in production.
@pytest.mark.django_db(transaction=True)
def test_like_cpu(api, paths):
    toggles(api, paths, 40)  # warm: prepared statements, the posts' encodings
    gc.collect()
    batches = []
    server_before = backend_cpu_ms()
    for _ in range(5):
        start = time.process_time()
        toggles(api, paths, REQUESTS)
        batches.append((time.process_time() - start) * 1000 / REQUESTS)
    server_after = backend_cpu_ms()
    print(f"\nlike toggle   {min(batches):6.2f} ms CPU/request (batches {', '.join(f'{b:.2f}' for b in batches)})")
    if server_before is not None and server_after is not None:
        # The clock ticks are 10 ms: over 1,000 toggles, ±0.01 ms a toggle.
        server = (server_after - server_before) / (5 * REQUESTS)
        print(f"PostgreSQL    {server:6.2f} ms CPU/request (its backend process)")
    for kind in ("like", "unlike"):
        with CaptureQueriesContext(connection) as queries:
            api.patch(paths[0])
        print(f"{kind}: {len(queries)} statements")
        for query in queries:
            print("   ", query["sql"][:220])
    if os.environ.get("LIKE_PROFILE"):
        cpu_profile_print(lambda: toggles(api, paths, REQUESTS), 1, sort=os.environ.get("LIKE_SORT", "cumulative"))
