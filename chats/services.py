"""Every write of the chats app: creating chats, sending and deleting messages, removing members.

REST views and the WebSocket consumer call these same functions. Real-time events are described
and sent in `social.events`, only after the transaction commits, so no client ever sees a message
that was rolled back, and a message is always stored before anyone sees it.
"""

import json
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from accounts.models import User
from accounts.serializers import embedded_users
from chats import selectors, signals
from chats.admission import chat_admission_check, chat_users_found, direct_reopen_check
from chats.models import Chat, ChatMember, Message, chat_avatar_path, message_image_path
from chats.serializers import ChatEventOutput, ChatListOutput, MessageOutput
from safety.models import Block
from safety.selectors import block_between_check
from social import events, limits, metrics
from social.db import prepared_cursor
from social.exceptions import DomainError, Forbidden, NotFound, ServiceUnavailable
from social.images import images_clean
from social.renderers import datetime_json
from social.tasks import stored_files_delete_later, stored_files_release

logger = logging.getLogger(__name__)

MAX_MEMBERS = 500
MAX_TITLE_LENGTH = 255
MAX_MESSAGE_LENGTH = 4000
MAX_MESSAGE_IMAGES = 4

NO_OTHER_MEMBER = "Укажите хотя бы одного другого пользователя."
TOO_MANY_MEMBERS = f"В чате может быть не больше {MAX_MEMBERS} участников."
EMPTY_MESSAGE = "Сообщение не может быть пустым."
TOO_MANY_IMAGES = f"Не больше {MAX_MESSAGE_IMAGES} изображений в сообщении."
LONG_MESSAGE = f"Сообщение не может быть длиннее {MAX_MESSAGE_LENGTH} символов."
NOT_IN_CHAT = "В этом чате нет такого сообщения."
NOT_YOUR_MESSAGE = "Изменять можно только свои сообщения."
MAY_NOT_DELETE = "Удалить сообщение может только его автор, владелец чата или модератор."
DIRECT_CHAT = "Личный чат двух пользователей нельзя изменить: создайте групповой чат."
ONLY_THE_OWNER = "Это может только владелец чата."
NOTHING_TO_CHANGE = "Укажите название или аватар."
MAY_NOT_REMOVE = "Удалить участника может только владелец чата; выйти из чата может каждый."
STORAGE_FAILED = "Не удалось сохранить изображения, попробуйте позже."


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
    Who may be put in a chat with the creator is `chat_admission_check`'s to say. Every member's
    user sockets (the creator's other devices too) get `chat.created` after commit.
    """
    others_ids = list(dict.fromkeys(user_id for user_id in user_ids if user_id != creator.pk))
    if not others_ids:
        raise ValidationError({"users": [NO_OTHER_MEMBER]})
    if len(others_ids) + 1 > MAX_MEMBERS:
        raise ValidationError({"users": [TOO_MANY_MEMBERS]})
    others = chat_users_found(inviter=creator, user_ids=others_ids)

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
            events.chat_created(
                chat=chat_payload(chat_id=chat.pk, joined=True), user_ids=[member.pk for member in [creator, *others]]
            )
    except IntegrityError:
        # Two creates of the same direct chat raced past the lookup; the unique index decided.
        if key is None:
            raise
        if chat.avatar:
            chat.avatar.storage.delete(chat.avatar.name)
        return Chat.objects.get(direct_key=key), False
    return chat, True


def chat_payload(*, chat_id, joined: bool = False) -> dict:
    """The chat object as `chat.created` / `chat.updated` frames carry it (plain dicts, built
    without a request: local media URLs stay relative until a socket completes them).

    `joined`: for users who were just put in the chat, whose read markers all stand at the
    chat's last message (`chat_members_add`; none at creation): `unread_count` 0 and
    `last_read_message_id` the last message's id are then true for every receiver. Otherwise
    those two keys are left out: they differ by member, and one payload goes to all.
    """
    chat = selectors.chat_for_event(chat_id=chat_id)
    if not joined:
        return _plain(ChatEventOutput(chat).data)
    chat.unread_count, chat.last_read_message_id = 0, chat.last_message_id
    return _plain(ChatListOutput(chat).data)


def _plain(data) -> dict:
    """DRF's ReturnDict/OrderedDicts as plain JSON types, for the channel layer's msgpack."""
    return json.loads(json.dumps(data, cls=JSONEncoder))


def _owner_check(*, chat: Chat, actor: User) -> None:
    """What only the owner of a group chat may do (update, add members): a direct chat has no
    owner and stays a two-person chat (DomainError, 400); anyone else is Forbidden."""
    if chat.direct_key is not None:
        raise DomainError(DIRECT_CHAT)
    if chat.owner_id != actor.pk:
        raise Forbidden(ONLY_THE_OWNER)


def chat_update(*, chat: Chat, actor: User, title: str | None = None, avatar: ContentFile | None = None) -> Chat:
    """Change a group chat's title and/or avatar (an already validated, square re-encoded
    image); every member's user sockets get `chat.updated` after commit, and a replaced
    avatar's file is deleted once the change has committed.

    Precondition: `actor` is a member. DomainError (400) for a direct chat or nothing to change,
    Forbidden unless `actor` owns the chat.
    """
    _owner_check(chat=chat, actor=actor)
    if title is None and avatar is None:
        raise DomainError(NOTHING_TO_CHANGE)
    stored = None
    if avatar is not None:
        try:
            stored = default_storage.save(chat_avatar_path(None, avatar.name), avatar)
        except Exception as error:
            logger.exception("storing a chat avatar failed")
            raise ServiceUnavailable(STORAGE_FAILED) from error
    try:
        with transaction.atomic():
            locked = Chat.objects.select_for_update().filter(pk=chat.pk).first()
            if locked is None:
                raise NotFound(selectors.CHAT_NOT_FOUND)  # its last members left meanwhile
            _owner_check(chat=locked, actor=actor)  # again under the lock: the owner may have left
            changed = []
            if title is not None:
                locked.title = title
                changed.append("title")
            if stored is not None:
                if locked.avatar:
                    stored_files_release([locked.avatar.name])
                locked.avatar = stored
                changed.append("avatar")
            locked.save(update_fields=changed)
            member_ids = list(ChatMember.objects.filter(chat_id=chat.pk).values_list("user_id", flat=True))
            events.chat_updated(chat=chat_payload(chat_id=chat.pk), member_ids=member_ids)
    except BaseException:
        if stored is not None:
            stored_files_delete_later([stored])
        raise
    return locked


def chat_members_add(*, chat: Chat, actor: User, user_ids: Sequence[UUID]) -> list[UUID]:
    """Put the users `user_ids` in the group chat `chat`; return the ids of those who were not
    members yet (those who were are ignored).

    Precondition: `actor` is a member. DomainError (400) for a direct chat, Forbidden unless
    `actor` owns it; who may be put in a chat with `actor` is `chat_admission_check`'s to say
    (ValidationError on `users` for unknown or inactive ids); more than MAX_MEMBERS members in
    all is a ValidationError on `users`. The chat's row is locked, so concurrent additions
    count against one limit, and a new member's read marker starts at the chat's last message
    (no message can be stored meanwhile: sending locks the same row). After commit the new
    members' user sockets get `chat.created`, the others' `chat.updated`.
    """
    _owner_check(chat=chat, actor=actor)
    users = chat_users_found(inviter=actor, user_ids=user_ids)
    chat_admission_check(inviter=actor, user_ids=[user.pk for user in users], chat=chat)
    with transaction.atomic():
        locked = Chat.objects.select_for_update().filter(pk=chat.pk).first()
        if locked is None:
            raise NotFound(selectors.CHAT_NOT_FOUND)  # its last members left meanwhile
        _owner_check(chat=locked, actor=actor)  # again under the lock: the owner may have left
        member_ids = list(ChatMember.objects.filter(chat_id=chat.pk).order_by("id").values_list("user_id", flat=True))
        present = set(member_ids)
        joining = [user for user in users if user.pk not in present]
        if not joining:
            return []
        if len(member_ids) + len(joining) > MAX_MEMBERS:
            raise ValidationError({"users": [TOO_MANY_MEMBERS]})
        last_id = Message.objects.filter(chat_id=chat.pk).order_by("-id").values_list("id", flat=True).first()
        ChatMember.objects.bulk_create(
            [ChatMember(chat_id=chat.pk, user=user, last_read_message_id=last_id) for user in joining]
        )
        joined_ids = [user.pk for user in joining]
        signals.chat_members_added.send(sender=Chat, chat_id=chat.pk, actor_id=actor.pk, user_ids=joined_ids)
        events.chat_created(chat=chat_payload(chat_id=chat.pk, joined=True), user_ids=joined_ids)
        events.chat_updated(chat=chat_payload(chat_id=chat.pk), member_ids=member_ids)
    return joined_ids


def chat_member_remove_check(*, chat: Chat, actor: User, user: User) -> None:
    """Who may take `user` out of `chat`: themselves (leaving) or the chat's owner
    (Forbidden otherwise). Precondition: `actor` and `user` are members."""
    if actor.pk != user.pk and chat.owner_id != actor.pk:
        raise Forbidden(MAY_NOT_REMOVE)


def chat_member_remove(*, chat: Chat, user: User) -> None:
    """Take `user` out of `chat` (they left, or were removed); a no-op when they are not a member.

    The chat's row is locked first, so two members leaving at once (the owner among them) are
    ordered: ownership passes to the longest-standing remaining member (the earliest
    membership), and the last member leaving deletes the chat with its stored files
    (`chat_delete`). A direct chat stops being the pair's direct chat: creating one again makes
    a fresh chat for the two. After commit the user's chat sockets of this chat close with
    4403, their user sockets get `chat.removed`, and the remaining members' `chat.updated`.
    Precondition: whoever asked may do it (`chat_member_remove_check`).
    """
    with transaction.atomic():
        locked = Chat.objects.select_for_update().filter(pk=chat.pk).first()
        if locked is None:
            return  # deleted meanwhile (its last members left together)
        if not ChatMember.objects.filter(chat_id=locked.pk, user_id=user.pk).delete()[0]:
            return
        events.chat_removed(chat_id=locked.pk, user_id=user.pk)
        remaining = list(ChatMember.objects.filter(chat_id=locked.pk).order_by("id").values_list("user_id", flat=True))
        if not remaining:
            chat_delete(chat=locked)
            return
        changed = []
        if locked.direct_key is not None:
            locked.direct_key = None
            changed.append("direct_key")
        if locked.owner_id == user.pk:
            locked.owner_id = remaining[0]
            changed.append("owner")
        if changed:
            locked.save(update_fields=changed)
        events.chat_updated(chat=chat_payload(chat_id=locked.pk), member_ids=remaining)


def chat_delete(*, chat: Chat) -> None:
    """Delete a chat with its messages; once that has committed, its stored files (the avatar,
    every message's images) are deleted in the background. Every member still in it gets
    `chat.removed` (and their chat sockets close with 4403)."""
    with transaction.atomic():
        names = [chat.avatar.name] if chat.avatar else []
        with_images = Message.objects.filter(chat_id=chat.pk).exclude(images=[]).values_list("images", flat=True)
        names += [name for images in with_images.iterator(chunk_size=1000) for name in images]
        for user_id in ChatMember.objects.filter(chat_id=chat.pk).values_list("user_id", flat=True):
            events.chat_removed(chat_id=chat.pk, user_id=user_id)
        chat.delete()
        stored_files_release(names)


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
    chats' counters, which the cascade alone would leave behind, and delete their messages'
    stored images once the deletion has committed."""
    with_images = Message.objects.filter(user_id=user_id).exclude(images=[]).values_list("images", flat=True)
    stored_files_release([name for images in with_images.iterator(chunk_size=1000) for name in images])
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
       messages; a chat left with no member is deleted, with the files of its avatar and photos.
    """
    # Locked first: a concurrent message_delete of one of them then deletes nothing and moves
    # no counter (or has finished, and the row is not returned): counted once either way.
    messages = Message.objects.filter(user_id=user_id).order_by("pk").select_for_update()
    batch = list(messages.values_list("pk", "chat_id", "images")[:limit])
    if batch:
        Message.objects.filter(pk__in=[pk for pk, _, _ in batch]).delete()
        stored_files_release([name for _, _, images in batch for name in images])
        per_chat: dict[UUID, int] = {}
        for _, chat_id, _ in batch:
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
        # Their own messages went in step 1; the others' photos go with the chat.
        names = [name for name in left.values_list("avatar", flat=True) if name]
        with_images = Message.objects.filter(chat__in=left).exclude(images=[]).values_list("images", flat=True)
        names += [name for images in with_images for name in images]
        left.delete()
        stored_files_release(names)
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
def message_flood_take(*, user_id) -> bool:
    """One token of the user's message flood bucket (`CHAT_MESSAGE_RATE` a second, `CHAT_MESSAGE_BURST`
    deep): False when it is empty. One bucket per user, whichever way their messages arrive (REST,
    chat sockets, the user socket) and on whichever process, so a message counts once."""
    return limits.bucket_take(
        f"chat-flood:{user_id}", rate=settings.CHAT_MESSAGE_RATE, burst=settings.CHAT_MESSAGE_BURST
    )


def message_text_clean(text: str, *, allow_empty: bool = False) -> str:
    """The text of a message as stored: 1–MAX_MESSAGE_LENGTH characters, not only whitespace;
    with `allow_empty` (a message with images) also "" (whitespace alone becomes "")."""
    if allow_empty and not text.strip():
        return ""
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
    images: Sequence = (),
) -> Message:
    """Store a message of `author` in `chat` (as `message_send_once`); the message alone."""
    return message_send_once(
        chat=chat, author=author, text=text, origin=origin, client_ref=client_ref, reply_to=reply_to, images=images
    )[0]


def message_send_once(
    *,
    chat: Chat,
    author: User,
    text: str,
    origin: str | None = None,
    client_ref: str | None = None,
    reply_to: int | None = None,
    images: Sequence = (),
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

    `images`: 0–MAX_MESSAGE_IMAGES uploads, checked and re-encoded as post images are
    (`social.images.images_clean`: EXIF dropped, size, frame and pixel limits; ValidationError
    on `images` naming the file) and stored before the transaction; then the text may be empty.
    Files of a send that does not commit are deleted again.
    """
    if len(images) > MAX_MESSAGE_IMAGES:
        raise ValidationError({"images": [TOO_MANY_IMAGES]})
    text = message_text_clean(text, allow_empty=bool(images))
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
    stored = _message_images_store(images) if images else []
    try:
        message = Message(chat=chat, user=author, text=text, client_ref=client_ref, reply_to=quoted, images=stored)
        with transaction.atomic():
            # The counters' UPDATE takes the chat's row lock, before the message takes its id
            # (no SELECT … FOR UPDATE of its own: one round trip less per message).
            chat_counters_move(chat_ids=[chat.pk], delta=1, at=message.created_at)
            message.save(force_insert=True)
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
        stored_files_delete_later(stored)
        if not client_ref:
            raise
        # The same resend raced this one past the lookup: the unique constraint decided.
        return _message_repeated(chat=chat, author=author, client_ref=client_ref), False
    except BaseException:
        stored_files_delete_later(stored)
        raise
    metrics.MESSAGES_STORED.inc()
    return message, True


