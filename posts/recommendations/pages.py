"""A page of a recommended walk: its first page from the viewer's kept ranking (ranked at most
RECO_RANKING_TTL seconds ago, refreshed in the background), its next pages from its snapshot.

Ranking is the one heavy step (four candidate pools, their facts, the score, the author spread:
~300 ms at 50k posts and 500k likes), and what it ranks moves over minutes, not between two
refreshes of a first page. So a ranking is kept per viewer and page size in the shared cache,
beside the walk's snapshot it made, and a first page is one cache read and the page's refs:
- no kept ranking (a viewer's first visit, or none for 5 × RECO_RANKING_TTL): rank now;
- a kept ranking younger than RECO_RANKING_TTL: serve it;
- an older one: serve it and enqueue `posts.tasks.recommended_refresh` (once per viewer and
  TTL), which ranks anew off the request (django-tasks, `manage.py db_worker`).
RECO_RANKING_TTL = 0 ranks on every first page (no kept ranking).
"""

import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from accounts.selectors import SessionClaims
from posts.recommendations.candidates import candidates_gather
from posts.recommendations.ranking import Weights, authors_spread, candidates_rank
from posts.recommendations.snapshots import UUID_BYTES, cursor_make, cursor_parse, snapshot_load, snapshot_store
from posts.selectors import post_refs_of, post_refs_of_session
from social.exceptions import InvalidCursor
from social.pagination import MAX_LIMIT, Page


class RecommendedRead:
    """One request for a page of the caller's recommendations (`cursor`: none or empty for a
    first page). A Bearer request tries `page_of_session` (the token's check in the page's
    statement) and, when that cannot serve it, `page` once the token is checked: the viewer's
    kept ranking is read from the cache once between them (a stale or absent one was read
    again by `page`: a second Redis round trip on the request)."""

    def __init__(self, *, cursor: str | None):
        self.cursor = cursor or None
        self._kept: tuple | None = None  # ((viewer id, limit), the kept ranking or None) once read

    def page_of_session(self, *, claims: SessionClaims, limit: int) -> tuple[User | None, Page | None] | None:
        """`page`'s first page with the check of the token's user in the page's statement
        (`posts.selectors.post_refs_of_session`), when the viewer's kept ranking for `limit`
        is fresh (the common case: one cache read, nothing to rank, store or enqueue): (the
        user, as `accounts.selectors.session_user` answers, and the page), or (None, None)
        when the check refuses the token. None for any other page (a cursor; no fresh kept
        ranking): the caller checks the token first, and a refused one causes no ranking and
        no task."""
        if self.cursor is not None:
            return None
        kept = self._kept_read(viewer_id=claims.user_id, limit=limit)
        if kept is None or _kept_stale(kept):
            return None
        walk = _Walk(kept["snapshot_id"], kept["ids"], 0, limit)
        viewer, refs = post_refs_of_session(claims=claims, ids=walk.page_ids)
        return (viewer, walk.page(refs)) if viewer is not None else (None, None)

    def page(self, *, viewer: User, limit: int) -> Page:
        """One page of the caller's recommendations.

        No cursor: the first `limit` ids of the viewer's kept ranking (`ranking_kept`), whose
        snapshot the next pages walk when it is longer than a page. A cursor: the next `limit`
        ids of its snapshot. Either way the page is `post_refs_of` rows (one prepared query;
        posts/fragments.py renders them); a post deleted since the ranking is left out.
        ValidationError (400) for a malformed cursor or an expired snapshot.
        """
        if self.cursor is None:
            kept = ranking_kept(viewer=viewer, limit=limit, kept=self._kept_read(viewer_id=viewer.pk, limit=limit))
            snapshot_id, ids, position = kept["snapshot_id"], kept["ids"], 0
        else:
            snapshot_id, position = cursor_parse(self.cursor)
            ids = snapshot_load(viewer=viewer, snapshot_id=snapshot_id)
            if not 0 < position < len(ids) // UUID_BYTES:
                raise InvalidCursor()
        walk = _Walk(snapshot_id, ids, position, limit)
        # The page's rows are read now, whatever the ranking's age: a deleted post is left out,
        # the counters and liked_by_me are current.
        return walk.page(post_refs_of(viewer=viewer, ids=walk.page_ids))

    def _kept_read(self, *, viewer_id, limit: int) -> dict | None:
        key = (viewer_id, limit)
        if self._kept is None or self._kept[0] != key:
            self._kept = (key, _kept_read(viewer_id=viewer_id, limit=limit))
        return self._kept[1]


