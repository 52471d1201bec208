"""Every write of the notifications app.

A notification is written inside the transaction of what caused it (the receivers of the domain
signals of friends and posts call these), and reaches the recipient's user sockets only after
that transaction commits (social.events).
"""

from collections.abc import Mapping, Sequence
from datetime import timedelta

from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import User
from notifications import selectors
from notifications.models import TEXT_EXCERPT, Notification, UnreadCount
from notifications.serializers import notification_items, notification_representation
from safety.selectors import BLOCK_BETWEEN_SQL, block_between_sql, is_blocked_between
from social import events
from social.db import SqlFragment, prepared_cursor

# --- The unread counter (notifications.models.UnreadCount) ------------------------------------
# Its one mover: every write that makes notifications unread or takes them away (a creation,
# marking read, any deletion, cascades included: NotificationQuerySet._raw_delete) moves the
# recipients' counters here, in the write's own transaction, by SQL arithmetic on the row
# (never a value read beforehand), and never below 0. `unread_counts_move` for a write that
# knows its numbers; the two templates below, for a statement that moves the counters of the
# rows it writes in the same round trip (a like, an unlike, a deletion). `{rows}`: a relation
# of (recipient_id, n), n notifications of recipient_id each. The recipients come in id order,
# the order in which every move takes their rows' locks.
_COUNTER = UnreadCount._meta.db_table
_UNREAD_ADD_SQL = f"""
INSERT INTO {_COUNTER} AS counter (user_id, unread)
SELECT recipient_id, sum(n) FROM {{rows}} AS moved GROUP BY recipient_id ORDER BY recipient_id
ON CONFLICT (user_id) DO UPDATE SET unread = counter.unread + EXCLUDED.unread
RETURNING counter.user_id, counter.unread
"""
_UNREAD_SUBTRACT_SQL = f"""
UPDATE {_COUNTER} AS counter SET unread = GREATEST(counter.unread - taken.n, 0)
FROM (SELECT recipient_id, sum(n) AS n FROM {{rows}} AS moved GROUP BY recipient_id ORDER BY recipient_id) AS taken
WHERE counter.user_id = taken.recipient_id
RETURNING counter.user_id, counter.unread
"""


def unread_counts_move(*, deltas: Mapping) -> dict:
    """Move each user's unread counter by their delta ({user id: +n or -n}) in the caller's
    transaction: +n for n notifications written unread, -n for n unread ones marked read or
    deleted. A counter stops at 0. Returns {user id: their counter after the move} (a user
    with no counter yet, whose delta was negative, is left out: their count is 0)."""
    to_python = User._meta.pk.to_python
    deltas = {to_python(user_id): n for user_id, n in deltas.items() if n}
    if not deltas:
        return {}
    if connection.vendor == "postgresql":
        pk_type = UnreadCount._meta.pk.target_field.db_type(connection)
        counters = {}
        for template, sign in ((_UNREAD_ADD_SQL, 1), (_UNREAD_SUBTRACT_SQL, -1)):
            moved = [(user_id, n * sign) for user_id, n in deltas.items() if n * sign > 0]
            if not moved:
                continue
            values = ", ".join([f"(CAST(%s AS {pk_type}), %s)"] * len(moved))
            with connection.cursor() as cursor:
                cursor.execute(
                    template.format(rows=f"(SELECT * FROM (VALUES {values}) AS deltas (recipient_id, n))"),
                    [value for pair in moved for value in pair],
                )
                counters.update(cursor.fetchall())
        return counters
    # The embedded SQLite of `make run`: the same arithmetic through the ORM.
    UnreadCount.objects.bulk_create(
        [UnreadCount(user_id=user_id) for user_id, n in deltas.items() if n > 0], ignore_conflicts=True
    )
    by_delta: dict[int, list] = {}
    for user_id, n in deltas.items():
        by_delta.setdefault(n, []).append(user_id)
    for n, user_ids in by_delta.items():
        UnreadCount.objects.filter(user_id__in=user_ids).update(unread=Greatest(F("unread") + n, 0))
    return dict(UnreadCount.objects.filter(user_id__in=list(deltas)).values_list("user_id", "unread"))


_DELETE_COUNTED_SQL = """
WITH gone AS (
    DELETE FROM {table} WHERE id IN ({chosen}) RETURNING recipient_id, read
), taken AS ({subtract})
SELECT count(*) FROM gone
"""