def message_send_as_member(
    *,
    chat_id,
    author: User,
    text: str,
    origin: str | None = None,
    client_ref: str | None = None,
    reply_to: int | None = None,
) -> dict:
    """`message_send_once` for a sender whose membership is checked here, as the sockets check
    it on every message (`chats.selectors.chat_for_member`'s NotFound and Forbidden first,
    then `message_send_once`'s errors); the message object as events carry it
    (`message_payload`), the stored one or, for a resent `client_ref`, the earlier one.

    On PostgreSQL a valid text without a quote, from a member, stores in one prepared statement
    (`_MESSAGE_STORE_SQL`) and the members are read in a second one; every other case (an
    error to say, a resend, a reply, SQLite) goes through `message_send_once`."""
    chat_uuid = selectors.uuid_or_none(chat_id)
    if connection.vendor == "postgresql" and reply_to is None and chat_uuid is not None and _text_valid(text):
        sent = _message_store_written_out(chat_id=chat_uuid, author=author, text=text, origin=origin, ref=client_ref)
        if sent is not None:
            return sent
    chat = selectors.chat_for_member(chat_id, author)
    message, _ = message_send_once(
        chat=chat, author=author, text=text, origin=origin, client_ref=client_ref, reply_to=reply_to
    )
    return message_payload(message)


