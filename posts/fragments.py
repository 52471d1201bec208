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

from accounts.privacy import embedded_email
from accounts.serializers import user_representation
from posts import selectors
from posts.serializers import PostSerializer
from social import metrics
from social.files import url_lease
from social.renderers import JsonDumps, default_renderer, json_response

_VIEWER_FIELD = "liked_by_me"
_LIKES_FIELD = "likes"
_COUNT_FIELD = "likes_count"


@dataclass(frozen=True, slots=True)
class _Encoded:
    rev: int
    head: bytes  # the object up to and including `"liked_by_me":`
    tail: bytes  # the rest, from the comma after the value
    until: float  # time.monotonic() after which an embedded URL may no longer be handed out
    # The pieces of `head` a like toggle changes, so that it moves the entry by one rev
    # without reading the post again (`like_toggled_json`):
    pre: bytes  # the object up to and including `"likes":`
    likers: tuple  # the embedded likers' encodings, most recent first
    liker_ids: tuple  # their ids (str), in the same order
    likes_count: int

    @classmethod
    def assemble(cls, *, rev, pre, likers, liker_ids, likes_count, tail, until) -> "_Encoded":
        head = b"".join(
            (pre, b"[", b",".join(likers), b'],"likes_count":', str(likes_count).encode(), b',"liked_by_me":')
        )
        return cls(rev, head, tail, until, pre, likers, liker_ids, likes_count)

    @property
    def size(self) -> int:
        return len(self.head) + len(self.tail) + len(self.pre)

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
        size = entry.size
        if size > budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > budget:
                evicted = self._entries.pop(next(iter(self._entries)))
                self._bytes -= evicted.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_store = _Store()


def _encoder():
    # The renderer every other answer goes through, so a list and a single post are encoded
    # alike (UTF-8, compact separators).
    return default_renderer()


# One JSON encoder for every piece of an encoding (each embedded liker apart).
_Dumps = JsonDumps


def _encode(post, serializer, dumps) -> _Encoded:
    """The post's representation (PostSerializer's) in the pieces of an `_Encoded`."""
    post.liked_by_me = False  # a placeholder: the viewer's value is spliced in per request
    with url_lease() as lease:
        data = serializer.to_representation(post)
    keys = list(data)
    likes, split = keys.index(_LIKES_FIELD), keys.index(_VIEWER_FIELD)
    if keys[likes + 1 : split] != [_COUNT_FIELD]:
        raise AssertionError("PostSerializer's likes, likes_count and liked_by_me must follow each other")
    # Whole objects, encoded apart and cut at their braces, rather than a search for the
    # fields' names in one encoding: nothing a user typed can be mistaken for a split point.
    pre = dumps({key: data[key] for key in keys[:likes]})
    pre = pre[:-1] + (b"," if len(pre) > 2 else b"") + b'"' + _LIKES_FIELD.encode() + b'":'
    tail = dumps({key: data[key] for key in keys[split + 1 :]})
    tail = (b"," + tail[1:]) if len(tail) > 2 else b"}"
    return _Encoded.assemble(
        rev=post.rev,
        pre=pre,
        likers=tuple(dumps(liker) for liker in data[_LIKES_FIELD]),
        liker_ids=tuple(liker["id"] for liker in data[_LIKES_FIELD]),
        likes_count=data[_COUNT_FIELD],
        tail=tail,
        until=lease.until,
    )


def _entries(refs: Sequence, *, request) -> dict:
    """{post id: _Encoded} of the posts of `refs` that exist: the cached encodings whose rev is
    the ref's, the others read (three queries for them all), encoded and cached."""
    budget = settings.POST_CACHE_BYTES
    origin = _origin(request)
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
        # One serializer for the page: its representation is built directly (no bound fields).
        serializer, dumps = PostSerializer(context={"request": request}), _Dumps(_encoder())
        for post in selectors.posts_detailed(ids=stale):
            # Kept under the rev read with the data, which may be newer than the ref's. The
            # images and likers are read after the post row, so they are never older than that
            # rev: at worst newer, and the next page query finds the rev moved and re-reads.
            entry = encoded[post.pk] = _encode(post, serializer, dumps)
            if budget > 0:
                _store.put((post.pk, origin), entry, budget)
    return encoded


