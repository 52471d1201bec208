"""Post lists as JSON, from encodings of each post kept per process.

A page of posts is the hottest read of the API: 20 posts embedding up to POST_LIKES_EMBEDDED
likers each, about 5 ms of queries, serialization and JSON per page (README "Performance and
tuning"), while a post's representation changes far more rarely than it is read. So each
post's encoding is kept here, keyed by the post and checked against its `rev`, which every
write changing the representation moves in the same UPDATE (posts.services). A page then
costs the one query of its `PostRef` rows; only posts whose rev moved, or that this process
has not encoded yet, are read again (`selectors.post_details`, one query for them all).

Nothing is invalidated by message: each process learns that an entry is stale from the rev the
page query reads from the database, so every process serves what the database holds at that
query. The viewer's `liked_by_me` is spliced into the encoding. An entry lives no longer than
the reuse window of the presigned URLs it embeds (social.files.url_lease), and the oldest
entries go first once POST_CACHE_BYTES is exceeded.

Behind the process's own entries, the same encodings are shared by every process through the
cache's Redis (POST_SHARED_CACHE_TTL): a post this process has not encoded is looked up there
first (one MGET for the page's missing posts), and what it encodes goes there too, so a post
is read from the database and encoded once for all workers, not once per worker: the pages
from deep in the feed, which no process has met yet, cost that read and encoding (issue #26).
A shared entry obeys the same rules: served only under the rev the page query read, and only
until its URLs' reuse window ends (kept as wall-clock time, the one clock processes share).
Its key names what else shapes an encoding (the embedded likers' number, the email rule, the
storage, the request's origin), so a changed setting never meets an old entry. Redis failing
costs nothing but the sharing: the page is read from the database, and the shared layer is
skipped for a few seconds rather than waited on by every request.
"""

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils.timezone import get_current_timezone

from accounts.privacy import embedded_email, embedded_emails_shown
from accounts.serializers import user_representation
from posts import selectors
from posts.serializers import liker_representation, post_head_representation, post_tail_representation
from social import metrics
from social.files import url_lease
from social.generations import TwoGenerations
from social.limits import REDIS_FAILURES
from social.renderers import json_bytes, json_response

logger = logging.getLogger(__name__)


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


# --- The encodings shared by every process (the cache's Redis) ---------------------------------
# Moved whenever _Encoded's pieces or the post representation change shape: a deploy then
# never reads the entries of the code before it.
_SHARED_FORMAT = 1
_SHARED_KEY = "posts:encoding:{format}:{shape}:{scheme}:{host}:"
# After a Redis failure the shared layer is skipped this long: a Redis that hangs would
# otherwise hold every page for the client's socket timeout.
_SHARED_BACKOFF_SECONDS = 5.0
_shared_off_until = 0.0


# {origin: its prefix}: the digest of the settings costs more than the rest of a shared read's
# Python; a changed setting (tests) forgets them all (`_prefixes_forget`).
_prefixes: dict = {}


@receiver(setting_changed)
def _prefixes_forget(**kwargs) -> None:
    _prefixes.clear()


def _shared_prefix(origin: tuple) -> str:
    """The key prefix of this origin's shared entries: the format, and a digest of the settings
    that shape an encoding besides the post (embedded likers, the email rule, the storage)."""
    prefix = _prefixes.get(origin)
    if prefix is not None:
        return prefix
    storage = settings.STORAGES.get("default", {})
    # Plain values only: an object's repr names its address, which differs between processes.
    options = sorted(
        (name, value)
        for name, value in storage.get("OPTIONS", {}).items()
        if isinstance(value, (str, int, float, bool, type(None)))
    )
    shape = repr(
        (settings.POST_LIKES_EMBEDDED, settings.USER_EMAIL_VISIBILITY, storage.get("BACKEND"), options)
    ).encode()
    digest = hashlib.blake2b(shape, digest_size=6).hexdigest()
    prefix = _SHARED_KEY.format(format=_SHARED_FORMAT, shape=digest, scheme=origin[0], host=origin[1])
    if len(_prefixes) >= 64:  # hosts are checked against ALLOWED_HOSTS, but bound it anyway
        _prefixes.clear()
    _prefixes[origin] = prefix
    return prefix


def _shared_on() -> bool:
    return settings.POST_SHARED_CACHE_TTL > 0 and time.monotonic() >= _shared_off_until


def _shared_failed(error: Exception, what: str) -> None:
    global _shared_off_until
    if time.monotonic() >= _shared_off_until:  # once per backoff, not once per request
        logger.warning("shared post encodings unavailable (%s: %s): pages read the database", what, error)
    _shared_off_until = time.monotonic() + _SHARED_BACKOFF_SECONDS


