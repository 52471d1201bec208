"""Representations of chats and messages: input serializers only parse, output ones only render."""

import orjson
from django.utils.timezone import get_current_timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.privacy import embedded_email, embedded_emails_shown
from accounts.serializers import EmbeddedUserSerializer, embedded_users, user_representation
from chats.models import Chat, Message
from social.exceptions import INVALID_USER_ID
from social.files import absolute_file_url, stored_name_url
from social.images import CleanImageField
from social.renderers import datetime_json

MAX_OFFSET = 10_000
DEFAULT_PAGE = 50
MAX_PAGE = 100
OFFSET_TOO_DEEP = f"Смещение не может быть больше {MAX_OFFSET}; для более старых сообщений используйте ?before=."


class ChatCreateInput(serializers.Serializer):
    # The member limit itself is the service's rule; this only bounds what is parsed at all.
    # DRF's Russian catalogue lacks the UUID message (it would answer in English).
    users = serializers.ListField(
        child=serializers.UUIDField(error_messages={"invalid": INVALID_USER_ID}), allow_empty=False, max_length=1000
    )
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    avatar = CleanImageField(square=True, required=False, max_length=255)


class ChatCreateJSON(ChatCreateInput):
    """The JSON body, for the API schema only: a file cannot travel in JSON, and a generated
    client needs one media type per operation (the server still takes the multipart form)."""

    avatar = None


class MessagesQuery(serializers.Serializer):
    """Query parameters of a history page (and the offset from the path)."""

    offset = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OFFSET,
        error_messages={"max_value": OFFSET_TOO_DEEP},
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)
    before = serializers.IntegerField(min_value=1, required=False, max_value=2**63 - 1)
    # Catch-up (EXTENSIONS §2): messages after this id, oldest first.
    after = serializers.IntegerField(min_value=0, required=False, max_value=2**63 - 1)


class ChatOutput(serializers.ModelSerializer):
    """The contract's chat object: `{id, title, avatar, users}`.

    Members are read from the prefetched `memberships` (with their users), in joining order.
    """

    avatar = serializers.SerializerMethodField()
    users = serializers.SerializerMethodField()

    class Meta:
        model = Chat
        fields = ["id", "title", "avatar", "users"]

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_avatar(self, chat) -> str | None:
        return absolute_file_url(chat.avatar, self.context.get("request"))

    @extend_schema_field(EmbeddedUserSerializer(many=True))
    def get_users(self, chat) -> list[dict]:
        members = [membership.user for membership in chat.memberships.all()]
        return embedded_users(members, self.context.get("request"))


class QuotedUserOutput(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()


class QuotedMessageOutput(serializers.Serializer):
    """`reply_to`: the quoted message's id, its first 200 characters and author; a deleted one
    (or one of a deleted account) keeps its id with `message` and `user` null."""

    id = serializers.IntegerField()
    message = serializers.CharField(allow_null=True)
    user = QuotedUserOutput(allow_null=True)


QUOTE_LENGTH = 200


class MessageOutput(serializers.ModelSerializer):
    """The contract's message object `{id, message, created_at, user}` plus EXTENSIONS §1's
    `chat_id`, `edited_at`, `reply_to` (REST and both sockets). Read from a message with
    `user` and `reply_to__user` selected (a quoted message is never fetched one by one)."""

    message = serializers.CharField(source="text")
    # Declared, not derived from the model: the model's default made it optional in the schema.
    created_at = serializers.DateTimeField(read_only=True)
    user = EmbeddedUserSerializer()
    chat_id = serializers.UUIDField(read_only=True)
    edited_at = serializers.DateTimeField(read_only=True, allow_null=True)
    reply_to = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "message", "created_at", "user", "chat_id", "edited_at", "reply_to", "images"]

    @extend_schema_field({"type": "array", "items": {"type": "string", "format": "uri"}})
    def get_images(self, message) -> list[str]:
        # Absolute with a request; an event has none, and the sockets make local media URLs
        # absolute against their own host (social.fanout.media_absolute).
        request = self.context.get("request")
        return [stored_name_url(name, request) for name in message.images]

    @extend_schema_field(QuotedMessageOutput(allow_null=True))
    def get_reply_to(self, message) -> dict | None:
        if message.reply_to_id is None:
            return None
        try:
            quoted = message.reply_to
        except Message.DoesNotExist:
            quoted = None
        # A quote of a deleted account's message shows as deleted at once, before the purge.
        if quoted is None or quoted.user.deleted_at is not None:
            return {"id": message.reply_to_id, "message": None, "user": None}
        return {
            "id": quoted.pk,
            "message": quoted.text[:QUOTE_LENGTH],
            "user": {"id": str(quoted.user_id), "username": quoted.user.username},
        }


