"""Every read of the notifications app."""

from django.db import connection

from accounts.models import User
from accounts.selectors import (
    SESSION_USER_SQL,
    SessionClaims,
    claims_user,
    deleted_user_ids,
    session_statement_row,
)
from notifications.models import Notification, UnreadCount
from social.db import page_limit, prepared_cursor
from social.pagination import Page, PageRequest, cursor_values, keyset_filter, page_cut, take_page

KEY_FIELDS = ("created_at", "id")
KEY_SIZE = len(KEY_FIELDS)

# The unread count a client sees stops here: a badge shows "999+" anyway.
UNREAD_CAP = 999


# The page written out and prepared (social.db.prepared_cursor), its columns read into tuples:
# through the ORM a page of 20 cost more CPU (compiling the queryset, a model instance and a
# joined actor per row) than everything else of the request (issue #26).
# Every value is bound, the LIMIT too: the page is drawn from one reader's notifications
# (social.db.page_limit says why).
_PAGE_SQL = f"""
SELECT n.id, n.type, n.created_at, n.read, n.post_id, n.comment_id, n.chat_id, n.text,
       actor.id AS actor_id, actor.username, actor.avatar
FROM {Notification._meta.db_table} n JOIN {User._meta.db_table} actor ON actor.id = n.actor_id
WHERE n.recipient_id = %(user)s {{unread}}
  AND n.actor_id NOT IN (SELECT gone.id FROM {User._meta.db_table} gone WHERE gone.deleted_at IS NOT NULL)
  {{after}}
ORDER BY n.created_at DESC, n.id DESC
{{limit}}
"""
# The keyset bound as social.pagination.keyset_filter writes it: the redundant `<=` starts the
# index range scan. `NOT n.read` matches `notification_unread_idx`'s condition.
_AFTER = "AND n.created_at <= %(at)s AND (n.created_at < %(at)s OR (n.created_at = %(at)s AND n.id < %(id)s))"
_PAGE_COLUMNS = ("id", "type", "created_at", "read", "post_id", "comment_id", "chat_id", "text")
_ROW_COLUMNS = (*_PAGE_COLUMNS, "actor_id", "username", "avatar")
# The page and the check of the token's user (accounts.selectors.session_user) in one prepared
# statement, as the feed's (posts.selectors.feed_page_of_session): the page's rows aggregated
# into parallel arrays beside the user's row, which alone decides whether the caller is answered
# (no user row: no row at all). A statement of its own cost this process ~0.1 ms of CPU and
# PostgreSQL its own round of bind, snapshot and executor per request (issue #26).
_SESSION_PAGE_SQL = f"""
SELECT viewer.*, page.*
FROM ({SESSION_USER_SQL}) AS viewer
CROSS JOIN LATERAL (
    SELECT {", ".join(f"array_agg(rows.{name} ORDER BY rows.created_at DESC, rows.id DESC)" for name in _ROW_COLUMNS)}
    FROM ({{page}}) AS rows
) AS page
"""
# By (checked with the user, unread only, has a cursor, the LIMIT clause).
_PAGE_STATEMENTS: dict[tuple, str] = {}
_KEY_FIELDS = [Notification._meta.get_field(name) for name in KEY_FIELDS]


def _page_statement(*, user_id, unread_only: bool, page: PageRequest, checked: bool) -> tuple[str, dict]:
    """The PostgreSQL page statement and its parameters (with the user check when `checked`).
    A cursor whose values do not parse is a 400 (InvalidCursor) before anything runs."""
    limit, limit_params = page_limit(rows=page.limit + 1, whole_table=False)
    params = {"user": user_id, **limit_params}
    if page.after is not None:
        params["at"], params["id"] = cursor_values(_KEY_FIELDS, page.after)
    key = (checked, unread_only, page.after is not None, limit)
    sql = _PAGE_STATEMENTS.get(key)
    if sql is None:
        sql = _PAGE_SQL.format(
            unread="AND NOT n.read" if unread_only else "", after=_AFTER if page.after is not None else "", limit=limit
        )
        if checked:
            sql = _SESSION_PAGE_SQL.format(page=sql)
        _PAGE_STATEMENTS[key] = sql
    return sql, params


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
        rows = rows.values_list(*_PAGE_COLUMNS, "actor__id", "actor__username", "actor__avatar")
        return take_page(rows, limit=page.limit, key=_row_key)
    sql, params = _page_statement(user_id=user_id, unread_only=unread_only, page=page, checked=False)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return page_cut(rows, limit=page.limit, key=_row_key)


def notifications_page_of_session(
    *, claims: SessionClaims, unread_only: bool, page: PageRequest
) -> tuple[User | None, Page | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and that user's `notifications_page`); (None, None) when that check refuses the
    token. One query on PostgreSQL; two elsewhere."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        if viewer is None:
            return None, None
        return viewer, notifications_page(user_id=viewer.pk, unread_only=unread_only, page=page)
    sql, params = _page_statement(user_id=claims.user_id, unread_only=unread_only, page=page, checked=True)
    viewer, columns = session_statement_row(sql, params, claims=claims)
    if viewer is None:
        return None, None
    # An aggregate over no rows is NULL: no notifications.
    rows = list(zip(*columns, strict=True)) if columns[0] is not None else []
    return viewer, page_cut(rows, limit=page.limit, key=_row_key)


def _row_key(row) -> tuple:
    return (row[2].isoformat(), row[0])


def unread_count(*, user_id) -> int:
    """How many of the user's notifications are unread, up to UNREAD_CAP (a badge shows
    "999+" anyway): their counter (notifications.models.UnreadCount)."""
    counted = UnreadCount.objects.filter(user_id=user_id).values_list("unread", flat=True)
    return min(next(iter(counted), 0), UNREAD_CAP)


# The counter beside the check of the token's user (accounts.selectors.session_user), in one
# prepared statement as the page's (`_SESSION_PAGE_SQL`): no user row, no row at all.
_SESSION_UNREAD_SQL = f"""
SELECT viewer.*, (SELECT counted.unread FROM {UnreadCount._meta.db_table} counted WHERE counted.user_id = viewer.id)
FROM ({SESSION_USER_SQL}) AS viewer
"""


def unread_count_of_session(*, claims: SessionClaims) -> tuple[User | None, int | None]:
    """(the user a token with `claims` speaks for, as `accounts.selectors.session_user`
    answers, and that user's `unread_count`); (None, None) when that check refuses the token.
    One query on PostgreSQL; two elsewhere."""
    if connection.vendor != "postgresql":
        viewer = claims_user(claims)
        return (viewer, unread_count(user_id=viewer.pk)) if viewer is not None else (None, None)
    viewer, columns = session_statement_row(_SESSION_UNREAD_SQL, {}, claims=claims)
    if viewer is None:
        return None, None
    return viewer, min(columns[0] or 0, UNREAD_CAP)  # no counter row: 0
