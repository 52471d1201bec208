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
