"""The candidates of a walk and what scoring needs of them: a bounded number of aggregate
queries, once per walk (the first page), none per post."""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef

from accounts.models import User
from friends.selectors import friend_ids as friends_of
from posts.models import Like, Post, PostView
from posts.recommendations.ranking import Facts, Signals
from posts.scores import popularity
from safety.selectors import author_visible

TASTE_KEY = "posts:recommended-taste:{}"


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


def _facts(viewer: User, post_ids: set) -> list[Facts]:
    """What scoring needs of each candidate, in one query: author, age, popularity, and whether
    the caller has already viewed or liked it (two EXISTS probes on unique indexes). Posts the
    caller may not see (safety's rule) drop out here, so a walk never ranks them."""
    rows = (
        Post.objects.filter(author_visible(viewer=viewer), pk__in=post_ids)
        .annotate(
            seen=Exists(PostView.objects.filter(post=OuterRef("pk"), viewer=viewer)),
            liked=Exists(Like.objects.filter(post=OuterRef("pk"), user=viewer)),
        )
        .values_list("id", "author_id", "created_at", "likes_count", "views_count", "seen", "liked")
    )
    return [
        Facts(
            post_id=post_id,
            author_id=author_id,
            created_at=created_at,
            popularity=popularity(likes=likes, views=views),
            seen=seen or liked,
        )
        for post_id, author_id, created_at, likes, views, seen, liked in rows
    ]


def candidates_gather(*, viewer: User, now: datetime) -> Signals:
    """Every candidate of `viewer`'s walk with its facts, and the social signals that rank them."""
    size = settings.RECO_CANDIDATES
    since = now - timedelta(days=settings.RECO_WINDOW_DAYS)
    friend_ids = friends_of(user=viewer)
    # A user with no friends skips the two pools that would be empty anyway.
    friends_posts = _friends_posts(friend_ids, since=since, size=size) if friend_ids else []
    friend_liked = _most_liked_by(friend_ids, since=since, size=size) if friend_ids else {}
    similar = _similar_taste_kept(viewer, since=since, size=size)
    post_ids = {*friends_posts, *friend_liked, *similar, *_popular_and_recent(size=size)}
    return Signals(
        viewer_id=viewer.pk,
        facts=_facts(viewer, post_ids) if post_ids else [],
        friends=frozenset(friend_ids),
        friend_liked=friend_liked,
        similar=similar,
    )
