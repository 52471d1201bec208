"""Every read of the notifications app."""

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
    rows = Notification.objects.filter(recipient_id=user_id).select_related("actor")
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
