"""Every real-time event, described once: its name, its payload and the sockets it goes to.

Services call the functions below inside their transaction; each event is sent only after that
transaction commits (`transaction.on_commit`), so no client ever sees a write that was rolled
back. Every event is ONE publish, routed by each process to its own sockets (`social.fanout`),
in one of two shapes, both after commit:
- `send_on_commit(group, event)`: an event for every socket in a group (a session's, a user's,
  one member's sockets of one chat); the socket's handler acts on it (an event's `type` names
  it, `session.ended` → `session_ended`; the user socket forwards handler-less events as frames,
  the chat socket ignores them).
- `fan_out_on_commit` / `user_frames_send_on_commit`: a frame for many users' user sockets
  and/or a chat's chat sockets, whatever their number. Chat traffic goes this way.
A new event is one function here (and, for a group event with a handler, one handler there).

Groups are named here too, so the services that send and the consumer that joins cannot
disagree on a name.
"""

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
    """Run `send()` (the Redis publish of one event), timed.

    A Redis outage is logged, never raised: the write is committed, and turning it into
    an error would tell a sender "not stored" (who would store it twice). Sockets catch up over
    REST."""
    try:
        with metrics.channel_send():  # times the send, counts a failure
            send()
    except Exception as error:
        if not is_outage(error):
            raise
        log_outage(error, where)


def send_on_commit(group: str, event: dict) -> None:
    """Send `event` to every socket in `group` once the current transaction commits (at once
    outside one): one publish, whatever the number of the group's sockets and processes."""

    def send() -> None:
        _deliver(f"{event['type']} to {group}", lambda: fanout.publish({"group": group, "event": event}))

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