def _shared_get(post_ids: list, origin: tuple) -> dict:
    """{post id's int: _Encoded} of the shared entries of `post_ids` still within their URLs'
    reuse window (their rev unchecked): one MGET. {} when Redis fails."""
    prefix = _shared_prefix(origin)
    suffixes = [post_id.hex for post_id in post_ids]
    try:
        # One made prefix for the page's keys where the cache is ours (social.cache).
        get_many_under = getattr(cache, "get_many_under", None)
        if get_many_under is not None:
            found = get_many_under(prefix, suffixes)
        else:
            found = {key[len(prefix) :]: value for key, value in cache.get_many([prefix + s for s in suffixes]).items()}
    except REDIS_FAILURES as error:
        _shared_failed(error, "read")
        return {}
    wall, now = time.time(), time.monotonic()
    entries = {}
    for post_id, suffix in zip(post_ids, suffixes, strict=True):
        packed = found.get(suffix)
        if packed is None:
            continue
        rev, pre, likers, liker_ids, likes_count, tail, until = packed
        if until > wall:
            entries[post_id.int] = _Encoded.assemble(
                rev=rev,
                pre=pre,
                likers=likers,
                liker_ids=liker_ids,
                likes_count=likes_count,
                tail=tail,
                until=now + (until - wall),  # back to this process's monotonic clock
            )
    return entries


def _shared_put(entries: dict, origin: tuple) -> None:
    """Share `entries` ({post id: _Encoded}) for POST_SHARED_CACHE_TTL seconds: one pipelined
    write. Nothing when Redis fails (the next reader encodes again)."""
    prefix = _shared_prefix(origin)
    wall, now = time.time(), time.monotonic()
    packed = {
        post_id.hex: (
            entry.rev,
            entry.pre,
            entry.likers,
            entry.liker_ids,
            entry.likes_count,
            entry.tail,
            wall + (entry.until - now),  # wall-clock: the one clock every process shares
        )
        for post_id, entry in entries.items()
    }
    try:
        # One command where the cache is ours (social.cache), Django's set_many elsewhere.
        set_many_expiring = getattr(cache, "set_many_expiring", None)
        if set_many_expiring is not None:
            set_many_expiring(packed, settings.POST_SHARED_CACHE_TTL, prefix=prefix)
        else:
            cache.set_many({prefix + suffix: value for suffix, value in packed.items()}, settings.POST_SHARED_CACHE_TTL)
    except REDIS_FAILURES as error:
        _shared_failed(error, "write")


# The embedded likers' encodings, per process: a page embeds up to 20 × POST_LIKES_EMBEDDED
# likers, and the same users like many posts, so a cold page built and encoded each liker's
# object (its avatar's stored URL, its id as text, a JSON encoding) once per post they liked,
# ~150 objects a page (issue #26). Keyed by every value the object is made of (the Liker
# row, the email rule, the request's origin): a renamed user or a new avatar is a new key. An
# entry carries the reuse window of its avatar's URL, which bounds the posts' encodings made
# with it as the URL itself does.
_LIKERS_MAX = 20_000
_likers = TwoGenerations(_LIKERS_MAX)


def _liker_encoded(liker, *, request, origin: tuple, emails_shown: bool) -> tuple:
    """(until when it may be handed out, the liker's id as text, their encoding), made anew."""
    with url_lease() as lease:
        shown = liker_representation(liker, request, emails_shown=emails_shown)
    encoded = (lease.until, shown["id"], json_bytes(shown))
    _likers.put((liker, emails_shown, origin), encoded)
    return encoded


def _encode(detail, *, request, origin: tuple, zone, emails_shown, now: float) -> _Encoded:
    """The representation of a post (a selectors.PostDetail row) in the pieces of an `_Encoded`:
    post_detail_representation's head and tail, each encoded whole and cut at its braces (never
    a search for a field's name: nothing a user typed can be mistaken for a split point), and
    its likers from their kept encodings (_likers, made by _liker_encoded when missing or past
    their window at `now`)."""
    with url_lease() as lease:
        head = post_head_representation(detail, request)
    until = lease.until
    likers, liker_ids = [], []
    # One pass over a page's ~150 likers, each a lookup of its kept encoding: per liker, a call,
    # a clock read and three passes over the results cost a fifth of encoding a post (issue #26).
    kept = _likers.get
    for liker in detail.likers:
        cached = kept((liker, emails_shown, origin))
        if cached is None or cached[0] <= now:
            cached = _liker_encoded(liker, request=request, origin=origin, emails_shown=emails_shown)
        if cached[0] < until:
            until = cached[0]
        liker_ids.append(cached[1])
        likers.append(cached[2])
    # orjson (json_bytes, the renderer's bytes): the standard library's encoder was a fifth of
    # a page's CPU when none of its posts was encoded anywhere (issue #26).
    pre = json_bytes(head)[:-1] + b',"likes":'
    tail = b"," + json_bytes(post_tail_representation(detail, zone))[1:]
    return _Encoded.assemble(
        rev=detail.rev,
        pre=pre,
        likers=tuple(likers),
        liker_ids=tuple(liker_ids),
        likes_count=detail.likes_count,
        tail=tail,
        until=until,
    )


