"""Every real-time event, described once: its name, its payload and the sockets it goes to.

Services call the functions below inside their transaction; each event is sent only after that
transaction commits (`transaction.on_commit`), so no client ever sees a write that was rolled
back. Two ways out, both after commit:
- `send_on_commit(group, event)`: one channel-layer group (a session's, a user's, one member's
  sockets of one chat); the consumer forwards it (an event's `type` names its handler,
  `session.ended` → `session_ended`; the user socket forwards handler-less events as frames).
- `fan_out_on_commit` / `user_frames_send_on_commit`: a frame for many users' user sockets
  and/or a chat's chat sockets, ONE publish whatever their number, routed by each process to its
  own sockets (`social.fanout`). Chat traffic goes this way.
A new event is one function here (and, for a group event with a handler, one handler there).

Groups are named here too, so the services that send and the consumer that joins cannot
disagree on a name.
"""

import asyncio
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

from social import fanout, metrics
from social.outages import is_outage, log_outage


# --- Groups -------------------------------------------------------------------------------------
def session_group(session_id: str) -> str:
    """Every socket opened with a token of this session."""
    return f"session.{session_id}"


def user_group(user_id) -> str:
    """Every socket of this user, whatever the session."""
    return f"user.{user_id}"


def chat_member_group(chat_id, user_id) -> str:
    """Every open socket of one member in one chat: what removal from the chat closes."""
    return f"chat.{chat_id}.user.{user_id}"


# --- The one sender -----------------------------------------------------------------------------
def _deliver(where: str, send) -> None:
    """Run `send()` (the Redis sends of one event), timed.

    A channel layer outage is logged, never raised: the write is committed, and turning it into
    an error would tell a sender "not stored" (who would store it twice). Sockets catch up over
    REST."""
    try:
        with metrics.channel_send():  # times the send, counts a failure
            send()
    except Exception as error:
        if not is_outage(error):
            raise
        log_outage(error, where)


def _group_send(layer, group: str, event: dict) -> None:
    """`layer.group_send` from sync code (a request's after-commit callback).

    On Redis, through the process's sender loop: `async_to_sync` in a WSGI worker (no outer
    event loop) ran every send in a new thread with a new event loop, and channels_redis keeps
    its connections per loop, so each send also connected to Redis anew; that was most of a
    like's CPU (issue #26: a like's notification is one of these). The layer's own deadline
    (social.layer) bounds the wait. Other layers (the embedded in-memory one, whose queues
    belong to the server's loop) keep `async_to_sync`, which runs on that loop."""
    if not isinstance(layer, RedisChannelLayer):
        async_to_sync(layer.group_send)(group, event)
        return
    asyncio.run_coroutine_threadsafe(layer.group_send(group, event), _sender_loop()).result()


