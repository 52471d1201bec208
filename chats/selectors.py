"""Reads of the chats app. Each costs a fixed number of indexed queries whatever the data size."""

from uuid import UUID

from django.db.models import Exists, F, OuterRef, Prefetch
from django.db.models.functions import Coalesce

from chats.models import Chat, ChatMember, Message
from social.exceptions import Forbidden, NotFound
from social.pagination import Page

CHAT_NOT_FOUND = "Чат не найден."
NOT_A_MEMBER = "Вы не участник этого чата."


def chat_for_member(chat_id, user) -> Chat:
    """The chat `chat_id` if `user` is a member of it (one query).

    Raises NotFound for no such chat (or a malformed id) and Forbidden for a non-member.
    """
    membership = ChatMember.objects.filter(chat=OuterRef("pk"), user_id=user.pk)
    chat = (
        Chat.objects.filter(pk=chat_id).annotate(is_member=Exists(membership)).first()
        if uuid_or_none(chat_id)
        else None
    )
    if chat is None:
        raise NotFound(CHAT_NOT_FOUND)
    if not chat.is_member:
        raise Forbidden(NOT_A_MEMBER)
    return chat


def uuid_or_none(value) -> UUID | None:
    """`value` as a UUID, or None when it is not one (a malformed id in a path)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def chat_with_users(*, chat_id) -> Chat:
    """One chat with its members prefetched (two queries), for answering a create."""
    return Chat.objects.prefetch_related(_members_prefetch()).get(pk=chat_id)


def _members_prefetch() -> Prefetch:
    # Memberships in the order they were made (the creator first): a stable order for clients.
    return Prefetch("memberships", queryset=ChatMember.objects.select_related("user").order_by("id"))


def chat_messages_page(*, chat: Chat, limit: int, offset: int = 0, before: int | None = None) -> Page:
    """One page of a chat's history, newest first, with authors (one query).

    `before` (a message id) pages by keyset and then `offset` is ignored; otherwise `offset`
    counts back from the newest message. Both walk the (chat, -id) index, so a page costs the
    same at 100 or 1,000,000 messages (offset is bounded by the caller). The contract pages it
    by offset and `before`, so the page has no cursor.
    """
    messages = Message.objects.filter(chat=chat).select_related("user").order_by("-id")
    if before is not None:
        return Page(items=list(messages.filter(id__lt=before)[:limit]))
    return Page(items=list(messages[offset : offset + limit]))


def user_chats(*, user) -> list[Chat]:
    """Every chat `user` is a member of, most recently active first, members prefetched.

    Two queries whatever the number of chats or members.
    """
    chats = (
        Chat.objects.filter(Exists(ChatMember.objects.filter(chat=OuterRef("pk"), user_id=user.pk)))
        .annotate(activity=Coalesce(F("last_message_at"), F("created_at")))
        .order_by("-activity", "-pk")
        .prefetch_related(_members_prefetch())
    )
    return list(chats)


def user_chats_export(*, user_id):
    """A user's chats for their export, each with the messages the user wrote in it (one query
    per chat: one chat's own messages at a time in memory)."""
    chats = Chat.objects.filter(memberships__user_id=user_id).order_by("created_at", "id").values_list("id", "title")
    for chat_id, title in chats.iterator(chunk_size=500):
        messages = Message.objects.filter(chat_id=chat_id, user_id=user_id).order_by("id")
        yield {
            "id": str(chat_id),
            "title": title,
            "messages": [
                {"id": message_id, "text": text, "created_at": created_at}
                for message_id, text, created_at in messages.values_list("id", "text", "created_at").iterator(
                    chunk_size=500
                )
            ],
        }
