"""The walk's ranked ids, kept in the shared cache under a random snapshot id, and the cursors
that name a snapshot and a position in it.

Snapshots are bounded, since every first page writes one: a walk keeps at most
RECO_SNAPSHOT_MAX_POSTS ids (16 bytes each; the walk ends there), and a viewer at most
RECO_SNAPSHOTS_PER_USER walks: each walk takes the next of the viewer's slots, so a new walk
overwrites the viewer's oldest one (whose cursor then answers the stale-walk 400). One client
asking first pages in a loop used to add 14 KB an hour each (1.7 GB an hour)."""

import re
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache

from accounts.models import User
from social.exceptions import InvalidCursor
from social.pagination import decode_cursor, encode_cursor

STALE_CURSOR = "Подборка рекомендаций устарела: запросите первую страницу заново, без cursor."
SNAPSHOT_KEY = "posts:recommended:{viewer}:{slot}"
SNAPSHOT_COUNTER_KEY = "posts:recommended:{viewer}:walks"
# "<slot>.<secrets.token_urlsafe(16)>": the viewer's slot and the walk's own random id.
SNAPSHOT_ID = re.compile(r"(\d{1,3})\.([A-Za-z0-9_-]{22})")
UUID_BYTES = 16


def _snapshot_slot(viewer: User) -> int:
    """The next of the viewer's RECO_SNAPSHOTS_PER_USER slots (round robin, shared by every
    process through the cache's atomic increment)."""
    key = SNAPSHOT_COUNTER_KEY.format(viewer=viewer.pk.hex)
    cache.add(key, 0, timeout=settings.RECO_SNAPSHOT_TTL)
    try:
        walks = cache.incr(key)
    except ValueError:  # the counter expired between add and incr
        walks = 0
    return walks % settings.RECO_SNAPSHOTS_PER_USER


def snapshot_store(*, viewer: User, order: list[uuid.UUID]) -> str:
    """Keep a walk's ranked ids (cut at RECO_SNAPSHOT_MAX_POSTS by pages) for RECO_SNAPSHOT_TTL s
    in one of the viewer's slots (the oldest walk's); returns the snapshot id for the cursor."""
    slot, token = _snapshot_slot(viewer), secrets.token_urlsafe(16)
    value = {"token": token, "ids": b"".join(post_id.bytes for post_id in order)}
    cache.set(SNAPSHOT_KEY.format(viewer=viewer.pk.hex, slot=slot), value, timeout=settings.RECO_SNAPSHOT_TTL)
    return f"{slot}.{token}"


def snapshot_load(*, viewer: User, snapshot_id: str) -> bytes:
    """The walk's ids (16 bytes each); 400 when it expired or a newer walk took its slot. The
    key holds the viewer: nobody reads another viewer's walk."""
    slot, token = SNAPSHOT_ID.fullmatch(snapshot_id).groups()
    key = SNAPSHOT_KEY.format(viewer=viewer.pk.hex, slot=int(slot))
    value = cache.get(key)
    if value is None or not secrets.compare_digest(value["token"], token):
        raise InvalidCursor(STALE_CURSOR)
    cache.touch(key, timeout=settings.RECO_SNAPSHOT_TTL)  # a reader still scrolling keeps it
    return value["ids"]


def cursor_parse(raw: str) -> tuple[str, int]:
    """(snapshot id, position) of a walk's cursor; InvalidCursor when it is not one."""
    snapshot_id, position = decode_cursor(raw, size=2)
    found = SNAPSHOT_ID.fullmatch(snapshot_id)
    if (
        not found
        or int(found.group(1)) >= settings.RECO_SNAPSHOTS_PER_USER
        or not (position.isascii() and position.isdigit() and len(position) < 7)
    ):
        raise InvalidCursor()
    return snapshot_id, int(position)


def cursor_make(snapshot_id: str, position: int) -> str:
    """The cursor of the page that starts at `position` of the snapshot."""
    return encode_cursor([snapshot_id, position])
