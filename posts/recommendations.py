"""The recommended feed, `GET /api/posts/recommended`: the same post objects as the feed,
ranked for the caller. README "Recommended feed" says the same for operators.

Candidates (first page of a walk only; each pool at most RECO_CANDIDATES posts, each one
bounded SQL query, none per post):
- friends' posts: the newest posts of the caller's friends (the `post_author_feed_idx`);
- friend-liked: posts that friends liked, with how many friends liked each;
- similar taste: "co-likers" are the users who liked what the caller liked recently (those with
  the most likes in common first); the posts they liked, with how many of them liked each;
- popular and recent: the highest `Post.hot_score` (time-decayed popularity, precomputed on
  write, see posts/scores.py) — one index range scan. For a new user with no friends and no
  likes it is the only pool: the cold start page is popular and recent posts.
The social pools look only at posts of the last RECO_WINDOW_DAYS: older ones have decayed to
nothing (2^-14 at the defaults) and the window keeps those aggregates small.

Score of a candidate (every weight a setting, social/settings.py):

    (RECO_WEIGHT_FRIEND         × [author is a friend]
   + RECO_WEIGHT_FRIEND_LIKED   × share(friends who liked it)
   + RECO_WEIGHT_SIMILAR        × share(co-likers who liked it)
   + RECO_WEIGHT_POPULAR        × share(likes + RECO_VIEW_WEIGHT × views)
   + RECO_WEIGHT_FRESH)                                 a base, so freshness alone still ranks
   × 2^(-age / RECO_HALF_LIFE_HOURS)                    time decay, fresh posts first
   × RECO_OWN_PENALTY   for the caller's own posts      pushed down, not removed
   × RECO_SEEN_PENALTY  for posts the caller viewed or liked

share(x) = log(1 + x) / log(1 + the largest x among the candidates), in [0, 1]: the best post
of a signal gets its full weight, the log keeps one viral post from flattening the others.
With equal ages and the default weights 8/4/2/1 a friend's post therefore outranks any post
friends liked, which outranks one popular with similar people, which outranks one merely popular.

A walk is a snapshot: the first page ranks the candidates, spreads authors out (at most
RECO_AUTHOR_CAP posts of one author in any stretch of `limit` consecutive posts; what the cap
holds back moves further down, never out) and stores the resulting list of post ids in the
shared cache under a random snapshot id for RECO_SNAPSHOT_TTL seconds. The `Link` cursor names
the snapshot and a position in it, so a walk never shows a post twice, whatever new posts and
likes arrive meanwhile; a later page costs what a feed page costs (`posts.selectors.post_refs`
and the feed's renderer, posts/fragments.py). A cursor whose snapshot expired is a 400.
"""

import heapq
import math
import re
import secrets
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from accounts.models import User
from friends.selectors import friend_ids as friends_of
from posts.models import Like, Post, PostView
from posts.scores import popularity
from posts.selectors import post_refs
from social.exceptions import InvalidCursor
from social.pagination import Page, decode_cursor, encode_cursor

STALE_CURSOR = "Подборка рекомендаций устарела: запросите первую страницу заново, без cursor."
SNAPSHOT_KEY = "posts:recommended:{}"
TASTE_KEY = "posts:recommended-taste:{}"
SNAPSHOT_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
UUID_BYTES = 16


@dataclass(frozen=True)
class Candidate:
    post_id: uuid.UUID
    author_id: uuid.UUID
    created_at: datetime
    score: float


# --- Candidates: a bounded number of aggregate queries, once per walk ---------------------------


def _friends_posts(friend_ids: list, *, since: datetime, size: int) -> list:
    """The newest posts of friends (signal: the author is a friend, known from friend_ids)."""
    posts = Post.objects.filter(author_id__in=friend_ids, created_at__gte=since).order_by("-created_at", "-id")
    return list(posts.values_list("id", flat=True)[:size])


def _most_liked_by(users, *, since: datetime, size: int) -> dict:
    """post id → how many of `users` (ids, or a subquery of ids) liked it, for the `size`
    posts since `since` they liked most."""
    likes = (
        Like.objects.filter(user_id__in=users, post__created_at__gte=since)
        .values("post_id")
        .annotate(likers=Count("pk"))
        .order_by("-likers", "-post__created_at", "post_id")
    )
    return {row["post_id"]: row["likers"] for row in likes[:size]}


def _friend_liked(friend_ids: list, *, since: datetime, size: int) -> dict:
    """post id → how many friends liked it, for the posts most liked by friends."""
    return _most_liked_by(friend_ids, since=since, size=size)


