"""Every write of the chats app: creating chats, sending and deleting messages, removing members.

REST views and the WebSocket consumer call these same functions. Real-time events are described
and sent in `social.events`, only after the transaction commits, so no client ever sees a message
that was rolled back, and a message is always stored before anyone sees it.
"""

from collections.abc import Sequence
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts.models import User
from chats import signals
from chats.admission import chat_admission_check, direct_reopen_check
from chats.models import Chat, ChatMember, Message
from chats.serializers import MessageOutput
from safety.selectors import block_between_check
from social import events, metrics
from social.exceptions import Forbidden
from social.tasks import stored_files_release

MAX_MEMBERS = 500
MAX_TITLE_LENGTH = 255
MAX_MESSAGE_LENGTH = 4000

NO_OTHER_MEMBER = "Укажите хотя бы одного другого пользователя."
TOO_MANY_MEMBERS = f"В чате может быть не больше {MAX_MEMBERS} участников."
UNKNOWN_USERS = "Пользователи не найдены: {ids}."
EMPTY_MESSAGE = "Сообщение не может быть пустым."
LONG_MESSAGE = f"Сообщение не может быть длиннее {MAX_MESSAGE_LENGTH} символов."
NOT_IN_CHAT = "В этом чате нет такого сообщения."
NOT_YOUR_MESSAGE = "Изменять можно только свои сообщения."
MAY_NOT_DELETE = "Удалить сообщение может только его автор, владелец чата или модератор."


# --- Chats --------------------------------------------------------------------------------------
def direct_key(user_a: UUID, user_b: UUID) -> str:
    """The unique key of the untitled two-person chat between two users (order-free)."""
    first, second = sorted([str(user_a), str(user_b)])
    return f"{first}:{second}"


def _default_title(others: Sequence[User]) -> str:
    title = ", ".join(user.username for user in others)
    if len(title) > MAX_TITLE_LENGTH:
        title = title[: MAX_TITLE_LENGTH - 1] + "…"
    return title


def chat_create(
    *, creator: User, user_ids: Sequence[UUID], title: str | None = None, avatar: ContentFile | None = None
) -> tuple[Chat, bool]:
    """Create a chat of `creator` and the users `user_ids`; return (chat, created).

    The creator is always a member (listing them in `user_ids` is harmless). Every other id must
    be an existing active user, at least one of them, at most MAX_MEMBERS members in all
    (ValidationError on `users` otherwise); a block between any two of the members → Blocked
    (403), even when their direct chat exists. A blank `title` becomes the other members' usernames.
    An untitled two-person chat is unique per pair: when it exists it is returned with
    created=False (and `avatar` is not stored). `avatar` is an already validated, re-encoded image.
    A new chat must pass `chats.admission.chat_admission_check` (Forbidden otherwise).
    """
    others_ids = list(dict.fromkeys(user_id for user_id in user_ids if user_id != creator.pk))
    if not others_ids:
        raise ValidationError({"users": [NO_OTHER_MEMBER]})
    if len(others_ids) + 1 > MAX_MEMBERS:
        raise ValidationError({"users": [TOO_MANY_MEMBERS]})
    found = {user.pk: user for user in User.objects.filter(pk__in=others_ids, is_active=True)}
    missing = [str(user_id) for user_id in others_ids if user_id not in found]
    if missing:
        raise ValidationError({"users": [UNKNOWN_USERS.format(ids=", ".join(missing))]})
    others = [found[user_id] for user_id in others_ids]

    key = direct_key(creator.pk, others[0].pk) if not title and len(others) == 1 else None
    if key is not None:
        existing = Chat.objects.filter(direct_key=key).first()
        if existing is not None:
            direct_reopen_check(user=creator, other_id=others[0].pk)
            return existing, False

    # An existing direct chat puts no one anywhere new; a new chat must pass admission.
    chat_admission_check(inviter=creator, user_ids=others_ids)
    chat = Chat(title=title or _default_title(others), direct_key=key, owner=None if key else creator)
    if avatar is not None:
        chat.avatar.save(avatar.name, avatar, save=False)
    try:
        with transaction.atomic():
            chat.save()
            ChatMember.objects.bulk_create([ChatMember(chat=chat, user=member) for member in [creator, *others]])
            signals.chat_members_added.send(
                sender=Chat, chat_id=chat.pk, actor_id=creator.pk, user_ids=[member.pk for member in others]
            )
    except IntegrityError:
        # Two creates of the same direct chat raced past the lookup; the unique index decided.
        if key is None:
            raise
        if chat.avatar:
            chat.avatar.storage.delete(chat.avatar.name)
        return Chat.objects.get(direct_key=key), False
    return chat, True


