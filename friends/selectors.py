"""Reads of the friends and people capability: friend lists, the friend check, people search
and public profiles. Every list is one query whatever its size (pinned in tests)."""

import uuid

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Collate, Lower

from accounts.models import User
from friends.models import Friendship
from friends.presence import presence_shown
from safety.selectors import user_visible
from social.db import count_subquery
from social.exceptions import UserNotFound
from social.pagination import Page, PageRequest, keyset_filter, take_page

FRIENDS_PAGE_KEY = ("created_at", "id")
SEARCH_PAGE_KEY = ("username_key", "id")


def user_active_get(*, user_id: uuid.UUID) -> User:
    """The active user with this id; unknown or deactivated → NotFound (404)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise UserNotFound()
    return user


def friend_ids(*, user: User) -> list:
    """The ids of `user`'s friends (every one: a list the recommendations rank with)."""
    return list(Friendship.objects.filter(user=user).values_list("friend_id", flat=True))


def is_friend(*, user: User, friend: User) -> bool:
    """Whether `friend` is among `user`'s friends (rows are mutual, so either direction)."""
    return Friendship.objects.filter(user=user, friend=friend).exists()


def friends_page(*, user: User, page: PageRequest) -> Page:
    """One page of `user`'s active friends, newest friendship first, and the next cursor.

    Keyset on the friendship row's (created_at, id), served by `friendship_recent_idx`;
    the friend comes in the same query (select_related)."""
    rows = (
        Friendship.objects.filter(user=user, friend__is_active=True)
        .select_related("friend")
        # The user object's columns only: never carry password hashes around for a list.
        .only("id", "created_at", "friend__id", "friend__username", "friend__email", "friend__avatar")
        .order_by("-created_at", "-id")
    )
    rows = keyset_filter(rows, fields=FRIENDS_PAGE_KEY, after=page.after)
    friendships = take_page(rows, limit=page.limit, key=lambda row: (row.created_at.isoformat(), row.id))
    return Page(items=[friendship.friend for friendship in friendships.items], next_cursor=friendships.next_cursor)


def _username_key():
    # PostgreSQL: the "C" collation makes the prefix LIKE, the ORDER BY and the keyset compare
    # all use `user_username_search_idx` (friends/migrations/0003). SQLite has no "C"
    # collation; its default (BINARY) already orders by code point, the same order.
    if connection.vendor == "postgresql":
        return Collate(Lower("username"), "C")
    return Lower("username")


def users_search_queryset(*, query: str, viewer: User, after: list | None) -> QuerySet:
    """Active users whose username starts with `query`, case-insensitively, ordered by
    (lower(username), id), strictly after the keyset `after` (None: from the start), leaving
    out those a block separates from `viewer` (safety's rule, one anti-join per row).

    `__startswith` escapes `%`, `_` and `\\` in the query, so they match literally."""
    users = (
        User.objects.filter(user_visible(viewer=viewer), is_active=True)
        .only("id", "username", "avatar")
        .annotate(username_key=_username_key())
        .filter(username_key__startswith=query.lower())
        .order_by("username_key", "id")
    )
    return keyset_filter(users, fields=SEARCH_PAGE_KEY, after=after, descending=False)


def users_search_page(*, query: str, viewer: User, page: PageRequest) -> Page:
    """One page of `users_search_queryset` and the next page's cursor."""
    users = users_search_queryset(query=query, viewer=viewer, after=page.after)
    return take_page(users, limit=page.limit, key=lambda user: (user.username_key, user.id))


def profile_detail(*, user_id: uuid.UUID, viewer: User, counts: dict | None = None) -> User:
    """The public profile of an active user, as seen by `viewer`: the user annotated with
    `friends_count` (active friends), `is_friend` (of the viewer) and the `counts` that the
    apps above add (name → a correlated count on OuterRef("pk"); posts adds `posts_count`), in
    one query, and with `online` and `seen_at` (friends.presence.presence_shown: None unless
    shown to the viewer; one Redis round trip when shown). Unknown, deactivated, or separated
    from `viewer` by a block → NotFound (404)."""
    profile = (
        User.objects.filter(user_visible(viewer=viewer), pk=user_id, is_active=True)
        .only("id", "username", "avatar", "share_presence", "last_seen")
        .annotate(
            friends_count=count_subquery(Friendship.objects.filter(user=OuterRef("pk"), friend__is_active=True)),
            is_friend=Exists(Friendship.objects.filter(user=viewer, friend=OuterRef("pk"))),
            **(counts or {}),
        )
        .first()
    )
    if profile is None:
        raise UserNotFound()
    profile.online, profile.seen_at = presence_shown(user=profile, viewer=viewer, is_friend=profile.is_friend)
    return profile


def user_friends_export(*, user_id):
    """A user's friends for their export (id, username, since when), read in chunks."""
    friendships = (
        Friendship.objects.filter(user_id=user_id)
        .order_by("created_at", "id")
        .values_list("friend_id", "friend__username", "created_at")
    )
    for friend_id, username, since in friendships.iterator(chunk_size=500):
        yield {"id": str(friend_id), "username": username, "since": since}