def _entries(refs: Sequence, *, request) -> dict:
    """{post id's int: _Encoded} of the posts of `refs` that exist: this process's encodings
    whose rev is the ref's, then the shared ones (one MGET), the others read (one query for
    them all), encoded, kept here and shared. Keyed by the ids' ints: a UUID's hash and
    equality are Python methods, a page's ~10 lookups per post a twentieth of a shared page's
    CPU (issue #26)."""
    budget = settings.POST_CACHE_BYTES
    origin = _origin(request)
    now = time.monotonic()
    encoded: dict = {}
    stale = []
    for ref in refs:
        key = ref.id.int
        entry = _store.get((key, origin))
        if entry is not None and entry.rev == ref.rev and entry.until > now:
            encoded[key] = entry
        else:
            stale.append(ref)
    local_hits = len(refs) - len(stale)
    sharing = bool(stale) and _shared_on()
    if sharing:
        shared = _shared_get([ref.id for ref in stale], origin)
        missing = []
        for ref in stale:
            key = ref.id.int
            entry = shared.get(key)
            if entry is not None and entry.rev == ref.rev:
                encoded[key] = entry
                if budget > 0:
                    _store.put((key, origin), entry, budget)
            else:
                missing.append(ref)
        stale = missing
    if refs:
        metrics.POST_CACHE.labels("hit").inc(local_hits)
        metrics.POST_CACHE.labels("shared").inc(len(refs) - local_hits - len(stale))
        metrics.POST_CACHE.labels("miss").inc(len(stale))
    if stale:
        fresh = {}
        zone, emails_shown = get_current_timezone(), embedded_emails_shown()
        for detail in selectors.post_details(ids=[ref.id for ref in stale]):
            # Kept under the rev read with the data, which may be newer than the ref's. The
            # images and likers are read with the post row in one statement (one snapshot) on
            # PostgreSQL; elsewhere after it, so never older than that rev: at worst newer, and
            # the next page query finds the rev moved and re-reads.
            entry = _encode(detail, request=request, origin=origin, zone=zone, emails_shown=emails_shown, now=now)
            key = detail.id.int
            encoded[key] = fresh[detail.id] = entry
            if budget > 0:
                _store.put((key, origin), entry, budget)
        if fresh and sharing:
            _shared_put(fresh, origin)
    return encoded


def _origin(request) -> tuple:
    # URLs are absolute for this request's host when the storage's are relative (local media).
    return (request.scheme, request.get_host())


def posts_json(refs: Sequence, *, request) -> bytes:
    """A JSON array of the posts of `refs` (`selectors.post_refs` rows), in their order.

    A post deleted since its row was read is left out. Its URLs are absolute for this
    request's host when the storage's are relative (local media), so the host is part of the
    key."""
    encoded = _entries(refs, request=request).get
    rendered = []
    for ref in refs:
        entry = encoded(ref.id.int)
        if entry is not None:
            rendered.append(entry.render(ref.liked_by_me))
    return b"[" + b",".join(rendered) + b"]"


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

    When this process, or else the shared store (another process's toggle or page: one GET),
    holds the post's encoding of the rev just before, the toggle was the only change since: the
    encoding moves by it (the liker in or out of the embedded likers, the count by one) with no
    query. Otherwise the post is read and encoded as a page would."""
    key = (ref.id.int, _origin(request))
    entry = _store.get(key)
    source = "hit"
    if (entry is None or entry.rev != ref.rev - 1) and _shared_on():
        # With several workers the previous toggle of a post was most often another's: its
        # encoding is shared, exact for its rev as every shared entry is (_entries).
        entry, source = _shared_get([ref.id], key[1]).get(ref.id.int), "shared"
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
            liker, until = json_bytes(shown), min(until, lease.until)
        moved = _moved_by_like(entry, rev=ref.rev, liker_id=str(user.pk), liker=liker, until=until)
    if moved is not None:
        metrics.POST_CACHE.labels(source).inc()
        if settings.POST_CACHE_BYTES > 0:
            _store.put(key, moved, settings.POST_CACHE_BYTES)
        if _shared_on():  # the other processes' next page finds the new rev too
            _shared_put({ref.id: moved}, key[1])
        return moved.render(ref.liked_by_me)
    encoded = _entries([ref], request=request).get(ref.id.int)
    return encoded.render(ref.liked_by_me) if encoded is not None else None


def posts_response(refs: Sequence, *, request, headers: dict | None = None) -> HttpResponse:
    """`posts_json` as the answer DRF's renderer would give for the same list."""
    return json_response(posts_json(refs, request=request), headers=headers)


def cache_clear(*, shared: bool = True, likers: bool = True) -> None:
    """Forget every encoding of this process and, unless `shared=False`, the shared ones (tests;
    a key scan, for operations only: a changed setting already moves the shared keys). With
    `likers=False` the likers' encodings stay, as in a process that has served a while
    (bench/feed_cpu.py's pages no post's encoding holds)."""
    global _shared_off_until
    _store.clear()
    if likers:
        _likers.clear()
    if not shared:
        return
    _shared_off_until = 0.0
    backend = caches["default"]
    if isinstance(backend, RedisCache):  # another cache (no Redis) is a process's own: nothing shared
        try:
            client = backend._cache.get_client(write=True)
            keys = list(client.scan_iter(match=cache.make_key("posts:encoding:*")))
            if keys:
                client.delete(*keys)
        except REDIS_FAILURES as error:
            _shared_failed(error, "clear")
