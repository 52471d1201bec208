from django.utils.timezone import get_current_timezone
from rest_framework import serializers

from accounts.serializers import AuthorSerializer, author_representation
from notifications.models import Notification
from social.files import stored_name_url
from social.renderers import datetime_json


def notification_representation(notification: Notification, *, request=None) -> dict:
    """The notification object of the list and of the `notification` event. Expects the
    actor joined (`select_related("actor")`)."""
    return NotificationOutput(notification, context={"request": request}).data


class NotificationOutput(serializers.Serializer):
    """`{id, type, created_at, read, actor: {id, username, avatar}, post_id, comment_id,
    chat_id, text}` (EXTENSIONS.md §4)."""

    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=Notification.Type.choices)
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()
    actor = AuthorSerializer()
    post_id = serializers.UUIDField(allow_null=True)
    comment_id = serializers.UUIDField(allow_null=True)
    chat_id = serializers.UUIDField(allow_null=True)
    text = serializers.CharField(allow_null=True)

    def to_representation(self, notification):
        # Built directly (a page is up to 100 of them); the same keys and values as the fields.
        def uuid_or_none(value):
            return None if value is None else str(value)

        return {
            "id": notification.pk,
            "type": notification.type,
            "created_at": self.fields["created_at"].to_representation(notification.created_at),
            "read": notification.read,
            "actor": author_representation(notification.actor, self.context.get("request")),
            "post_id": uuid_or_none(notification.post_id),
            "comment_id": uuid_or_none(notification.comment_id),
            "chat_id": uuid_or_none(notification.chat_id),
            "text": notification.text,
        }


def notification_items(rows, request) -> list[dict]:
    """NotificationOutput's objects (the same keys, order and values) from the bare rows of
    `notifications.selectors.notifications_page`, built directly: the list's hot path."""
    zone = get_current_timezone()
    return [
        {
            "id": notification_id,
            "type": kind,
            "created_at": datetime_json(created_at, zone),
            "read": read,
            "actor": {"id": str(actor_id), "username": username, "avatar": stored_name_url(avatar, request)},
            "post_id": None if post_id is None else str(post_id),
            "comment_id": None if comment_id is None else str(comment_id),
            "chat_id": None if chat_id is None else str(chat_id),
            "text": text,
        }
        for (
            notification_id,
            kind,
            created_at,
            read,
            post_id,
            comment_id,
            chat_id,
            text,
            actor_id,
            username,
            avatar,
        ) in rows
    ]


class UnreadCountOutput(serializers.Serializer):
    unread_count = serializers.IntegerField(help_text="Exact up to 999; 999 means 999 or more.")


class MarkReadInput(serializers.Serializer):
    """`{"ids": [...]}` or `{"all": true}`: exactly one of them."""

    # Bounded like the bigint ids they name: a larger number is a 400, not a database error.
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, max_length=1000
    )
    all = serializers.BooleanField(required=False)

    def validate(self, data):
        if ("ids" in data) == ("all" in data) or data.get("all") is False:
            raise serializers.ValidationError(MARK_READ_ONE_OF)
        return data


MARK_READ_ONE_OF = "Укажите либо ids (список идентификаторов), либо all: true."