def _similar_taste(viewer: User, *, since: datetime, size: int) -> dict:
    """post id → how many co-likers liked it, for the posts most liked by co-likers.

    Co-likers: the users with the most likes in common with the caller's `size` most recent
    likes. One query: both steps are LIMITed subqueries, so the aggregate reads at most
    `size` co-likers' likes of recent posts, whatever the size of the tables.
    """
    recent_likes = Like.objects.filter(user=viewer).order_by("-created_at", "-id").values("post_id")[:size]
    co_likers = (
        Like.objects.filter(post_id__in=recent_likes)
        .exclude(user=viewer)
        .values("user_id")
        .annotate(in_common=Count("pk"))
        .order_by("-in_common", "user_id")
        .values("user_id")[:size]
    )
    return _most_liked_by(co_likers, since=since, size=size)


def _similar_taste_kept(viewer: User, *, since: datetime, size: int) -> dict:
    """_similar_taste, kept in the shared cache for RECO_TASTE_TTL seconds (0: never kept).

    It is the one heavy signal (it aggregates the co-likers' likes: thousands of rows) and the
    slowest to change: a taste moves over days, not between two refreshes of a first page.
    Every other signal (friends' posts, friends' likes, popularity, what the caller has seen)
    stays fresh on every walk.
    """
    ttl = settings.RECO_TASTE_TTL
    if ttl <= 0:
        return _similar_taste(viewer, since=since, size=size)
    key = TASTE_KEY.format(viewer.pk.hex)
    packed = cache.get(key)
    if packed is None:
        similar = _similar_taste(viewer, since=since, size=size)
        cache.set(key, [(post_id.bytes, likers) for post_id, likers in similar.items()], timeout=ttl)
        return similar
    return {uuid.UUID(bytes=post_id): likers for post_id, likers in packed}


def _popular_and_recent(*, size: int) -> list:
    """The highest hot scores (time-decayed popularity): an index range scan on post_hot_idx."""
    return list(Post.objects.order_by("-hot_score", "-id").values_list("id", flat=True)[:size])


def _facts(viewer: User, post_ids: set) -> list[tuple]:
    """What scoring needs of each candidate, in one query: author, age, counters, and whether
    the caller has already viewed or liked it (two EXISTS probes on unique indexes)."""
    return list(
        Post.objects.filter(pk__in=post_ids)
        .annotate(
            seen=Exists(PostView.objects.filter(post=OuterRef("pk"), viewer=viewer)),
            liked=Exists(Like.objects.filter(post=OuterRef("pk"), user=viewer)),
        )
        .values_list("id", "author_id", "created_at", "likes_count", "views_count", "seen", "liked")
    )


def _share(value: float, top: float) -> float:
    return math.log1p(value) / math.log1p(top) if top > 0 else 0.0


def recommendations_rank(*, viewer: User, now: datetime) -> list[Candidate]:
    """Every candidate for `viewer`, best first (ties: newer first, then by id)."""
    size = settings.RECO_CANDIDATES
    since = now - timedelta(days=settings.RECO_WINDOW_DAYS)
    friend_ids = friends_of(user=viewer)
    # A user with no friends skips the two pools that would be empty anyway.
    friends_posts = _friends_posts(friend_ids, since=since, size=size) if friend_ids else []
    friend_liked = _friend_liked(friend_ids, since=since, size=size) if friend_ids else {}
    similar = _similar_taste_kept(viewer, since=since, size=size)
    post_ids = {*friends_posts, *friend_liked, *similar, *_popular_and_recent(size=size)}
    if not post_ids:
        return []
    facts = _facts(viewer, post_ids)

    friends = set(friend_ids)
    popular = {row[0]: popularity(likes=row[3], views=row[4]) for row in facts}
    top_friend_liked = max(friend_liked.values(), default=0)
    top_similar = max(similar.values(), default=0)
    top_popular = max(popular.values(), default=0)
    half_life = settings.RECO_HALF_LIFE_HOURS
    ranked = []
    for post_id, author_id, created_at, _likes, _views, seen, liked in facts:
        signal = (
            settings.RECO_WEIGHT_FRIEND * (author_id in friends)
            + settings.RECO_WEIGHT_FRIEND_LIKED * _share(friend_liked.get(post_id, 0), top_friend_liked)
            + settings.RECO_WEIGHT_SIMILAR * _share(similar.get(post_id, 0), top_similar)
            + settings.RECO_WEIGHT_POPULAR * _share(popular[post_id], top_popular)
            + settings.RECO_WEIGHT_FRESH
        )
        age_hours = max((now - created_at).total_seconds() / 3600, 0.0)
        score = signal * 0.5 ** (age_hours / half_life)
        if author_id == viewer.pk:
            score *= settings.RECO_OWN_PENALTY
        elif seen or liked:
            score *= settings.RECO_SEEN_PENALTY
        ranked.append(Candidate(post_id, author_id, created_at, score))
    ranked.sort(key=lambda c: (-c.score, -c.created_at.timestamp(), c.post_id.hex))
    return ranked