def chat_member_remove(*, chat: Chat, user: User) -> None:
    """Remove `user` from `chat`; their open sockets of this chat close with 4403 after commit.

    A no-op (but the sockets still close) when the user is not a member. A direct chat stops
    being the pair's direct chat: creating one again makes a fresh chat for the two.
    """
    with transaction.atomic():
        ChatMember.objects.filter(chat=chat, user=user).delete()
        if chat.direct_key is not None:
            chat.direct_key = None
            chat.save(update_fields=["direct_key"])
        events.chat_member_removed(chat_id=chat.pk, user_id=user.pk)


# --- A chat's denormalized state ------------------------------------------------------------------
def chat_counters_move(*, chat_ids, delta: int, at=None) -> int:
    """The one writer of a chat's `messages_count` (and `last_message_at` when a message
    arrives at `at`): every message write and the seeding call it. Returns the chats moved.

    One statement per call: the counter moves atomically (never below 0), and last_message_at
    only ever moves forward, so two concurrent sends cannot move it back in time.
    """
    changes = {"messages_count": Greatest(F("messages_count") + delta, Value(0))}
    if at is not None:
        changes["last_message_at"] = Greatest(Coalesce("last_message_at", Value(at)), Value(at))
    return Chat.objects.filter(pk__in=list(chat_ids)).update(**changes)


def user_messages_withdraw(*, user_id) -> None:
    """Before a user is deleted (their messages go by cascade): take their messages out of the
    chats' counters, which the cascade alone would leave behind."""
    written = Message.objects.filter(user_id=user_id).values("chat_id").annotate(total=Count("pk")).order_by()
    by_total: dict[int, list] = {}
    for row in written:
        by_total.setdefault(row["total"], []).append(row["chat_id"])
    for total, chat_ids in by_total.items():
        chat_counters_move(chat_ids=chat_ids, delta=-total)


def user_chats_purge(*, user_id, limit: int) -> int:
    """One step of a deleted account's purge (accounts.signals.user_purging), in the step's
    transaction: remove at most `limit` rows of the first kind that has any, in this order,
    and return how many (0: nothing of the user's is left here).

    1. the user's messages, taken out of their chats' counters;
    2. the chats they own pass to the longest-standing other member (as when an owner leaves);
    3. their memberships. The other member of a direct chat keeps the chat and their own
       messages; a chat left with no member is deleted, with its avatar's file.
    """
    # Locked first: a concurrent message_delete of one of them then deletes nothing and moves
    # no counter (or has finished, and the row is not returned): counted once either way.
    messages = Message.objects.filter(user_id=user_id).order_by("pk").select_for_update()
    batch = list(messages.values_list("pk", "chat_id")[:limit])
    if batch:
        Message.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
        per_chat: dict[UUID, int] = {}
        for _, chat_id in batch:
            per_chat[chat_id] = per_chat.get(chat_id, 0) + 1
        by_total: dict[int, list] = {}
        for chat_id, total in per_chat.items():
            by_total.setdefault(total, []).append(chat_id)
        for total, chat_ids in by_total.items():
            chat_counters_move(chat_ids=chat_ids, delta=-total)
        return len(batch)

    owned = list(Chat.objects.filter(owner_id=user_id).order_by("pk").values_list("pk", flat=True)[:limit])
    if owned:
        for chat_id in owned:
            heir = (
                ChatMember.objects.filter(chat_id=chat_id).exclude(user_id=user_id).order_by("id").values("user_id")[:1]
            )
            Chat.objects.filter(pk=chat_id).update(owner_id=Subquery(heir))
        return len(owned)

    memberships = list(ChatMember.objects.filter(user_id=user_id).order_by("pk").values_list("pk", "chat_id")[:limit])
    if memberships:
        ChatMember.objects.filter(pk__in=[pk for pk, _ in memberships]).delete()
        left = Chat.objects.filter(pk__in=[chat_id for _, chat_id in memberships]).exclude(
            Exists(ChatMember.objects.filter(chat_id=OuterRef("pk")))
        )
        avatars = [name for name in left.values_list("avatar", flat=True) if name]
        left.delete()
        stored_files_release(avatars)
    return len(memberships)


