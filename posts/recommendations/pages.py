"""A page of a recommended walk: ranked on the first page, read from its snapshot after."""

import uuid

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from posts.recommendations.candidates import candidates_gather
from posts.recommendations.ranking import Weights, authors_spread, candidates_rank
from posts.recommendations.snapshots import UUID_BYTES, cursor_make, cursor_parse, snapshot_load, snapshot_store
from posts.selectors import post_refs
from social.exceptions import InvalidCursor
from social.pagination import Page


def recommended_page(*, viewer: User, limit: int, cursor: str | None) -> Page:
    """One page of the caller's recommendations.

    No cursor: rank now (candidates_gather, candidates_rank), spread the authors over pages of `limit`, and
    keep the order as this walk's snapshot when there is more than one page. A cursor: the
    next `limit` ids of its snapshot. Either way the page is the feed's `post_refs` rows (one
    query; posts/fragments.py renders them); a post deleted since the snapshot is left out.
    ValidationError (400) for a malformed cursor or an expired snapshot.
    """
    if not cursor:
        now = timezone.now()
        ranked = candidates_rank(candidates_gather(viewer=viewer, now=now), weights=Weights.from_settings(), now=now)
        order = authors_spread(ranked, window=limit, cap=settings.RECO_AUTHOR_CAP)[: settings.RECO_SNAPSHOT_MAX_POSTS]
        snapshot_id = snapshot_store(viewer=viewer, order=order) if len(order) > limit else None
        page_ids, total, end = order[:limit], len(order), min(limit, len(order))
    else:
        snapshot_id, position = cursor_parse(cursor)
        ids = snapshot_load(viewer=viewer, snapshot_id=snapshot_id)
        total = len(ids) // UUID_BYTES
        if not 0 < position < total:
            raise InvalidCursor()
        end = min(position + limit, total)
        page_ids = [
            uuid.UUID(bytes=ids[offset : offset + UUID_BYTES])
            for offset in range(position * UUID_BYTES, end * UUID_BYTES, UUID_BYTES)
        ]
    refs = {ref.id: ref for ref in post_refs(viewer=viewer).filter(pk__in=page_ids)}
    items = [refs[post_id] for post_id in page_ids if post_id in refs]
    next_cursor = cursor_make(snapshot_id, end) if end < total else None
    return Page(items=items, next_cursor=next_cursor)
