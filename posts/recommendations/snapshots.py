"""The walk's ranked ids, kept in the shared cache under a random snapshot id, and the cursors
that name a snapshot and a position in it."""

import re
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache

from accounts.models import User
from social.exceptions import InvalidCursor
from social.pagination import decode_cursor, encode_cursor

STALE_CURSOR = "Подборка рекомендаций устарела: запросите первую страницу заново, без cursor."
SNAPSHOT_KEY = "posts:recommended:{}"
SNAPSHOT_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
UUID_BYTES = 16


def snapshot_store(*, viewer: User, order: list[uuid.UUID]) -> str:
    """Keep a walk's ranked ids for RECO_SNAPSHOT_TTL seconds; returns the snapshot id."""
    snapshot_id = secrets.token_urlsafe(16)
    value = {"viewer": viewer.pk.hex, "ids": b"".join(post_id.bytes for post_id in order)}
    cache.set(SNAPSHOT_KEY.format(snapshot_id), value, timeout=settings.RECO_SNAPSHOT_TTL)
    return snapshot_id


def snapshot_load(*, viewer: User, snapshot_id: str) -> bytes:
    """The walk's ids (16 bytes each); 400 when it expired or belongs to someone else."""
    key = SNAPSHOT_KEY.format(snapshot_id)
    value = cache.get(key)
    if value is None:
        raise InvalidCursor(STALE_CURSOR)
    if value["viewer"] != viewer.pk.hex:
        raise InvalidCursor()
    cache.touch(key, timeout=settings.RECO_SNAPSHOT_TTL)  # a reader still scrolling keeps it
    return value["ids"]


def cursor_parse(raw: str) -> tuple[str, int]:
    """(snapshot id, position) of a walk's cursor; InvalidCursor when it is not one."""
    snapshot_id, position = decode_cursor(raw, size=2)
    if not SNAPSHOT_ID.fullmatch(snapshot_id) or not (position.isascii() and position.isdigit() and len(position) < 7):
        raise InvalidCursor()
    return snapshot_id, int(position)


def cursor_make(snapshot_id: str, position: int) -> str:
    """The cursor of the page that starts at `position` of the snapshot."""
    return encode_cursor([snapshot_id, position])
