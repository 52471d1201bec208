from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# `post.commented` carries the comment's first characters, so a list needs no comment rows.
TEXT_EXCERPT = 200


class NotificationQuerySet(models.QuerySet):
    def _raw_delete(self, using):
        # Every deletion of notifications lands here: QuerySet.delete() and the cascades of a
        # post, a comment, a chat or a user (Django's collector deletes rows with no
        # dependants of their own, like these, through the base manager's `_raw_delete`). The
        # recipients' unread counters move in the same statement (notifications.services).
        from notifications.services import notifications_delete_counted

        return notifications_delete_counted(rows=self, using=using)

    _raw_delete.alters_data = True


class Notification(models.Model):
    """Something another user did that concerns the recipient (EXTENSIONS.md §4). Written in
    the transaction of its cause; the cause's deletion (a post, a comment, a chat, the actor)
    takes it along by cascade."""

    class Type(models.TextChoices):
        FRIEND_ADDED = "friend.added", "добавил в друзья"
        POST_LIKED = "post.liked", "лайкнул пост"
        POST_COMMENTED = "post.commented", "прокомментировал пост"
        CHAT_ADDED = "chat.added", "добавил в чат"

    id = models.BigAutoField(primary_key=True)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=32, choices=Type.choices)
    post = models.ForeignKey("posts.Post", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    comment = models.ForeignKey("posts.Comment", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # null, not "": the API says `text: null` for every type but post.commented.
    text = models.CharField(max_length=TEXT_EXCERPT, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)
    read = models.BooleanField(default=False)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        # The cascades from a post, comment, chat or user fetch through the base manager.
        base_manager_name = "objects"
        verbose_name = "уведомление"
        verbose_name_plural = "уведомления"
        constraints = [
            # One `post.liked` per actor and post, read or not: liking again (after an unlike
            # that left a read one, or two racing likes) never makes a second.
            models.UniqueConstraint(
                fields=["recipient", "actor", "post"],
                condition=Q(type="post.liked"),
                name="notification_like_once",
            ),
        ]
        indexes = [
            # The list, newest first: keyset on (created_at, id) within the recipient.
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_list_idx"),
            # The unread list and the bounded unread count: only unread rows, a small index.
            models.Index(
                fields=["recipient", "-created_at", "-id"], condition=Q(read=False), name="notification_unread_idx"
            ),
            # The prune command: read ones by age.
            models.Index(fields=["created_at"], condition=Q(read=True), name="notification_read_age_idx"),
        ]

    def __str__(self):
        return f"{self.type} → {self.recipient_id}"

    def delete(self, *args, **kwargs):
        # One row through the same counted deletion as a queryset's (an instance's own delete
        # would go around `_raw_delete`).
        return type(self).objects.filter(pk=self.pk).delete()


class UnreadCount(models.Model):
    """How many of the user's notifications are unread (`read = false` rows), kept beside them
    so the badge and every event's `unread_count` read one row instead of counting index
    entries (issue #26: on a churned table the count was the like's costliest node). Moved
    only by notifications.services.unread_counts_move and the statements built from its SQL,
    in the transaction of the write it follows. No row: 0."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    unread = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "счётчик непрочитанных"
        verbose_name_plural = "счётчики непрочитанных"

    def __str__(self):
        return f"{self.user_id}: {self.unread}"
