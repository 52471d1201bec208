"""Every real-time event, described once: its name, its payload and the sockets it goes to.

Services call the functions below inside their transaction; each event is sent through the
channel layer only after that transaction commits (`transaction.on_commit`), so no client
ever sees a write that was rolled back. The consumer only forwards them: an event's `type`
names its handler (`chat.message` → `ChatConsumer.chat_message`). A new event is one function
here and one handler there.

Groups are named here too, so the services that send and the consumer that joins cannot
disagree on a name.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from social import metrics
from social.outages import is_outage, log_outage


# --- Groups -------------------------------------------------------------------------------------
def session_group(session_id: str) -> str:
    """Every socket opened with a token of this session."""
    return f"session.{session_id}"


def user_group(user_id) -> str:
    """Every socket of this user, whatever the session."""
    return f"user.{user_id}"


def chat_group(chat_id) -> str:
    """Every open socket of this chat (all members, all processes)."""
    return f"chat.{chat_id}"


def chat_member_group(chat_id, user_id) -> str:
    """Every open socket of one member in one chat: what removal from the chat closes."""
    return f"chat.{chat_id}.user.{user_id}"


# --- The one sender -----------------------------------------------------------------------------
def send_on_commit(group: str, event: dict) -> None:
    """Send `event` to `group` once the current transaction commits (at once outside one).

    A channel layer outage is logged, never raised: the write is committed, and turning it into
    an error would tell a sender "not stored" (who would store it twice). Sockets catch up over
    REST."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            with metrics.channel_send():  # times the send, counts a failure
                async_to_sync(layer.group_send)(group, event)
        except Exception as error:
            if not is_outage(error):
                raise
            log_outage(error, f"group_send to {group}")

    transaction.on_commit(send)


# --- The events ---------------------------------------------------------------------------------
def session_ended(*, session_id: str) -> None:
    """A session ended (logout): its sockets close with 4401."""
    send_on_commit(session_group(session_id), {"type": "session.ended"})


def user_sessions_ended(*, user_id, kept_session_id: str = "") -> None:
    """Every session of a user ended (deactivation, deletion, new password): every socket of
    theirs closes with 4401, but those of `kept_session_id` (a password change's own session)."""
    send_on_commit(user_group(user_id), {"type": "session.ended", "kept_session_id": kept_session_id})


def chat_message_stored(*, chat_id, message: dict, origin: str | None = None) -> None:
    """A message was stored: every socket of the chat gets the message object (`message`, as
    `chats.serializers.MessageOutput` gives it), except the sending socket (`origin`, its
    channel name), which answered its sender directly."""
    send_on_commit(chat_group(chat_id), {"type": "chat.message", "message": message, "origin": origin})


def chat_message_deleted(*, chat_id, message_id: int) -> None:
    """A message was deleted: every socket of the chat gets `{"type": "message.deleted"}`."""
    send_on_commit(chat_group(chat_id), {"type": "message.deleted", "message_id": message_id})


def chat_member_removed(*, chat_id, user_id) -> None:
    """A member was removed from a chat: their sockets of that chat close with 4403."""
    send_on_commit(chat_member_group(chat_id, user_id), {"type": "chat.member_removed"})


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