def _text_valid(text: str) -> bool:
    try:
        message_text_clean(text)
    except ValidationError:
        return False
    return True


# message_send_once's transaction for a text message, written out and prepared (issue #26):
# through the ORM the sockets' send was seven statements (the membership check, BEGIN, the
# counters' UPDATE, the INSERT, the read marker's UPDATE, the members, COMMIT), and compiling
# them was most of the sending daphne's CPU per message. The counters' UPDATE takes the chat's
# row lock before the INSERT draws the message's id (the input of `stored` is `moved`'s row),
# so within one chat a greater id never commits before a smaller one. The counters move as
# `chat_counters_move` moves them and the sender's read marker as `read_marker_move` does;
# tests hold the two paths equal. No row is stored, and the caller falls back to
# message_send_once to say why, unless the sender is a member, no block separates the pair of
# a direct chat (safety's rule, both directions, the pair read from `direct_key` as
# message_send_once reads it) and `client_ref` is new in the chat for the sender.
_BLOCK_TABLE = Block._meta.db_table
_MESSAGE_STORE_SQL = f"""
WITH moved AS (
    UPDATE chats_chat AS c
    SET messages_count = GREATEST(c.messages_count + 1, 0),
        last_message_at = GREATEST(COALESCE(c.last_message_at, %(at)s), %(at)s)
    WHERE c.id = %(chat)s
      AND EXISTS (SELECT 1 FROM chats_chatmember m WHERE m.chat_id = %(chat)s AND m.user_id = %(author)s)
      AND (c.direct_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM {_BLOCK_TABLE} b
          WHERE (b.blocker_id = %(author)s AND b.blocked_id = ANY (string_to_array(c.direct_key, ':')::uuid[]))
             OR (b.blocked_id = %(author)s AND b.blocker_id = ANY (string_to_array(c.direct_key, ':')::uuid[]))))
      AND (%(ref)s = '' OR NOT EXISTS (
          SELECT 1 FROM chats_message r
          WHERE r.chat_id = %(chat)s AND r.user_id = %(author)s AND r.client_ref = %(ref)s AND r.client_ref <> ''))
    RETURNING c.id
), stored AS (
    INSERT INTO chats_message (chat_id, user_id, text, created_at, edited_at, reply_to_id, client_ref, images)
    SELECT moved.id, %(author)s, %(text)s, %(at)s, NULL, NULL, %(ref)s, '[]'::jsonb FROM moved
    RETURNING id
), marked AS (
    UPDATE chats_chatmember m SET last_read_message_id = stored.id FROM stored
    WHERE m.chat_id = %(chat)s AND m.user_id = %(author)s
      AND (m.last_read_message_id IS NULL OR m.last_read_message_id < stored.id)
)
SELECT id FROM stored
"""
# As text: psycopg would build a UUID of each member's id, which the event writes as text again.
_MEMBER_IDS_SQL = "SELECT user_id::text FROM chats_chatmember WHERE chat_id = %s"