_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a daemon thread, for the group sends of sync code: its
    channels_redis connections stay open between sends. Made anew in a forked child (a
    preloading server), which does not inherit the thread."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="group-send", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def send_on_commit(group: str, event: dict) -> None:
    """Send `event` to `group` once the current transaction commits (at once outside one)."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        _deliver(f"group_send to {group}", lambda: _group_send(layer, group, event))

    transaction.on_commit(send)


def fan_out_on_commit(
    *,
    user_ids=(),
    user_frame: dict | None = None,
    chat_id=None,
    chat_frame: dict | None = None,
    origin: str | None = None,
) -> None:
    """Once the transaction commits, send `user_frame` to every user socket of each of
    `user_ids` and `chat_frame` to every chat socket of `chat_id` but `origin` (the sending chat
    socket's channel name), with `send_on_commit`'s timing and outage handling.

    One publish whatever the number of members, routed by each process to its own sockets
    (`social.fanout`, docs/websocket.md "Fan-out"): a message to a chat of N members is one
    store plus one fan-out, and a socket holds no subscription per chat."""
    event = {
        "user_ids": [str(user_id) for user_id in dict.fromkeys(user_ids)],
        "user_frame": user_frame,
        "chat_id": str(chat_id) if chat_id is not None else None,
        "chat_frame": chat_frame,
        "origin": origin,
    }
    if not (event["user_ids"] and user_frame is not None) and chat_frame is None:
        return
    kind = (user_frame or chat_frame).get("type", "message")

    def send() -> None:
        _deliver(f"{kind} fan-out to {len(event['user_ids'])} users", lambda: fanout.publish(event))

    transaction.on_commit(send)


def user_frames_send_on_commit(*, user_ids, frame: dict) -> None:
    """Send `frame` to every user socket of each of `user_ids` once the transaction commits
    (one fan-out, `fan_out_on_commit`)."""
    fan_out_on_commit(user_ids=user_ids, user_frame=frame)


# --- The events ---------------------------------------------------------------------------------
def session_ended(*, session_id: str) -> None:
    """A session ended (logout): its sockets close with 4401."""
    send_on_commit(session_group(session_id), {"type": "session.ended"})


def user_sessions_ended(*, user_id, kept_session_id: str = "") -> None:
    """Every session of a user ended (deactivation, deletion, new password): every socket of
    theirs closes with 4401, but those of `kept_session_id` (a password change's own session)."""
    send_on_commit(user_group(user_id), {"type": "session.ended", "kept_session_id": kept_session_id})


def chat_message_stored(
    *, chat_id, message: dict, member_ids, client_ref: str | None = None, origin: str | None = None
) -> None:
    """A message was stored: every chat socket of the chat gets the message object (`message`,
    as `chats.serializers.MessageOutput` gives it), except the sending chat socket (`origin`,
    its channel name), which answered its sender directly; every user socket of every member
    gets `{"type": "message.new", "chat_id", "message", "client_ref"}`."""
    frame = {"type": "message.new", "chat_id": str(chat_id), "message": message, "client_ref": client_ref}
    fan_out_on_commit(user_ids=member_ids, user_frame=frame, chat_id=chat_id, chat_frame=message, origin=origin)


def chat_message_repeated(*, chat_id, message: dict, author_id, client_ref: str) -> None:
    """A send repeated an earlier `client_ref`: only the sender's user sockets get the existing
    message again (as `message.new`), so a retry after a reconnect learns its id."""
    frame = {"type": "message.new", "chat_id": str(chat_id), "message": message, "client_ref": client_ref}
    user_frames_send_on_commit(user_ids=[author_id], frame=frame)


def chat_message_edited(*, chat_id, message: dict, member_ids) -> None:
    """A message was edited by its author: every member's user sockets get
    `{"type": "message.edited", "chat_id", "message"}`."""
    frame = {"type": "message.edited", "chat_id": str(chat_id), "message": message}
    user_frames_send_on_commit(user_ids=member_ids, frame=frame)


def chat_message_deleted(*, chat_id, message_id: int, member_ids) -> None:
    """A message was deleted: every chat socket of the chat gets `{"type": "message.deleted",
    "message_id"}`, every member's user sockets the same with `chat_id`."""
    frame = {"type": "message.deleted", "chat_id": str(chat_id), "message_id": message_id}
    fan_out_on_commit(
        user_ids=member_ids,
        user_frame=frame,
        chat_id=chat_id,
        chat_frame={"type": "message.deleted", "message_id": message_id},
    )


def chat_created(*, chat: dict, user_ids) -> None:
    """Users were put in a chat (created with them in it, or added): each of their user sockets
    gets `{"type": "chat.created", "chat": <chat>}` (`chat` as `chats.services.chat_payload`
    gives it, the same for every receiver)."""
    user_frames_send_on_commit(user_ids=user_ids, frame={"type": "chat.created", "chat": chat})


def chat_updated(*, chat: dict, member_ids) -> None:
    """A chat's title, avatar, owner or members changed: every member's user sockets get
    `{"type": "chat.updated", "chat": <chat>}` (without the viewer's own keys, see
    `chats.serializers.ChatEventOutput`)."""
    user_frames_send_on_commit(user_ids=member_ids, frame={"type": "chat.updated", "chat": chat})


def chat_removed(*, chat_id, user_id) -> None:
    """A user left or was removed from a chat (or the chat was deleted): their chat sockets of
    that chat close with 4403, their user sockets get `{"type": "chat.removed", "chat_id"}`."""
    send_on_commit(chat_member_group(chat_id, user_id), {"type": "chat.member_removed"})
    user_frames_send_on_commit(user_ids=[user_id], frame={"type": "chat.removed", "chat_id": str(chat_id)})


def chat_read(*, chat_id, reader_id, message_id: int, receiver_ids) -> None:
    """A member's read marker moved: `{"type": "read", "chat_id", "user_id", "message_id"}` to
    the user sockets of `receiver_ids` (the reader's own devices always; the other members only
    where receipts are shown, as `chats.services.chat_read` decides)."""
    frame = {"type": "read", "chat_id": str(chat_id), "user_id": str(reader_id), "message_id": message_id}
    user_frames_send_on_commit(user_ids=receiver_ids, frame=frame)


def presence_changed(*, user_id, online: bool, last_seen: str | None, receiver_ids) -> None:
    """A user's first socket opened or their last closed (`friends.presence` decides, and who
    may know): `{"type": "presence", "user_id", "online", "last_seen"}` to the user sockets of
    `receiver_ids` (their online friends)."""
    frame = {"type": "presence", "user_id": str(user_id), "online": online, "last_seen": last_seen}
    user_frames_send_on_commit(user_ids=receiver_ids, frame=frame)


TYPING_EXPIRES_IN_MS = 5000


def chat_typing(*, chat_id, typer_id, member_ids) -> None:
    """A member is typing: `{"type": "typing", "chat_id", "user_id", "expires_in_ms"}` to the
    other members' user sockets (never the typer's). Nothing is stored."""
    frame = {"type": "typing", "chat_id": str(chat_id), "user_id": str(typer_id), "expires_in_ms": TYPING_EXPIRES_IN_MS}
    user_frames_send_on_commit(user_ids=[user_id for user_id in member_ids if user_id != typer_id], frame=frame)


def notification_created(*, user_id, notification: dict, unread_count: int) -> None:
    """A notification was written for `user_id`: each of their user sockets gets
    `{"type": "notification", "notification": <notification>, "unread_count": n}`
    (`notification` as `notifications.serializers.notification_representation` gives it)."""
    send_on_commit(
        user_group(user_id), {"type": "notification", "notification": notification, "unread_count": unread_count}
    )


def notifications_read(*, user_id, unread_count: int) -> None:
    """Some of `user_id`'s notifications were marked read: each of their user sockets (the
    other devices) gets `{"type": "notifications.read", "unread_count": n}`."""
    send_on_commit(user_group(user_id), {"type": "notifications.read", "unread_count": unread_count})