def read_marker_move(*, chat_id, user_id, message_id: int) -> bool:
    """The one writer of a member's read marker: move it to `message_id` if that is forward;
    return whether it moved.

    One conditional UPDATE: the row lock orders two concurrent moves, and PostgreSQL checks the
    second's condition again against what the first wrote, so the marker never moves back.
    """
    behind = Q(last_read_message_id__isnull=True) | Q(last_read_message_id__lt=message_id)
    moved = ChatMember.objects.filter(behind, chat_id=chat_id, user_id=user_id).update(last_read_message_id=message_id)
    return moved > 0


def chat_read(*, chat: Chat, reader: User, message_id: int) -> int:
    """Mark `chat` read by `reader` up to `message_id` (a marker never moves back); return the
    marker after. When it moved, a `read` event goes (after commit) to the reader's user
    sockets, and to the other members' in chats of at most READ_RECEIPTS_MAX_MEMBERS members
    when the reader shares read receipts (EXTENSIONS.md §8).

    Precondition: `reader` is a member. ValidationError on `message_id` when no such message is
    in the chat.
    """
    if not Message.objects.filter(chat=chat, pk=message_id).exists():
        raise ValidationError({"message_id": [NOT_IN_CHAT]})
    with transaction.atomic():
        if read_marker_move(chat_id=chat.pk, user_id=reader.pk, message_id=message_id):
            receivers = [reader.pk]
            # The setting is read from the row: a socket's user was loaded at its handshake,
            # maybe before the reader stopped sharing receipts.
            if User.objects.filter(pk=reader.pk, share_read_receipts=True).exists():
                member_ids = list(ChatMember.objects.filter(chat_id=chat.pk).values_list("user_id", flat=True))
                if len(member_ids) <= settings.READ_RECEIPTS_MAX_MEMBERS:
                    receivers = member_ids
            events.chat_read(chat_id=chat.pk, reader_id=reader.pk, message_id=message_id, receiver_ids=receivers)
        return ChatMember.objects.values_list("last_read_message_id", flat=True).get(chat=chat, user=reader)


def chat_typing(*, chat: Chat, typer: User) -> None:
    """Tell the other members that `typer` is typing in `chat` (nothing stored).
    Precondition: `typer` is a member; the caller bounds how often (the user socket: one per
    user per chat per 2 s)."""
    member_ids = list(ChatMember.objects.filter(chat_id=chat.pk).values_list("user_id", flat=True))
    events.chat_typing(chat_id=chat.pk, typer_id=typer.pk, member_ids=member_ids)


# --- Messages -----------------------------------------------------------------------------------
def message_text_clean(text: str) -> str:
    """The text of a message as stored: 1–MAX_MESSAGE_LENGTH characters, not only whitespace."""
    if not text or not text.strip():
        raise ValidationError({"message": [EMPTY_MESSAGE]})
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ValidationError({"message": [LONG_MESSAGE]})
    return text


def message_send(
    *,
    chat: Chat,
    author: User,
    text: str,
    origin: str | None = None,
    client_ref: str | None = None,
    reply_to: int | None = None,
) -> Message:
    """Store a message of `author` in `chat` (as `message_send_once`); the message alone."""
    return message_send_once(
        chat=chat, author=author, text=text, origin=origin, client_ref=client_ref, reply_to=reply_to
    )[0]