def notifications_delete_counted(*, rows: models.QuerySet, using: str) -> int:
    """Delete these notifications and take their unread ones off their recipients' counters,
    in one statement on PostgreSQL. Every deletion of notifications comes here (through
    NotificationQuerySet._raw_delete, which Django's collector calls for QuerySet.delete()
    and for the cascades); returns the number deleted."""
    db = connections[using]
    chosen = rows.using(using).order_by().values("pk")
    if db.vendor != "postgresql":
        unread = rows.using(using).order_by().filter(read=False).values("recipient_id").annotate(n=Count("pk"))
        deltas = {row["recipient_id"]: -row["n"] for row in unread}
        deleted = models.QuerySet._raw_delete(rows, using)
        unread_counts_move(deltas=deltas)
        return deleted
    chosen_sql, params = chosen.query.get_compiler(using).as_sql()
    sql = _DELETE_COUNTED_SQL.format(
        table=Notification._meta.db_table,
        chosen=chosen_sql,
        subtract=_UNREAD_SUBTRACT_SQL.format(rows="(SELECT recipient_id, 1 AS n FROM gone WHERE NOT read)"),
    )
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def notification_create(
    *, recipient_id, actor_id, type: str, post_id=None, comment_id=None, chat_id=None, text: str | None = None
) -> Notification | None:
    """Write one notification and send it after commit. None (nothing written) for the actor's
    own action, between two users a block separates (safety), or a `post.liked` that already
    exists (the unique constraint decides, also when two likes race: the second waits on the
    first's index entry, then fails it)."""
    if recipient_id is None or recipient_id == actor_id:
        return None
    if is_blocked_between(user_id=recipient_id, other_id=actor_id):
        return None
    if text is not None:
        text = text[:TEXT_EXCERPT]
    try:
        # A savepoint: a duplicate leaves the caller's transaction (the like) usable.
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient_id=recipient_id,
                actor_id=actor_id,
                type=type,
                post_id=post_id,
                comment_id=comment_id,
                chat_id=chat_id,
                text=text,
            )
            counters = unread_counts_move(deltas={recipient_id: 1})
    except IntegrityError:
        if type == Notification.Type.POST_LIKED:
            return None
        raise
    shown = Notification.objects.select_related("actor").get(pk=notification.pk)
    (unread,) = counters.values()
    events.notification_created(
        user_id=recipient_id,
        notification=notification_representation(shown),
        unread_count=min(unread, selectors.UNREAD_CAP),
    )
    return notification


def notifications_create(*, recipient_ids: Sequence, actor_id, type: str, chat_id=None) -> list[Notification]:
    """Write one notification for each of many recipients (the members put in a chat) and send
    each after commit: a fixed number of queries whatever their number (the rows in one insert,
    the actor, every recipient's unread counter moved in one statement that answers them). The
    actor is never notified. No block stands between the actor and the recipients: whoever puts users in a chat has
    passed chats.admission.chat_admission_check, which refuses exactly that."""
    recipient_ids = [user_id for user_id in dict.fromkeys(recipient_ids) if user_id != actor_id]
    if not recipient_ids:
        return []
    now = timezone.now()
    created = Notification.objects.bulk_create(
        Notification(recipient_id=user_id, actor_id=actor_id, type=type, chat_id=chat_id, created_at=now)
        for user_id in recipient_ids
    )
    # Every recipient's counter after the move, from the move itself.
    counters = unread_counts_move(deltas=dict.fromkeys(recipient_ids, 1))
    actor = User.objects.only("id", "username", "avatar").get(pk=actor_id)
    to_python = User._meta.pk.to_python
    for notification in created:
        notification.actor = actor
        events.notification_created(
            user_id=notification.recipient_id,
            notification=notification_representation(notification),
            unread_count=min(counters.get(to_python(notification.recipient_id), 0), selectors.UNREAD_CAP),
        )
    return created


