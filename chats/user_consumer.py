"""WebSocket transport of a user: `/api/ws`, one socket for everything (EXTENSIONS §1,
docs/websocket.md "The user socket").

Transport only, like `chats.consumers.ChatConsumer`: `chats.middleware.TokenAuthMiddleware` has
authenticated the handshake (Bearer, `?token=`, or the cookie from an allowed Origin); this
consumer joins its process's fan-out routes (`social.fanout`) for its user and the user's groups
(named in `social.events`), turns client frames into calls of the same services REST uses, and
forwards events.

Chat frames (`message.new`, edits, deletions, reads, typing: whatever `social.events` sends with
`user_frames_send_on_commit`) arrive through the process's fan-out (`social.fanout`), already
encoded, and go out as they are. Group events are forwarded by one generic rule, not a handler per
event: an event that reaches this socket through its groups and has no handler here is sent to
the client as it is, its `type` being the frame's (`notification`, or whatever a later feature
sends to `user_group`). The handlers are `session.ended`, which closes instead of forwarding (but for the session
a password change keeps), and `notification`, forwarded as it is and counted.

A dependency outage closes the socket 4503, as the chat socket does (`OutageClosingMixin`).
"""

import json

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError

from accounts.selectors import session_is_ended
from chats import selectors, services
from chats.consumers import (
    CLOSE_SESSION_ENDED,
    CLOSE_TOO_MANY_SOCKETS,
    MAX_FRAME_BYTES,
    NOT_STORED,
    TOO_FAST,
    TOO_MANY_SOCKETS,
    ChatConsumer,
    FanOutMixin,
    OutageClosingMixin,
    SocketSlotMixin,
    _error_text,
    _in_thread,
    handle,
)
from social import fanout, limits, metrics
from social.events import session_group, user_group
from social.exceptions import DomainError
from social.outages import is_outage, log_outage

MAX_REF_LENGTH = 64

NOT_A_FRAME = 'Кадр должен быть JSON-объектом с полем «type», например {"type": "ping"}.'
UNKNOWN_TYPE = "Неизвестный тип кадра: {type}."
BAD_REF = f"Поле «ref» должно быть строкой не длиннее {MAX_REF_LENGTH} символов."
BAD_CLIENT_REF = f"Поле «client_ref» должно быть строкой не длиннее {MAX_REF_LENGTH} символов."
NO_CHAT_ID = "Поле «chat_id» обязательно и должно быть строкой."
NO_MESSAGE = "Поле «message» обязательно и должно быть строкой."
BAD_REPLY_TO = "Поле «reply_to» должно быть идентификатором сообщения этого чата."
NO_MESSAGE_ID = "Поле «message_id» обязательно и должно быть положительным целым числом."
TOO_MANY_READS = "Слишком много отметок о прочтении. Подождите немного."
READS_PER_SECOND = 5
TYPING_EVERY_S = 2
MAX_MESSAGE_ID = 2**63 - 1


def _send(user, chat_id: str, text: str, client_ref: str | None, reply_to: int | None) -> bool:
    """Store the message; False when the user's flood bucket is empty (nothing stored). The
    token is taken in this hop to the database thread, not in a hop of its own (as the chat
    socket's `chats.consumers._send`)."""
    if not services.message_flood_take(user_id=user.pk):
        return False
    # Membership is checked on every frame: the socket outlives any one chat.
    services.message_send_as_member(chat_id=chat_id, author=user, text=text, client_ref=client_ref, reply_to=reply_to)
    return True


def _read_mark(user, chat_id: str, message_id: int):
    chat = selectors.chat_for_member(chat_id, user)
    services.chat_read(chat=chat, reader=user, message_id=message_id)


def _typing(user, chat_id: str):
    chat = selectors.chat_for_member(chat_id, user)
    services.chat_typing(chat=chat, typer=user)


def _typing_take(user_id, chat_id: str) -> bool:
    """At most one `typing` per user per chat every TYPING_EVERY_S seconds is forwarded."""
    return limits.bucket_take(f"chat-typing:{user_id}:{chat_id}", rate=1 / TYPING_EVERY_S, burst=1)


def _read_take(user_id) -> bool:
    """One of the user's READS_PER_SECOND `read` frames per second, across their sockets."""
    return limits.bucket_take(f"chat-read:{user_id}", rate=READS_PER_SECOND, burst=READS_PER_SECOND)