def _message_store_written_out(*, chat_id: UUID, author: User, text: str, origin, ref) -> dict | None:
    """The message stored by `_MESSAGE_STORE_SQL` and sent after commit (as message_send_once
    sends it); None when it stored nothing. Outside a transaction the statement commits by
    itself (no BEGIN and COMMIT round trips) and the members are read after that commit,
    which serves them as well as a read under the chat's lock: whoever joins later has read
    up to this message already (`chat_members_add`), whoever left later had it."""
    ref = ref or ""
    at = timezone.now()
    params = {"chat": chat_id, "author": author.pk, "text": text, "at": at, "ref": ref}
    # Inside a caller's transaction, a savepoint: a failed statement must not break it.
    within = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with within, prepared_cursor(connection) as cursor:
            cursor.execute(_MESSAGE_STORE_SQL, params)
            row = cursor.fetchone()
            if row is None:
                return None
            cursor.execute(_MEMBER_IDS_SQL, [chat_id])
            member_ids = [member_id for (member_id,) in cursor.fetchall()]
            message = _message_sent_object(message_id=row[0], chat_id=chat_id, author=author, text=text, at=at)
            events.chat_message_stored(
                chat_id=chat_id, message=message, member_ids=member_ids, client_ref=ref or None, origin=origin
            )
    except IntegrityError:
        if not ref:
            raise
        return None  # the same resend raced this one: message_send_once answers the earlier one
    metrics.MESSAGES_STORED.inc()
    return message