# A like's notification in one statement (a like is the most frequent write there is, issue
# #26): written unless a block separates the two or the actor already has one on this post
# (ON CONFLICT: the unique `notification_like_once`; no savepoint needed, since nothing
# fails), with the recipient's unread counter moved by it (the counter's add template),
# answering the row and the counter as it stands after the move: the event's unread_count.
_LIKE_NOTIFICATION_SQL = f"""
WITH created AS (
    INSERT INTO {Notification._meta.db_table} (recipient_id, actor_id, type, post_id, created_at, read)
    SELECT %(user)s, %(other)s, %(type)s, %(post)s, %(now)s, false
    WHERE NOT EXISTS ({BLOCK_BETWEEN_SQL})
    ON CONFLICT DO NOTHING
    RETURNING id, created_at, recipient_id
), counted AS ({_UNREAD_ADD_SQL.format(rows="(SELECT recipient_id, 1 AS n FROM created)")})
SELECT created.id, created.created_at, counted.unread FROM created CROSS JOIN counted
"""


def like_notification_create(*, post_id, recipient_id, actor: User) -> int | None:
    """`notification_create` of a `post.liked` by `actor` (the caller, already read by the
    request: the event needs no second read of them), in one statement on PostgreSQL. Answers
    the new notification's id (None: none written), not a model instance no caller reads."""
    if connection.vendor != "postgresql":
        created = notification_create(
            recipient_id=recipient_id, actor_id=actor.pk, type=Notification.Type.POST_LIKED, post_id=post_id
        )
        return created.pk if created is not None else None
    if recipient_id is None or recipient_id == actor.pk:
        return None
    params = {
        "user": recipient_id,
        "other": actor.pk,
        "type": Notification.Type.POST_LIKED.value,
        "post": post_id,
        "now": timezone.now(),
    }
    with prepared_cursor(connection) as cursor:
        cursor.execute(_LIKE_NOTIFICATION_SQL, params)
        row = cursor.fetchone()
    if row is None:  # a block, or the actor's notification of this post exists
        return None
    like_notification_announce(post_id=post_id, recipient_id=recipient_id, actor=actor, written=row)
    return row[0]


def like_notification_announce(*, post_id, recipient_id, actor: User, written: tuple) -> None:
    """Send the `post.liked` notification a statement wrote (`written`: its id, creation time
    and the recipient's unread counter after it, as `like_notification_create`'s statement and
    `like_notification_sql`'s columns answer them; an id of None: none written) to the
    recipient's user sockets after commit."""
    notification_id, created_at, unread = written
    if notification_id is None:
        return
    kind = Notification.Type.POST_LIKED
    # The event's object built from what we hold, as the list builds its items (no serializer).
    shown = (notification_id, kind.value, created_at, False, post_id, None, None, None)
    (item,) = notification_items([(*shown, actor.pk, actor.username, actor.avatar.name)], None)
    events.notification_created(user_id=recipient_id, notification=item, unread_count=min(unread, selectors.UNREAD_CAP))


# Hand-written (and prepared) because every other toggle runs it: the ORM's delete compiled it
# anew each time, for more CPU than the statement itself. The recipient (the post's author)
# makes it one probe of the unique index `notification_like_once` (recipient, actor, post).
# The type is written into the text, not passed: that index is partial (type = 'post.liked'),
# and the generic plan PostgreSQL settles on for a prepared statement cannot prove a
# parameter equal to it, so it scanned every unread notification of the recipient instead
# (up to all of a popular author's) on each unlike.
# The recipient's unread counter moves in the same statement (the counter's subtract template).
_LIKE_NOTIFICATION_WITHDRAW_SQL = f"""
WITH gone AS (
    DELETE FROM {Notification._meta.db_table}
    WHERE recipient_id = %(recipient)s AND actor_id = %(actor)s AND post_id = %(post)s
      AND type = '{Notification.Type.POST_LIKED.value}' AND NOT read
    RETURNING recipient_id, 1 AS n
), taken AS ({_UNREAD_SUBTRACT_SQL.format(rows="gone")})
SELECT count(*) FROM gone
"""


def like_notification_withdraw(*, post_id, recipient_id, actor_id) -> int:
    """An unlike takes back its unread `post.liked` (a read one stays: it was seen); the
    recipient is the post's author. Returns the number removed (0 or 1)."""
    if connection.vendor != "postgresql":
        removed, _ = Notification.objects.filter(
            type=Notification.Type.POST_LIKED, recipient_id=recipient_id, post_id=post_id, actor_id=actor_id, read=False
        ).delete()
        return removed
    params = {"recipient": recipient_id, "post": post_id, "actor": actor_id}
    with prepared_cursor(connection) as cursor:
        cursor.execute(_LIKE_NOTIFICATION_WITHDRAW_SQL, params)
        return cursor.fetchone()[0]


