"""The block rule, written once: every read path filters with it, every write path checks it.

A block separates two users both ways, whoever blocked whom: neither sees the other's posts,
profile or name in search, and neither may befriend, like, comment, chat with or notify the
other. Reads use `author_visible` (a queryset filter: the author is active and no block stands
between them and the viewer) or, in the feed's hand-written SQL, `AUTHOR_VISIBLE_SQL`, the same
rule in SQL. Writes call `block_between_check`.

The read rule is one anti-join: `author_id NOT IN (the users a block separates from the
viewer)`, that set read once per query by two index range scans (`block_unique_pair` for those
the viewer blocked, `block_blocked_idx` for those who blocked the viewer) and hashed by
PostgreSQL ("hashed SubPlan"), so each candidate post costs one hash probe: a viewer with 500
blocks pays a 500-row hash, one with none two empty index probes. A correlated NOT EXISTS with
the two directions OR-ed was tried first: the planner runs it as a nested loop over every
block of the viewer for every post scanned (15,000 comparisons for a page at 500 blocks,
README "Blocks"). The rule never becomes a Python filter and never touches the post encodings
shared by every viewer (posts/fragments.py): it chooses which posts a page holds.
"""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from accounts.models import User
from safety.models import Block
from social.exceptions import Blocked, UserNotFound
from social.pagination import Page, PageRequest, keyset_filter, take_page

BLOCKED_PAGE_KEY = ("created_at", "id")


def _between(user_id, other) -> Q:
    """Block rows between `user_id` and `other`, in either direction."""
    return Q(blocker_id=user_id, blocked_id=other) | Q(blocker_id=other, blocked_id=user_id)


def separated_ids(*, viewer_id) -> QuerySet:
    """A subquery of the ids of the users a block separates from `viewer_id`, either way."""
    blocked = Block.objects.filter(blocker_id=viewer_id).values("blocked_id")
    return blocked.union(Block.objects.filter(blocked_id=viewer_id).values("blocker_id"), all=True)


def author_visible(*, viewer: User, author: str = "author") -> Q:
    """The read rule as a filter on rows that have an author (posts): the author is active
    (a deactivated or deleted account vanishes at once, before its purge) and not separated
    from `viewer` by a block."""
    return Q(**{f"{author}__is_active": True}) & ~Q(**{f"{author}_id__in": separated_ids(viewer_id=viewer.pk)})


def user_visible(*, viewer: User) -> Q:
    """The read rule on a queryset of users (search, profiles): not separated from `viewer`.
    Whether inactive users show is the caller's business (they never do today)."""
    return ~Q(pk__in=separated_ids(viewer_id=viewer.pk))


# The same rule for the hand-written feed query (posts/selectors.py `_REFS_SQL`), with the
# post's alias `p` and the viewer as `%(viewer)s`. Kept beside `author_visible` so the two
# cannot drift apart unnoticed; safety/tests/test_rule_everywhere.py runs both (the feed and
# user posts here, the recommended feed, search and profiles through the ORM).
AUTHOR_VISIBLE_SQL = f"""
    AND EXISTS (SELECT 1 FROM {User._meta.db_table} AS au WHERE au.id = p.author_id AND au.is_active)
    AND p.author_id NOT IN (
        SELECT b.blocked_id FROM {Block._meta.db_table} AS b WHERE b.blocker_id = %(viewer)s
        UNION ALL
        SELECT b.blocker_id FROM {Block._meta.db_table} AS b WHERE b.blocked_id = %(viewer)s
    )"""


def block_between_sql(*, user: str, other: str) -> str:
    """`is_blocked_between` in SQL, for a statement that writes only when no block stands
    between two users: a row when one does, either way. `user` and `other` are SQL: parameters,
    or columns of the statement's own rows (a like toggle's author, known only in the
    statement: notifications.services.like_notification_sql)."""
    return f"""
    SELECT 1 FROM {Block._meta.db_table} AS b
    WHERE (b.blocker_id = {user} AND b.blocked_id = {other})
       OR (b.blocker_id = {other} AND b.blocked_id = {user})"""


# The users as `%(user)s` and `%(other)s` (a like's notification, notifications/services.py).
BLOCK_BETWEEN_SQL = block_between_sql(user="%(user)s", other="%(other)s")


def is_blocked_between(*, user_id, other_id) -> bool:
    """Whether a block stands between the two users, in either direction."""
    return Block.objects.filter(_between(user_id, other_id)).exists()


def block_between_check(*, user_id, other_id) -> None:
    """The write rule: Blocked (403) when a block stands between the two users."""
    if is_blocked_between(user_id=user_id, other_id=other_id):
        raise Blocked()


def block_among_check(*, new_ids: Iterable, member_ids: Iterable | QuerySet) -> None:
    """Blocked (403) when putting the users `new_ids` beside `member_ids` (ids, or a
    subquery of ids) would put two users separated by a block in one group: any block
    between a new user and anyone of the group, new users included. One query."""
    new_ids = list(new_ids)
    everyone = Q(blocker_id__in=new_ids, blocked_id__in=new_ids)
    rows = Block.objects.filter(
        everyone
        | Q(blocker_id__in=new_ids, blocked_id__in=member_ids)
        | Q(blocked_id__in=new_ids, blocker_id__in=member_ids)
    )
    if rows.exists():
        raise Blocked()


def blocked_page(*, blocker: User, page: PageRequest) -> Page:
    """One page of the active users `blocker` blocked, newest block first: one query (keyset
    on the block's (created_at, id), served by `block_recent_idx`; the users joined)."""
    rows = (
        Block.objects.filter(blocker=blocker, blocked__is_active=True)
        .select_related("blocked")
        .only("id", "created_at", "blocked__id", "blocked__username", "blocked__avatar")
        .order_by("-created_at", "-id")
    )
    rows = keyset_filter(rows, fields=BLOCKED_PAGE_KEY, after=page.after)
    blocks = take_page(rows, limit=page.limit, key=lambda row: (row.created_at.isoformat(), row.id))
    return Page(items=[block.blocked for block in blocks.items], next_cursor=blocks.next_cursor)


def block_target_get(*, user_id) -> User:
    """The active user to block or unblock; unknown or deactivated → UserNotFound (404)."""
    user = User.objects.filter(pk=user_id, is_active=True).only("id", "username").first()
    if user is None:
        raise UserNotFound()
    return user
