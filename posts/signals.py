"""Domain signals of the posts app: how the apps above it (notifications) learn of a reaction.

Sent inside the service's transaction, so the receivers' writes commit or roll back with the
like or the comment that caused them. (Not `post_save`: explicit, with the facts a receiver
needs and nothing to re-read.)
"""

from django.dispatch import Signal

# `actor_id` liked the post `post_id` of `author_id`; `actor` is that user (the caller, read
# by the request: a receiver telling the author needs no second read of them).
post_liked = Signal()

# `actor_id` took back their like of the post `post_id` of `author_id` (`actor`: as above).
post_unliked = Signal()

# `comment` (a posts.models.Comment) was written on the post `post_id` of `author_id`.
comment_created = Signal()