# The like toggle's notification in the toggle's own statement (posts.services.like_toggle: one
# round trip for the like, the post's counters and this; connected in NotificationsConfig.ready()
# through posts.signals.like_toggle_writes_connect): the same writes as `like_notification_create`
# (a like) and `like_notification_withdraw` (an unlike), with their unread counter moves, over a
# relation `{toggled}` of at most one row (recipient_id, actor_id, post_id, liked) that the
# statement fills only when the like really changed. The actor's own post notifies no one; a
# block between the two writes nothing.
_LIKE_TOGGLED_SQL = f"""
notification_created AS (
    INSERT INTO {Notification._meta.db_table} (recipient_id, actor_id, type, post_id, created_at, read)
    SELECT toggled.recipient_id, toggled.actor_id, '{Notification.Type.POST_LIKED.value}', toggled.post_id,
        %(notifications_now)s, false
    FROM {{toggled}} AS toggled
    WHERE toggled.liked AND toggled.recipient_id <> toggled.actor_id
      AND NOT EXISTS ({block_between_sql(user="toggled.recipient_id", other="toggled.actor_id")})
    ON CONFLICT DO NOTHING
    RETURNING id, created_at, recipient_id
), notification_counted AS ({_UNREAD_ADD_SQL.format(rows="(SELECT recipient_id, 1 AS n FROM notification_created)")}
), notification_gone AS (
    DELETE FROM {Notification._meta.db_table} AS gone USING {{toggled}} AS toggled
    WHERE NOT toggled.liked AND gone.recipient_id = toggled.recipient_id AND gone.actor_id = toggled.actor_id
      AND gone.post_id = toggled.post_id AND gone.type = '{Notification.Type.POST_LIKED.value}' AND NOT gone.read
    RETURNING gone.recipient_id, 1 AS n
), notification_taken AS ({_UNREAD_SUBTRACT_SQL.format(rows="notification_gone")})"""
_LIKE_TOGGLED_COLUMNS = (
    "(SELECT id FROM notification_created), (SELECT created_at FROM notification_created), "
    "(SELECT unread FROM notification_counted)"
)


def like_notification_sql(*, toggled: str) -> SqlFragment:
    """A like toggle's notification as CTEs of the toggle's statement (see _LIKE_TOGGLED_SQL):
    `toggled` names the caller's relation of the toggled like. Its three columns are what
    `like_notification_announce` takes as `written` after the statement (all None: nothing
    written, e.g. an unlike or a block). Only on PostgreSQL."""
    return SqlFragment(
        ctes=_LIKE_TOGGLED_SQL.format(toggled=toggled),
        params={"notifications_now": timezone.now()},
        columns=_LIKE_TOGGLED_COLUMNS,
    )


def notifications_mark_read(*, user_id, ids: Sequence[int] | None = None, everything: bool = False) -> int:
    """Mark the user's notifications `ids` (or all of them) read; ids that are not theirs are
    ignored. Returns the new unread count; when something changed, the user's sockets (their
    other devices) get `notifications.read` after commit."""
    with transaction.atomic():
        unread = Notification.objects.filter(recipient_id=user_id, read=False)
        if not everything:
            unread = unread.filter(pk__in=list(ids or []))
        changed = unread.update(read=True)
        if not changed:
            return selectors.unread_count(user_id=user_id)
        counters = unread_counts_move(deltas={user_id: -changed})
        count = min(counters.get(User._meta.pk.to_python(user_id), 0), selectors.UNREAD_CAP)
        events.notifications_read(user_id=user_id, unread_count=count)
    return count


def notifications_prune(*, keep_days: int, batch: int = 10_000) -> int:
    """Delete read notifications older than `keep_days`, in batches (short transactions, no
    long lock on a big table). Returns how many went."""
    before = timezone.now() - timedelta(days=keep_days)
    total = 0
    while True:
        ids = list(Notification.objects.filter(read=True, created_at__lt=before).values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        deleted, _ = Notification.objects.filter(pk__in=ids).delete()
        total += deleted


def user_notifications_purge(*, user_id, limit: int) -> int:
    """One step of a deleted account's purge (accounts.signals.user_purging): delete at most
    `limit` of the notifications they received or caused; return how many (0: none left)."""
    rows = Notification.objects.filter(Q(recipient_id=user_id) | Q(actor_id=user_id))
    batch = list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
    if batch:
        Notification.objects.filter(pk__in=batch).delete()
    return len(batch)
