"""Post lists as JSON, from encodings of each post kept per process.

A page of posts is the hottest read of the API: 20 posts embedding up to POST_LIKES_EMBEDDED
likers each, about 5 ms of queries, serialization and JSON per page (README "Performance and
tuning"), while a post's representation changes far more rarely than it is read. So each
post's encoding is kept here, keyed by the post and checked against its `rev`, which every
write changing the representation moves in the same UPDATE (posts.services). A page then
costs the one query of its `PostRef` rows; only posts whose rev moved, or that this process
has not encoded yet, are read again (`selectors.posts_detailed`, three queries for them all).

Nothing is invalidated by message: each process learns that an entry is stale from the rev the
page query reads from the database, so every process serves what the database holds at that
query. The viewer's `liked_by_me` is spliced into the encoding. An entry lives no longer than
the reuse window of the presigned URLs it embeds (social.files.url_lease), and the oldest
entries go first once POST_CACHE_BYTES is exceeded.
"""

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from rest_framework.settings import api_settings

from posts import selectors
from posts.serializers import PostSerializer
from social import metrics
from social.files import url_lease

_VIEWER_FIELD = "liked_by_me"


@dataclass(frozen=True, slots=True)
class _Encoded:
    rev: int
    head: bytes  # the object up to and including `"liked_by_me":`
    tail: bytes  # the rest, from the comma after the value
    until: float  # time.monotonic() after which an embedded URL may no longer be handed out

    def render(self, liked_by_me: bool) -> bytes:
        return self.head + (b"true" if liked_by_me else b"false") + self.tail


class _Store:
    """A byte-bounded map, oldest insertion evicted first. Requests of one process may run on
    several threads (daphne's sync views, gthread workers): writes hold a lock."""

    def __init__(self):
        self._entries: dict = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key) -> _Encoded | None:
        return self._entries.get(key)

    def put(self, key, entry: _Encoded, budget: int) -> None:
        size = len(entry.head) + len(entry.tail)
        if size > budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.head) + len(old.tail)
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > budget:
                evicted = self._entries.pop(next(iter(self._entries)))
                self._bytes -= len(evicted.head) + len(evicted.tail)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_store = _Store()


def _encoder():
    # The renderer every other answer goes through, so a list and a single post are encoded
    # alike (UTF-8, compact separators).
    return api_settings.DEFAULT_RENDERER_CLASSES[0]()


def _encode(post, request, renderer) -> _Encoded:
    """The post's representation (PostSerializer's) as head and tail around liked_by_me."""
    post.liked_by_me = False  # a placeholder: the viewer's value is spliced in per request
    with url_lease() as lease:
        data = PostSerializer(post, context={"request": request}).data
    keys = list(data)
    split = keys.index(_VIEWER_FIELD)
    # Two whole objects, encoded apart and cut at their braces, rather than a search for the
    # field's name in one encoding: nothing a user typed can be mistaken for the split point.
    head = renderer.render({key: data[key] for key in keys[:split]})
    tail = renderer.render({key: data[key] for key in keys[split + 1 :]})
    head = head[:-1] + (b"," if len(head) > 2 else b"") + b'"' + _VIEWER_FIELD.encode() + b'":'
    tail = (b"," + tail[1:]) if len(tail) > 2 else b"}"
    return _Encoded(rev=post.rev, head=head, tail=tail, until=lease.until)


def posts_json(refs: Sequence, *, request) -> bytes:
    """A JSON array of the posts of `refs` (`selectors.post_refs` rows), in their order.

    A post deleted since its row was read is left out. Its URLs are absolute for this
    request's host when the storage's are relative (local media), so the host is part of the
    key."""
    budget = settings.POST_CACHE_BYTES
    origin = (request.scheme, request.get_host())
    now = time.monotonic()
    encoded: dict = {}
    stale = []
    for ref in refs:
        entry = _store.get((ref.id, origin))
        if entry is not None and entry.rev == ref.rev and entry.until > now:
            encoded[ref.id] = entry
        else:
            stale.append(ref.id)
    if refs:
        metrics.POST_CACHE.labels("hit").inc(len(refs) - len(stale))
        metrics.POST_CACHE.labels("miss").inc(len(stale))
    if stale:
        renderer = _encoder()
        for post in selectors.posts_detailed(ids=stale):
            # Kept under the rev read with the data, which may be newer than the ref's. The
            # images and likers are read after the post row, so they are never older than that
            # rev: at worst newer, and the next page query finds the rev moved and re-reads.
            entry = encoded[post.pk] = _encode(post, request, renderer)
            if budget > 0:
                _store.put((post.pk, origin), entry, budget)
    return b"[" + b",".join(encoded[ref.id].render(ref.liked_by_me) for ref in refs if ref.id in encoded) + b"]"


def posts_response(refs: Sequence, *, request, headers: dict | None = None) -> HttpResponse:
    """`posts_json` as the answer DRF's renderer would give for the same list."""
    renderer = _encoder()
    return HttpResponse(
        posts_json(refs, request=request),
        content_type=f"{renderer.media_type}; charset={renderer.charset}",
        headers=headers,
    )


def cache_clear() -> None:
    """Forget every encoding of this process (tests; a changed POST_LIKES_EMBEDDED)."""
    _store.clear()