def message_send_once(
    *,
    chat: Chat,
    author: User,
    text: str,
    origin: str | None = None,
    client_ref: str | None = None,
    reply_to: int | None = None,
) -> tuple[Message, bool]:
    """Store a message of `author` in `chat`, then (after commit) send it to every member's
    sockets of both kinds; return (message, created). The one send of REST, the chat socket and
    the user socket.

    Precondition: `author` is a member of `chat` (see `chats.selectors.chat_for_member`).
    Raises ValidationError on `message` for an empty or too long text, Blocked (403) in a
    direct chat whose two members a block separates (a group chat goes on). `origin` is the channel
    of a sending chat socket, which answers its sender itself and skips the chat event. A
    `client_ref` ("" or None: no ref) the author already used in this chat stores nothing: the
    existing message comes back with created=False (a resend) and only the author's user
    sockets get it again.

    The chat's row is locked before the message takes its id, so within one chat a greater id
    is never committed before a smaller one and `?after=<id>` catch-up never skips a message.
    `reply_to` must be a message of the same chat (ValidationError on `reply_to`).
    """
    text = message_text_clean(text)
    if chat.direct_key is not None:
        # The key names the pair: the other member is known without reading the members.
        other_id = next(part for part in chat.direct_key.split(":") if part != str(author.pk))
        block_between_check(user_id=author.pk, other_id=other_id)
    client_ref = client_ref or ""
    if client_ref and Message.objects.filter(chat=chat, user=author, client_ref=client_ref).exists():
        return _message_repeated(chat=chat, author=author, client_ref=client_ref), False
    quoted = None
    if reply_to is not None:
        quoted = Message.objects.select_related("user").filter(chat=chat, pk=reply_to).first()
        if quoted is None:
            raise ValidationError({"reply_to": [NOT_IN_CHAT]})
    try:
        with transaction.atomic():
            Chat.objects.select_for_update().filter(pk=chat.pk).values_list("pk").first()
            message = Message.objects.create(chat=chat, user=author, text=text, client_ref=client_ref, reply_to=quoted)
            chat_counters_move(chat_ids=[chat.pk], delta=1, at=message.created_at)
            # What one sends, one has read (EXTENSIONS §2).
            read_marker_move(chat_id=chat.pk, user_id=author.pk, message_id=message.pk)
            member_ids = list(ChatMember.objects.filter(chat_id=chat.pk).values_list("user_id", flat=True))
            events.chat_message_stored(
                chat_id=chat.pk,
                message=message_payload(message),
                member_ids=member_ids,
                client_ref=client_ref or None,
                origin=origin,
            )
    except IntegrityError:
        if not client_ref:
            raise
        # The same resend raced this one past the lookup: the unique constraint decided.
        return _message_repeated(chat=chat, author=author, client_ref=client_ref), False
    metrics.MESSAGES_STORED.inc()
    return message, True


def _message_repeated(*, chat: Chat, author: User, client_ref: str) -> Message:
    """The message an earlier send with `client_ref` stored; the author's user sockets get it
    again, so a retry after a reconnect learns its id."""
    with transaction.atomic():
        message = Message.objects.select_related("user", "reply_to__user").get(
            chat=chat, user=author, client_ref=client_ref
        )
        events.chat_message_repeated(
            chat_id=chat.pk, message=message_payload(message), author_id=author.pk, client_ref=client_ref
        )
    return message


def message_payload(message: Message) -> dict:
    """The message object as events carry it (plain dicts, for the channel layer)."""
    payload = dict(MessageOutput(message).data)
    payload["user"] = dict(payload["user"])
    return payload


def message_edit(*, message: Message, editor: User, text: str) -> Message:
    """Replace the text of `editor`'s own message and stamp `edited_at`; every member's user
    sockets get `message.edited` after commit.

    Precondition: `editor` is a member of the message's chat. Forbidden unless `editor` wrote
    it; ValidationError on `message` for an empty or too long text.
    """
    if message.user_id != editor.pk:
        raise Forbidden(NOT_YOUR_MESSAGE)
    text = message_text_clean(text)
    with transaction.atomic():
        message.text, message.edited_at = text, timezone.now()
        message.save(update_fields=["text", "edited_at"])
        member_ids = list(ChatMember.objects.filter(chat_id=message.chat_id).values_list("user_id", flat=True))
        events.chat_message_edited(chat_id=message.chat_id, message=message_payload(message), member_ids=member_ids)
    return message


def message_delete_check(*, message: Message, actor: User) -> None:
    """Who may delete a message: its author, the chat's owner, staff (Forbidden otherwise).
    Precondition: `actor` is staff or a member of the chat."""
    if not (actor.is_staff or message.user_id == actor.pk or message.chat.owner_id == actor.pk):
        raise Forbidden(MAY_NOT_DELETE)


def message_delete(*, message: Message) -> None:
    """Delete a message; the chat's sockets get `message.deleted` (both kinds). Read markers
    stay where they are. Precondition: the caller may delete it (`message_delete_check`)."""
    with transaction.atomic():
        message_id, chat_id = message.pk, message.chat_id
        if message.delete()[0]:
            chat_counters_move(chat_ids=[chat_id], delta=-1)
        member_ids = list(ChatMember.objects.filter(chat_id=chat_id).values_list("user_id", flat=True))
        events.chat_message_deleted(chat_id=chat_id, message_id=message_id, member_ids=member_ids)
