"""CPU per like toggle (issue #26), in process: Django's test client over the whole stack
(authentication, DRF dispatch, the toggle's statements, the notification, the answer's
encoding), `time.process_time` over N toggles, the way `bench/run.py` (3) toggles: one user
toggling their like of 10 posts of other authors in turn, so every other toggle is a like (a
notification for the author) and every other an unlike (which takes it back). Also the
statements of one like and one unlike. Not collected by the suite; run it by path:

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
    for _ in range(5):
        start = time.process_time()
        toggles(api, paths, REQUESTS)
        batches.append((time.process_time() - start) * 1000 / REQUESTS)
    print(f"\nlike toggle   {min(batches):6.2f} ms CPU/request (batches {', '.join(f'{b:.2f}' for b in batches)})")
    for kind in ("like", "unlike"):
        with CaptureQueriesContext(connection) as queries:
            api.patch(paths[0])
        print(f"{kind}: {len(queries)} statements")
        for query in queries:
            print("   ", query["sql"][:220])
    if os.environ.get("LIKE_PROFILE"):
        cpu_profile_print(lambda: toggles(api, paths, REQUESTS), 1, sort=os.environ.get("LIKE_SORT", "cumulative"))
