"""Domain signals of the posts app: how the apps above it (notifications) learn of a reaction.

Sent inside the service's transaction, so the receivers' writes commit or roll back with the
like or the comment that caused them. (Not `post_save`: explicit, with the facts a receiver
needs and nothing to re-read.)
"""

from django.dispatch import Signal

# `actor_id` liked the post `post_id` of `author_id`; `actor` is that user (the caller, read
# by the request: a receiver telling the author needs no second read of them). `notified`:
# None, or the columns of notifications.services.like_notification_sql when the like's own
# statement wrote the author's notification already (PostgreSQL): then the receiver only
# announces it.
post_liked = Signal()

# `actor_id` took back their like of the post `post_id` of `author_id` (`actor`, `notified`:
# as above; with `notified`, the notification was withdrawn by the like's statement).
post_unliked = Signal()

# `comment` (a posts.models.Comment) was written on the post `post_id` of `author_id`.
comment_created = Signal()

# The writes of an app above that go into the like toggle's own statement (PostgreSQL), so they
# commit with the like in its one round trip: notifications' (the author's notification and
# unread counter), connected in its AppConfig.ready() (posts imports no app above it).
# make(toggled="<relation>") -> social.db.SqlFragment over the toggled like, a relation of
# (recipient_id, actor_id, post_id, liked) with one row when the like changed; the fragment's
# columns reach post_liked's and post_unliked's receivers as `notified`. At most one app.
_like_toggle_writes: list = []


def like_toggle_writes_connect(make) -> None:
    _like_toggle_writes[:] = [make]


def like_toggle_writes():
    """The connected maker of the like toggle's extra writes, or None."""
    return _like_toggle_writes[0] if _like_toggle_writes else None