class UserConsumer(OutageClosingMixin, SocketSlotMixin, FanOutMixin, AsyncJsonWebsocketConsumer):
    encode_json = ChatConsumer.encode_json
    socket_kind = "a user socket"
    gauge_kind = "user"

    async def connect(self):
        if self.scope.get("outage"):
            await self._close_try_again_later()
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.user = user
        # Every route is in place before `ready`, the same whatever the number of chats: the
        # process's fan-out routes this user's chat frames here (social.fanout: nothing in Redis
        # per socket), and two groups carry what ends the session and the user's other events
        # (notifications).
        groups = [user_group(user.pk)]
        if self.scope.get("session_id"):
            groups.append(session_group(self.scope["session_id"]))
        try:
            await self.fanout_join(user_id=user.pk, groups=groups)
            # Checked after joining: a logout committed in between still reaches this socket.
            ended = await database_sync_to_async(session_is_ended)(self.scope.get("session_id"))
        except Exception as error:
            if not is_outage(error):
                raise
            # Close at once, within daphne's handshake timeout; websocket_disconnect leaves the
            # routes joined.
            log_outage(error, "a user socket handshake")
            await self._close_try_again_later()
            return
        if ended:
            self.fanout_leave()
            await self.close()
            return
        await self.accept()
        self._count_open()
        if not await self._slot_take():
            await self._error(TOO_MANY_SOCKETS)
            self.fanout_leave()
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        await self.send_json({"type": "ready", "user_id": str(user.pk)})
        await self.fanout_flush()  # what arrived since the join, after `ready`

    async def disconnect(self, code):
        await self._open_release()

    async def send_json(self, content, close=False):
        metrics.WEBSOCKET_FRAMES.labels("out").inc()
        await super().send_json(content, close=close)

    # --- client frames ------------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        metrics.WEBSOCKET_FRAMES.labels("in").inc()
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await ChatConsumer._close_too_big(self)
            return
        try:
            content = json.loads(text_data if text_data is not None else bytes_data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            content = None
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error(NOT_A_FRAME)
            return
        ref = content.get("ref")
        if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH):
            await self._error(BAD_REF)
            return
        handler = self.FRAMES.get(content["type"])
        if handler is None:
            await self._error(UNKNOWN_TYPE.format(type=content["type"][:64]), ref)
            return
        try:
            await handler(self, content)
        except (ValidationError, DomainError) as error:
            await self._error(_error_text(error), ref)

    async def _ping(self, content):
        await self.send_json({"type": "pong"})

    async def _message_send(self, content):
        chat_id, text, client_ref = content.get("chat_id"), content.get("message"), content.get("client_ref")
        if not isinstance(chat_id, str):
            raise DomainError(NO_CHAT_ID)
        if not isinstance(text, str):
            raise DomainError(NO_MESSAGE)
        if client_ref is not None and (not isinstance(client_ref, str) or len(client_ref) > MAX_REF_LENGTH):
            raise DomainError(BAD_CLIENT_REF)
        reply_to = content.get("reply_to")
        if reply_to is not None and (type(reply_to) is not int or not 1 <= reply_to <= MAX_MESSAGE_ID):
            raise DomainError(BAD_REPLY_TO)
        # Only sends cost a token of the user's bucket (shared with their chat sockets).
        try:
            stored = await database_sync_to_async(_send)(self.user, chat_id, text, client_ref, reply_to)
        except Exception as error:
            if not is_outage(error):
                raise
            # Not stored: the client may resend (with the same client_ref) once it is back.
            log_outage(error, "a user socket message send")
            await self._error(NOT_STORED, content.get("ref"))
            return
        if not stored:
            raise DomainError(TOO_FAST)

    async def _read(self, content):
        chat_id, message_id = content.get("chat_id"), content.get("message_id")
        if not isinstance(chat_id, str):
            raise DomainError(NO_CHAT_ID)
        if type(message_id) is not int or not 1 <= message_id <= MAX_MESSAGE_ID:
            raise DomainError(NO_MESSAGE_ID)
        if not await _in_thread(_read_take)(self.user.pk):
            raise DomainError(TOO_MANY_READS)
        await database_sync_to_async(_read_mark)(self.user, chat_id, message_id)

    async def _typing(self, content):
        chat_id = content.get("chat_id")
        if not isinstance(chat_id, str):
            raise DomainError(NO_CHAT_ID)
        chat_uuid = selectors.uuid_or_none(chat_id)
        if chat_uuid is None:
            raise DomainError(selectors.CHAT_NOT_FOUND)
        # Over the rate the frame is dropped quietly: a client sends typing on every keystroke.
        if await _in_thread(_typing_take)(self.user.pk, str(chat_uuid)):
            await database_sync_to_async(_typing)(self.user, chat_id)

    FRAMES = {"ping": _ping, "message.send": _message_send, "read": _read, "typing": _typing}

    async def _error(self, detail: str, ref: str | None = None):
        frame = {"type": "error", "detail": detail}
        if ref is not None:
            frame["ref"] = ref
        await self.send_json(frame)

    # --- group events (social.fanout) ---------------------------------------------------------
    async def dispatch(self, message):
        # The generic forwarding rule (module docstring): no handler → the event is the frame.
        if not message["type"].startswith("websocket.") and getattr(self, get_handler_name(message), None) is None:
            await self.send_json(self._absolute_media(message))
            return
        await handle(self, message)

    async def session_ended(self, event):
        if event.get("kept_session_id") and event["kept_session_id"] == self.scope.get("session_id"):
            return  # the session a password change keeps
        await self.close(code=CLOSE_SESSION_ENDED)

    async def notification(self, event):
        # Forwarded as it is (the generic rule), and counted.
        notification = event.get("notification") or {}
        metrics.NOTIFICATIONS_DELIVERED.labels(notification.get("type", "")).inc()
        await self.send_json(event)

    def _absolute_media(self, frame: dict) -> dict:
        """Local media URLs are relative in events (they have no request): avatars and message
        images become absolute against the host this socket was opened on."""
        return fanout.media_absolute(frame, ChatConsumer._absolute(self, ""))
