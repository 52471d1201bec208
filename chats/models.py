import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from social.uploads import random_upload_path


def chat_avatar_path(instance, filename):
    return random_upload_path("chat-avatars", filename)


def message_image_path(instance, filename):
    return random_upload_path("chat-images", filename)


class Chat(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=255)
    avatar = models.ImageField(upload_to=chat_avatar_path, null=True, blank=True, max_length=255)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ChatMember", related_name="chats")
    # "<smaller user id>:<larger user id>" for an untitled two-person chat; the unique index
    # makes "answer the existing direct chat" safe against two concurrent creates.
    direct_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The creator; null for a direct chat (EXTENSIONS §2 `owner_id`).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_chats"
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Kept by message_send/message_delete with F(): the admin shows it without counting a
    # million rows per chat.
    messages_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "чат"
        verbose_name_plural = "чаты"

    def __str__(self):
        return self.title


class ChatMember(models.Model):
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships")
    joined_at = models.DateTimeField(default=timezone.now)
    # The member's read marker: the id of the last message they read (null: none). It only
    # moves forward, through `chats.services.read_marker_move`.
    last_read_message_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "участник чата"
        verbose_name_plural = "участники чата"
        constraints = [models.UniqueConstraint(fields=["chat", "user"], name="chat_member_unique")]
        indexes = [
            models.Index(fields=["user", "chat"], name="chat_member_user_idx"),
            # A chat's members in joining order (the embedded members of the chat list and chat
            # objects, the members page): read in order up to their LIMIT, with no sort.
            models.Index(fields=["chat", "id"], name="chat_member_joining_idx"),
        ]


class Message(models.Model):
    id = models.BigAutoField(primary_key=True)
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    # The quoted message. No database constraint and no cascade: deleting the quoted message
    # leaves the id, which answers as {"id", "message": null, "user": null} (EXTENSIONS §1).
    reply_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    # The sender's own id for the message (a socket frame's `client_ref`): a resend with the
    # same one stores nothing new, so a client that was not answered may always resend; the
    # unique constraint, not a lookup before the insert, keeps concurrent retries to one row.
    client_ref = models.CharField(max_length=64, blank=True, default="")
    # The storage names of the message's photos (0-4, in the order sent; EXTENSIONS §2). A list
    # on the row rather than a table: a history page reads them with its messages, in no extra
    # query, and they are only ever written with the message and deleted with it.
    images = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "сообщение"
        verbose_name_plural = "сообщения"
        # History pages by (chat, id): the same cost at 100 or 1,000,000 messages.
        indexes = [models.Index(fields=["chat", "-id"], name="message_chat_history_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "user", "client_ref"],
                condition=~models.Q(client_ref=""),
                name="message_client_ref_unique",
            )
        ]