def recommended_page(*, viewer: User, limit: int, cursor: str | None) -> Page:
    """`RecommendedRead.page` of a request of its own."""
    return RecommendedRead(cursor=cursor).page(viewer=viewer, limit=limit)


def kept_page_of_session(*, claims: SessionClaims, limit: int) -> tuple[User | None, Page | None] | None:
    """`RecommendedRead.page_of_session` of a first page's request of its own."""
    return RecommendedRead(cursor=None).page_of_session(claims=claims, limit=limit)


class _Walk:
    """The page of a walk's ids (16 bytes each) that starts at `position`."""

    def __init__(self, snapshot_id: str | None, ids: bytes, position: int, limit: int):
        self.snapshot_id, self.total = snapshot_id, len(ids) // UUID_BYTES
        self.end = min(position + limit, self.total)
        self.page_ids = [
            uuid.UUID(bytes=ids[offset : offset + UUID_BYTES])
            for offset in range(position * UUID_BYTES, self.end * UUID_BYTES, UUID_BYTES)
        ]

    def page(self, refs: dict) -> Page:
        """The page of `refs` (post_refs_of's rows of page_ids), in the walk's order."""
        items = [refs[post_id] for post_id in self.page_ids if post_id in refs]
        next_cursor = cursor_make(self.snapshot_id, self.end) if self.end < self.total else None
        return Page(items=items, next_cursor=next_cursor)


RANKING_KEY = "posts:recommended-ranking:{viewer}:{limit}"
REFRESHING_KEY = "posts:recommended-refreshing:{viewer}:{limit}"


def ranking_refresh(*, viewer: User, limit: int) -> dict:
    """Rank `viewer`'s candidates now for pages of `limit`, keep the order as a walk's snapshot
    (when it is longer than a page) and, with RECO_RANKING_TTL > 0, as the viewer's kept
    ranking: {"at": epoch seconds, "snapshot_id": str | None, "ids": 16 bytes per post}."""
    now = timezone.now()
    ranked = candidates_rank(candidates_gather(viewer=viewer, now=now), weights=Weights.from_settings(), now=now)
    order = authors_spread(ranked, window=limit, cap=settings.RECO_AUTHOR_CAP)[: settings.RECO_SNAPSHOT_MAX_POSTS]
    snapshot_id = snapshot_store(viewer=viewer, order=order) if len(order) > limit else None
    kept = {"at": time.time(), "snapshot_id": snapshot_id, "ids": b"".join(post_id.bytes for post_id in order)}
    ttl = settings.RECO_RANKING_TTL
    if ttl > 0:
        cache.set(RANKING_KEY.format(viewer=viewer.pk.hex, limit=limit), kept, timeout=5 * ttl)
    return kept


def rankings_forget(*, viewer_ids) -> None:
    """Drop the kept rankings of these viewers, of every page size: what they may see changed
    (a block lifted), and a ranking kept from before would hide it for up to 5 × TTL."""
    cache.delete_many(
        [
            RANKING_KEY.format(viewer=viewer_id.hex, limit=limit)
            for viewer_id in viewer_ids
            for limit in range(1, MAX_LIMIT + 1)
        ]
    )


def ranking_kept(*, viewer: User, limit: int, kept: dict | None) -> dict:
    """The viewer's kept ranking for pages of `limit` (`ranking_refresh`'s shape), given what
    the cache held for it (`kept`, as the request read it): ranked now when none is kept; when
    it is older than RECO_RANKING_TTL, served while a background task ranks anew (enqueued once
    per TTL)."""
    if kept is None:
        return ranking_refresh(viewer=viewer, limit=limit)
    if _kept_stale(kept) and cache.add(
        REFRESHING_KEY.format(viewer=viewer.pk.hex, limit=limit), 1, timeout=settings.RECO_RANKING_TTL
    ):
        from posts.tasks import recommended_refresh  # tasks import the services above this package

        recommended_refresh.enqueue(viewer_id=str(viewer.pk), limit=limit)
    return kept


def _kept_read(*, viewer_id, limit: int) -> dict | None:
    # The viewer's kept ranking for `limit`, if any (none is kept with RECO_RANKING_TTL = 0).
    if settings.RECO_RANKING_TTL <= 0:
        return None
    return cache.get(RANKING_KEY.format(viewer=viewer_id.hex, limit=limit))


def _kept_stale(kept: dict) -> bool:
    # Older than RECO_RANKING_TTL: served while a background task ranks anew.
    return time.time() - kept["at"] > settings.RECO_RANKING_TTL