def _message_sent_object(*, message_id: int, chat_id: UUID, author: User, text: str, at) -> dict:
    """`message_payload` of a text message just stored (no quote, no images, not edited),
    built from what was written: MessageOutput's walk over its fields cost more than the
    statement that stored it. tests hold the two equal."""
    return {
        "id": message_id,
        "message": text,
        "created_at": datetime_json(at),
        "user": embedded_users([author])[0],
        "chat_id": str(chat_id),
        "edited_at": None,
        "reply_to": None,
        "images": [],
    }


def _message_images_store(images: Sequence) -> list[str]:
    """Check, re-encode and store a message's images; their storage names, in order. A bad
    file stores nothing (ValidationError on `images`); a storage failure deletes what was
    stored and is a 503."""
    try:
        cleaned = images_clean(images)
    except ValidationError as error:
        raise ValidationError({"images": error.messages}) from error
    saved: list[str] = []
    try:
        for clean in cleaned:
            saved.append(default_storage.save(message_image_path(None, f"image.{clean.extension}"), clean.content))
    except Exception as error:
        stored_files_delete_later(saved)
        logger.exception("storing message images failed")
        raise ServiceUnavailable(STORAGE_FAILED) from error
    return saved


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
    """Delete a message; the chat's sockets get `message.deleted` (both kinds), and its stored
    images are deleted once that has committed. Read markers stay where they are.
    Precondition: the caller may delete it (`message_delete_check`)."""
    with transaction.atomic():
        message_id, chat_id = message.pk, message.chat_id
        if message.delete()[0]:
            chat_counters_move(chat_ids=[chat_id], delta=-1)
            stored_files_release(message.images)
        member_ids = list(ChatMember.objects.filter(chat_id=chat_id).values_list("user_id", flat=True))
        events.chat_message_deleted(chat_id=chat_id, message_id=message_id, member_ids=member_ids)
