"""The feed of readers with many blocks (EXTENSIONS.md §5: "feed speed survives blocks").

`blockers_seed` gives each of a few readers `count` blocks of random other users (the bench's
own seeding: rows written directly, as social_figures writes comments, and the friendships
those blocks end deleted in one statement per reader, as safety's service would).
`feed_plans` EXPLAIN ANALYZEs the feed's page query (posts.selectors.refs_query) for a reader
with and without blocks and times it in process: `python -m bench.run --only-blocks` prints
both, on a small seeded database, in a minute.
"""

import statistics
import time

BLOCKS = 500


def blockers_seed(*, count: int, readers: int, exclude_ids) -> list:
    """`readers` users (none of `exclude_ids`), each blocking `count` random other users."""
    from django.db.models import Q

    from accounts.models import User
    from friends.models import Friendship
    from safety.models import Block

    chosen = list(User.objects.exclude(pk__in=list(exclude_ids)).order_by("?")[:readers])
    for reader in chosen:
        targets = list(User.objects.exclude(pk=reader.pk).order_by("?").values_list("pk", flat=True)[:count])
        Block.objects.bulk_create([Block(blocker=reader, blocked_id=target) for target in targets])
        ended = Q(user=reader, friend_id__in=targets) | Q(friend=reader, user_id__in=targets)
        Friendship.objects.filter(ended).delete()
    return chosen


def _explain(viewer) -> str:
    from django.db import connection

    from posts.selectors import refs_query
    from social.pagination import PageRequest

    sql, params = refs_query(viewer_id=viewer.pk, page=PageRequest(limit=20, after=None))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _page_ms(viewer, repeats: int) -> float:
    """Median wall time of the feed's page query (posts.selectors.feed_page), in ms."""
    from posts.selectors import feed_page
    from social.pagination import PageRequest

    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        feed_page(viewer=viewer, page=PageRequest(limit=20, after=None))
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def feed_plans(*, plain, blocker, repeats: int = 200) -> dict:
    """The feed query's plan and median time for a reader with no blocks and one with many."""
    from safety.models import Block

    figures = {}
    for name, viewer in (("0 blocks", plain), (f"{Block.objects.filter(blocker=blocker).count()} blocks", blocker)):
        _page_ms(viewer, 20)  # warm the connection's prepared statement and the caches
        figures[name] = {"plan": _explain(viewer), "median_ms": _page_ms(viewer, repeats)}
    return figures