class ChatListOutput(ChatOutput):
    """EXTENSIONS §2's chat object: the contract's `{id, title, avatar, users}` plus the keys a
    messenger's chat list shows. Read from a chat completed by `chats.selectors`
    (`chats_complete`): at most CHAT_MEMBERS_EMBEDDED members are embedded. The list itself
    builds the same objects from bare rows (`chat_list_items`; a test holds them equal)."""

    owner_id = serializers.UUIDField(read_only=True, allow_null=True)
    is_direct = serializers.SerializerMethodField()
    members_count = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    last_message = MessageOutput(read_only=True, allow_null=True)
    unread_count = serializers.IntegerField(read_only=True, help_text="Exact up to 999; 999 above.")
    last_read_message_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta(ChatOutput.Meta):
        fields = [
            *ChatOutput.Meta.fields,
            "owner_id",
            "is_direct",
            "members_count",
            "created_at",
            "last_message",
            "unread_count",
            "last_read_message_id",
        ]

    def get_is_direct(self, chat) -> bool:
        return chat.direct_key is not None

    @extend_schema_field(EmbeddedUserSerializer(many=True))
    def get_users(self, chat) -> list[dict]:
        members = [membership.user for membership in chat.embedded_memberships]
        return embedded_users(members, self.context.get("request"))


class _EmbeddedUsers(dict):
    """A page's embedded user objects by their columns (id, username, email, avatar): each
    user built once a page. The caller is a member of every listed chat and the author of
    about half their last messages, so a 20-chat page embeds ~60 users of whom ~21 differ;
    the encoding that follows writes a shared object as it writes a copy."""

    def __init__(self, request):
        super().__init__()
        self.request = request
        self.shown = embedded_emails_shown()

    def __missing__(self, columns) -> dict:
        user_id, username, email, avatar = columns
        user = self[columns] = user_representation(
            user_id=user_id,
            username=username,
            email=embedded_email(email, shown=self.shown),
            avatar_name=avatar,
            request=self.request,
        )
        return user


def _last_message_item(row, request, zone, users: _EmbeddedUsers) -> dict:
    (message_id, chat_id, text, created_at, edited_at, images, reply_to_id) = row[:7]
    quoted_id, quoted_text, quoted_user_id, quoted_username, quoted_deleted_at = row[11:]
    if reply_to_id is None:
        reply_to = None
    elif quoted_id is None or quoted_deleted_at is not None:
        reply_to = {"id": reply_to_id, "message": None, "user": None}
    else:
        reply_to = {
            "id": quoted_id,
            "message": quoted_text[:QUOTE_LENGTH],
            "user": {"id": str(quoted_user_id), "username": quoted_username},
        }
    if isinstance(images, str):  # jsonb as text (Django's loader on its connections)
        # orjson: json.loads was a fifth of this function's CPU (one call per chat, mostly "[]").
        images = orjson.loads(images)
    return {
        "id": message_id,
        "message": text,
        "created_at": datetime_json(created_at, zone),
        "user": users[row[7:11]],
        "chat_id": str(chat_id),
        "edited_at": None if edited_at is None else datetime_json(edited_at, zone),
        "reply_to": reply_to,
        "images": [stored_name_url(name, request) for name in images] if images else [],
    }


