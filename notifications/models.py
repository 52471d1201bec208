from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# `post.commented` carries the comment's first characters, so a list needs no comment rows.
TEXT_EXCERPT = 200


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

    class Meta:
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
