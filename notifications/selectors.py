"""Every read of the notifications app."""

from django.db import connection

from accounts.models import User
from accounts.selectors import deleted_user_ids
from notifications.models import Notification
from social.pagination import Page, PageRequest, keyset_filter, take_page

KEY_FIELDS = ("created_at", "id")
KEY_SIZE = len(KEY_FIELDS)

# `unread_count` counts at most this many (through the partial index of unread rows, never the
# whole history): a badge shows "999+" anyway, and the count stays one short index range scan.
UNREAD_CAP = 999


def _row_key(row) -> tuple:
    return (row.created_at.isoformat(), row.pk)


def notifications_page(*, user_id, unread_only: bool, page: PageRequest) -> Page:
    """One page of a user's notifications with their actors, newest first: one query whatever
    their number. Keyset on (created_at, id) within the recipient (`notification_list_idx`,
    or `notification_unread_idx` for unread only)."""
    # Those a deleted account caused are hidden at once (a comment's excerpt among them),
    # before the purge removes them.
    rows = (
        Notification.objects.filter(recipient_id=user_id)
        .exclude(actor_id__in=deleted_user_ids())
        .select_related("actor")
    )
    if unread_only:
        rows = rows.filter(read=False)
    rows = rows.only(
        "id",
        "type",
        "created_at",
        "read",
        "post_id",
        "comment_id",
        "chat_id",
        "text",
        "actor__id",
        "actor__username",
        "actor__avatar",
    ).order_by("-created_at", "-id")
    rows = keyset_filter(rows, fields=KEY_FIELDS, after=page.after)
    return take_page(rows, limit=page.limit, key=_row_key)


def unread_count(*, user_id) -> int:
    """How many of the user's notifications are unread, exact up to UNREAD_CAP (UNREAD_CAP
    above): a count over at most UNREAD_CAP + 1 entries of the partial index."""
    counted = Notification.objects.filter(recipient_id=user_id, read=False).values("id")[: UNREAD_CAP + 1].count()
    return min(counted, UNREAD_CAP)


# Per user, the same bounded count as unread_count: each inner scan stops after UNREAD_CAP + 1
# entries of the partial index, however much history a member has.
_UNREAD_COUNTS_SQL = f"""
SELECT u.id, (
    SELECT COUNT(*) FROM (
        SELECT 1 FROM {Notification._meta.db_table} AS n
        WHERE n.recipient_id = u.id AND NOT n.read
        LIMIT %s
    ) AS capped
)
FROM {User._meta.db_table} AS u
WHERE u.id IN ({{ids}})
"""


def unread_counts(*, user_ids: list) -> dict:
    """{user id: unread count} as unread_count gives it, for many users in one query (the
    members of a new chat)."""
    if not user_ids:
        return {}
    sql = _UNREAD_COUNTS_SQL.format(ids=", ".join(["%s"] * len(user_ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [UNREAD_CAP + 1, *[str(user_id) for user_id in user_ids]])
        rows = cursor.fetchall()
    to_python = User._meta.pk.to_python
    return {to_python(user_id): min(count, UNREAD_CAP) for user_id, count in rows}