def authors_spread(ranked: list[Candidate], *, window: int, cap: int) -> list[uuid.UUID]:
    """The ranked post ids, reordered so that no `window` consecutive posts hold more than
    `cap` posts of one author; a page of `window` posts thus shows at most `cap` of each.

    Greedy: each position takes the best remaining post whose author is under the cap in the
    last `window - 1` positions. A post held back keeps its rank and comes as soon as its
    author is allowed again. When only capped authors remain (the tail of a walk dominated by
    one author), the best of them goes anyway: held back, never dropped.
    """
    if cap >= window:
        return [c.post_id for c in ranked]
    queues: dict = {}
    for rank, candidate in enumerate(ranked):
        queues.setdefault(candidate.author_id, deque()).append((rank, candidate.post_id))
    heads = [(queue[0][0], author) for author, queue in queues.items()]  # each author's best rank
    heapq.heapify(heads)
    recent: deque = deque()
    in_window: Counter = Counter()
    order = []
    while heads:
        held_back = []
        chosen = None
        while heads:
            head = heapq.heappop(heads)
            if in_window[head[1]] < cap:
                chosen = head
                break
            held_back.append(head)
        if chosen is None:
            chosen = held_back.pop(0)  # popped best-first: the best of the capped authors
        for head in held_back:
            heapq.heappush(heads, head)
        author = chosen[1]
        queue = queues[author]
        order.append(queue.popleft()[1])
        if queue:
            heapq.heappush(heads, (queue[0][0], author))
        recent.append(author)
        in_window[author] += 1
        if len(recent) >= window:
            in_window[recent.popleft()] -= 1
    return order


# --- Snapshots: the walk's ranked ids in the shared cache --------------------------------------


def _snapshot_store(*, viewer: User, order: list[uuid.UUID]) -> str:
    snapshot_id = secrets.token_urlsafe(16)
    value = {"viewer": viewer.pk.hex, "ids": b"".join(post_id.bytes for post_id in order)}
    cache.set(SNAPSHOT_KEY.format(snapshot_id), value, timeout=settings.RECO_SNAPSHOT_TTL)
    return snapshot_id


def _snapshot_load(*, viewer: User, snapshot_id: str) -> bytes:
    """The walk's ids (16 bytes each); 400 when it expired or belongs to someone else."""
    key = SNAPSHOT_KEY.format(snapshot_id)
    value = cache.get(key)
    if value is None:
        raise InvalidCursor(STALE_CURSOR)
    if value["viewer"] != viewer.pk.hex:
        raise InvalidCursor()
    cache.touch(key, timeout=settings.RECO_SNAPSHOT_TTL)  # a reader still scrolling keeps it
    return value["ids"]


def _cursor_parse(raw: str) -> tuple[str, int]:
    snapshot_id, position = decode_cursor(raw, size=2)
    if not SNAPSHOT_ID.fullmatch(snapshot_id) or not (position.isascii() and position.isdigit() and len(position) < 7):
        raise InvalidCursor()
    return snapshot_id, int(position)


def recommended_page(*, viewer: User, limit: int, cursor: str | None) -> Page:
    """One page of the caller's recommendations.

    No cursor: rank now (recommendations_rank), spread the authors over pages of `limit`, and
    keep the order as this walk's snapshot when there is more than one page. A cursor: the
    next `limit` ids of its snapshot. Either way the page is the feed's `post_refs` rows (one
    query; posts/fragments.py renders them); a post deleted since the snapshot is left out.
    ValidationError (400) for a malformed cursor or an expired snapshot.
    """
    if not cursor:
        ranked = recommendations_rank(viewer=viewer, now=timezone.now())
        order = authors_spread(ranked, window=limit, cap=settings.RECO_AUTHOR_CAP)
        snapshot_id = _snapshot_store(viewer=viewer, order=order) if len(order) > limit else None
        page_ids, total, end = order[:limit], len(order), min(limit, len(order))
    else:
        snapshot_id, position = _cursor_parse(cursor)
        ids = _snapshot_load(viewer=viewer, snapshot_id=snapshot_id)
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
    next_cursor = encode_cursor([snapshot_id, end]) if end < total else None
    return Page(items=items, next_cursor=next_cursor)
