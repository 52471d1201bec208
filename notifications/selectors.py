"""Every read of the notifications app."""

from django.db import connection

from accounts.models import User
from accounts.selectors import deleted_user_ids
from notifications.models import Notification, UnreadCount
from social.db import prepared_cursor
from social.pagination import Page, PageRequest, cursor_values, keyset_filter, page_cut, take_page

KEY_FIELDS = ("created_at", "id")
KEY_SIZE = len(KEY_FIELDS)

# The unread count a client sees stops here: a badge shows "999+" anyway.
UNREAD_CAP = 999


# The page written out and prepared (social.db.prepared_cursor), its columns read into tuples:
# through the ORM a page of 20 cost more CPU (compiling the queryset, a model instance and a
# joined actor per row) than everything else of the request (issue #26).
_PAGE_SQL = f"""
SELECT n.id, n.type, n.created_at, n.read, n.post_id, n.comment_id, n.chat_id, n.text,
       actor.id, actor.username, actor.avatar
FROM {Notification._meta.db_table} n JOIN {User._meta.db_table} actor ON actor.id = n.actor_id
WHERE n.recipient_id = %s {{unread}}
  AND n.actor_id NOT IN (SELECT gone.id FROM {User._meta.db_table} gone WHERE gone.deleted_at IS NOT NULL)
  {{after}}
ORDER BY n.created_at DESC, n.id DESC
LIMIT %s
"""
# The keyset bound as social.pagination.keyset_filter writes it: the redundant `<=` starts the
# index range scan. `NOT n.read` matches `notification_unread_idx`'s condition.
_AFTER = "AND n.created_at <= %s AND (n.created_at < %s OR (n.created_at = %s AND n.id < %s))"
_PAGE_STATEMENTS = {
    (unread, after): _PAGE_SQL.format(unread="AND NOT n.read" if unread else "", after=_AFTER if after else "")
    for unread in (False, True)
    for after in (False, True)
}
_KEY_FIELDS = [Notification._meta.get_field(name) for name in KEY_FIELDS]


def notifications_page(*, user_id, unread_only: bool, page: PageRequest) -> Page:
    """One page of a user's notifications with their actors, newest first, as bare rows (id,
    type, created_at, read, post_id, comment_id, chat_id, text, actor id, actor username,
    actor avatar) for `notifications.serializers.notification_items`: one query whatever their
    number. Keyset on (created_at, id) within the recipient (`notification_list_idx`, or
    `notification_unread_idx` for unread only)."""
    # Those a deleted account caused are hidden at once (a comment's excerpt among them),
    # before the purge removes them.
    if connection.vendor != "postgresql":  # the SQLite of `make run`: the same rows through the ORM
        rows = Notification.objects.filter(recipient_id=user_id).exclude(actor_id__in=deleted_user_ids())
        rows = rows.filter(read=False) if unread_only else rows
        rows = keyset_filter(rows.order_by("-created_at", "-id"), fields=KEY_FIELDS, after=page.after)
        columns = ("id", "type", "created_at", "read", "post_id", "comment_id", "chat_id", "text")
        rows = rows.values_list(*columns, "actor__id", "actor__username", "actor__avatar")
        return take_page(rows, limit=page.limit, key=_row_key)
    params = [user_id]
    if page.after is not None:
        at, after_id = cursor_values(_KEY_FIELDS, page.after)
        params += [at, at, at, after_id]
    with prepared_cursor(connection) as cursor:
        cursor.execute(_PAGE_STATEMENTS[unread_only, page.after is not None], [*params, page.limit + 1])
        rows = cursor.fetchall()
    return page_cut(rows, limit=page.limit, key=_row_key)


def _row_key(row) -> tuple:
    return (row[2].isoformat(), row[0])


def unread_count(*, user_id) -> int:
    """How many of the user's notifications are unread, up to UNREAD_CAP (a badge shows
    "999+" anyway): their counter (notifications.models.UnreadCount)."""
    counted = UnreadCount.objects.filter(user_id=user_id).values_list("unread", flat=True)
    return min(next(iter(counted), 0), UNREAD_CAP)