def _origin(request) -> tuple:
    # URLs are absolute for this request's host when the storage's are relative (local media).
    return (request.scheme, request.get_host())


def posts_json(refs: Sequence, *, request) -> bytes:
    """A JSON array of the posts of `refs` (`selectors.post_refs` rows), in their order.

    A post deleted since its row was read is left out. Its URLs are absolute for this
    request's host when the storage's are relative (local media), so the host is part of the
    key."""
    encoded = _entries(refs, request=request)
    return b"[" + b",".join(encoded[ref.id].render(ref.liked_by_me) for ref in refs if ref.id in encoded) + b"]"


def _moved_by_like(entry: _Encoded, *, rev: int, liker_id: str, liker: bytes | None, until: float):
    """`entry` one rev later, after `liker_id` liked the post (`liker`: their encoding) or
    unliked it (None). None when that cannot be known without reading the post: an unlike of
    an embedded liker while more likers than are embedded exist (the next one moves up)."""
    embedded = settings.POST_LIKES_EMBEDDED
    if liker is not None and liker_id in entry.liker_ids:
        # The entry's likers were read after this like committed (they may be newer than its
        # rev, see _entries): they show it already.
        likers, ids, count = entry.likers, entry.liker_ids, entry.likes_count + 1
    elif liker is not None:
        likers, ids, count = (liker, *entry.likers), (liker_id, *entry.liker_ids), entry.likes_count + 1
        likers, ids = likers[: max(embedded, 0)], ids[: max(embedded, 0)]
    elif liker_id in entry.liker_ids:
        if entry.likes_count > len(entry.liker_ids):
            return None
        at = entry.liker_ids.index(liker_id)
        likers, ids = entry.likers[:at] + entry.likers[at + 1 :], entry.liker_ids[:at] + entry.liker_ids[at + 1 :]
        count = entry.likes_count - 1
    else:
        likers, ids, count = entry.likers, entry.liker_ids, entry.likes_count - 1
    return _Encoded.assemble(
        rev=rev, pre=entry.pre, likers=likers, liker_ids=ids, likes_count=count, tail=entry.tail, until=until
    )


def like_toggled_json(*, ref, user, request) -> bytes | None:
    """The post of `ref` (a PostRef: the post's rev after `user` toggled their like, and
    whether they like it now) as a JSON object; None when it was deleted meanwhile.

    When this process holds the post's encoding of the rev just before, the toggle was the only
    change since: the encoding moves by it (the liker in or out of the embedded likers, the
    count by one) with no query. Otherwise the post is read and encoded as a page would."""
    key = (ref.id, _origin(request))
    entry = _store.get(key)
    moved = None
    if entry is not None and entry.rev == ref.rev - 1 and entry.until > time.monotonic():
        liker, until = None, entry.until
        if ref.liked_by_me:
            with url_lease() as lease:
                shown = user_representation(
                    user_id=user.pk,
                    username=user.username,
                    email=embedded_email(user.email),
                    avatar_name=user.avatar.name or None,
                    request=request,
                )
            liker, until = _Dumps(_encoder())(shown), min(until, lease.until)
        moved = _moved_by_like(entry, rev=ref.rev, liker_id=str(user.pk), liker=liker, until=until)
    if moved is not None:
        metrics.POST_CACHE.labels("hit").inc()
        if settings.POST_CACHE_BYTES > 0:
            _store.put(key, moved, settings.POST_CACHE_BYTES)
        return moved.render(ref.liked_by_me)
    encoded = _entries([ref], request=request).get(ref.id)
    return encoded.render(ref.liked_by_me) if encoded is not None else None


def posts_response(refs: Sequence, *, request, headers: dict | None = None) -> HttpResponse:
    """`posts_json` as the answer DRF's renderer would give for the same list."""
    return json_response(posts_json(refs, request=request), headers=headers)


def cache_clear() -> None:
    """Forget every encoding of this process (tests; a changed POST_LIKES_EMBEDDED)."""
    _store.clear()