def chat_list_items(rows, request) -> list[dict]:
    """ChatListOutput's objects (the same keys, order and values) from the bare rows of
    `chats.selectors.chat_list_values`, built directly: the list's hot path (issue #26)."""
    items, zone, users = [], get_current_timezone(), _EmbeddedUsers(request)
    for row in rows:
        last = row.last_message
        (chat_id, title, avatar, owner_id, direct_key, created_at, _, last_read, unread, _, members_count) = row.chat
        items.append(
            {
                "id": str(chat_id),
                "title": title,
                "avatar": None if avatar is None else stored_name_url(avatar, request),
                "users": [users[member] for member in row.members],
                "owner_id": None if owner_id is None else str(owner_id),
                "is_direct": direct_key is not None,
                "members_count": members_count,
                "created_at": datetime_json(created_at, zone),
                "last_message": None if last is None else _last_message_item(last, request, zone, users),
                "unread_count": unread,
                "last_read_message_id": last_read,
            }
        )
    return items


class MessageSendInput(serializers.Serializer):
    """POST /api/chats/<id>/messages (JSON or multipart). The text's rules are the service's
    (empty only with images); the images come from `social.images.request_images`."""

    message = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="")
    client_ref = serializers.CharField(max_length=64, required=False, allow_null=True)
    reply_to = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True)


class MessageSendForm(MessageSendInput):
    """The multipart form, for the API schema only: the text fields plus the photos."""

    images = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Repeated `images` (or `images[]`) file fields, 0–4."
    )


class ChatUpdateInput(serializers.Serializer):
    """PATCH /api/chats/<id>: any of the title and the avatar (a multipart image, stored as a
    center-cropped square). Nothing to change is the service's 400."""

    title = serializers.CharField(max_length=255, required=False)
    avatar = CleanImageField(square=True, required=False, max_length=255)


class ChatMembersAddInput(serializers.Serializer):
    users = serializers.ListField(
        child=serializers.UUIDField(error_messages={"invalid": INVALID_USER_ID}), allow_empty=False, max_length=1000
    )


class MessageEditInput(serializers.Serializer):
    message = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ReadInput(serializers.Serializer):
    message_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class ReadOutput(serializers.Serializer):
    last_read_message_id = serializers.IntegerField(allow_null=True)
    unread_count = serializers.IntegerField()


class ReadMarkerOutput(serializers.Serializer):
    user_id = serializers.UUIDField()
    message_id = serializers.IntegerField()


class ChatDetailOutput(ChatListOutput):
    """GET /api/chats/<id>: the chat object plus the members' read markers ("seen by")."""

    read_markers = ReadMarkerOutput(many=True, read_only=True)

    class Meta(ChatListOutput.Meta):
        fields = [*ChatListOutput.Meta.fields, "read_markers"]


class UserChatOutput(ChatListOutput):
    """GET /api/users/<id>/chats (contract): the chat object of the list, but `users` lists
    every member (read from the full `memberships` prefetch), as the contract's path always did."""

    @extend_schema_field(EmbeddedUserSerializer(many=True))
    def get_users(self, chat) -> list[dict]:
        return ChatOutput.get_users(self, chat)


class ChatEventOutput(ChatListOutput):
    """The chat object of `chat.updated` frames: one payload for every member, so without the
    keys that differ by viewer (`unread_count`, `last_read_message_id`); a client keeps its own
    from the chat list and `read` frames. (`chat.created` carries them: they are the same for
    everyone it goes to, see `chats.services.chat_payload`.)"""

    class Meta(ChatListOutput.Meta):
        fields = [name for name in ChatListOutput.Meta.fields if name not in ("unread_count", "last_read_message_id")]
