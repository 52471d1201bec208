"""Every non-trivial read of the posts app.

A page of posts costs three queries whatever its size and however many images and likes its
posts have: the posts (with their authors and the viewer's `liked_by_me`), their images, and
their most recent likers (at most POST_LIKES_EMBEDDED per post, cut per post by a window
function in SQL, not in Python).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from accounts.models import User
from posts.models import Like, Post, PostImage
from social.exceptions import NotFound
from social.pagination import PageRequest, keyset_filter, take_page

POST_NOT_FOUND = "Пост не найден."
USER_NOT_FOUND = "Пользователь не найден."
KEY_FIELDS = ("created_at", "id")
KEY_SIZE = len(KEY_FIELDS)


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None


def _row_key(row) -> tuple:
    return (row.created_at.isoformat(), row.pk)


def posts_for(*, viewer: User) -> QuerySet[Post]:
    """Posts with everything their representation needs, newest first.

    `recent_likes` holds the most recent likers of each post; Django turns the sliced
    Prefetch into a ROW_NUMBER() window per post, so one query serves the whole page.
    """
    recent_likes = (
        Like.objects.select_related("user")
        .only("id", "post_id", "created_at", "user__id", "user__username", "user__email", "user__avatar")
        .order_by("-created_at", "-id")
    )[: settings.POST_LIKES_EMBEDDED]
    images = PostImage.objects.only("id", "post_id", "file", "position").order_by("position")
    return (
        Post.objects.select_related("author")
        .only(
            "id",
            "description",
            "created_at",
            "likes_count",
            "views_count",
            "author__id",
            "author__username",
            "author__avatar",
        )
        .annotate(liked_by_me=Exists(Like.objects.filter(post=OuterRef("pk"), user_id=viewer.pk)))
        .prefetch_related(
            Prefetch("images", queryset=images, to_attr="image_list"),
            Prefetch("likes", queryset=recent_likes, to_attr="recent_likes"),
        )
        .order_by("-created_at", "-id")
    )


def _posts_page(queryset: QuerySet[Post], page: PageRequest) -> Page:
    queryset = keyset_filter(queryset, fields=KEY_FIELDS, after=page.after)
    rows, cursor = take_page(queryset, limit=page.limit, key=_row_key)
    return Page(items=rows, next_cursor=cursor)


def feed_page(*, viewer: User, page: PageRequest) -> Page:
    """One page of every post, newest first (keyset on the indexed (created_at, id))."""
    return _posts_page(posts_for(viewer=viewer), page)


def user_posts_page(*, user_id, viewer: User, page: PageRequest) -> Page:
    """One page of one user's posts, newest first. NotFound for an unknown user."""
    if not User.objects.filter(pk=user_id).exists():
        raise NotFound(USER_NOT_FOUND)
    return _posts_page(posts_for(viewer=viewer).filter(author_id=user_id), page)


def post_detail(*, post_id, viewer: User) -> Post:
    """One post with its representation's data. NotFound for an unknown post."""
    post = posts_for(viewer=viewer).filter(pk=post_id).first()
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    return post


def post_get(*, post_id) -> Post:
    """The bare post (for permission checks before a write). NotFound for an unknown post."""
    post = Post.objects.only("id", "author_id").filter(pk=post_id).first()
    if post is None:
        raise NotFound(POST_NOT_FOUND)
    return post


def post_likers_page(*, post_id, page: PageRequest) -> Page:
    """One page of the users who liked a post, most recent like first. NotFound for an
    unknown post. Keyset on the like's (created_at, id), served by `like_recent_idx`."""
    if not Post.objects.filter(pk=post_id).exists():
        raise NotFound(POST_NOT_FOUND)
    likes = Like.objects.filter(post_id=post_id).select_related("user").order_by("-created_at", "-id")
    likes = keyset_filter(likes, fields=KEY_FIELDS, after=page.after)
    rows, cursor = take_page(likes, limit=page.limit, key=_row_key)
    return Page(items=[like.user for like in rows], next_cursor=cursor)
