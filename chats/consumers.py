"""WebSocket transport of a chat: `/api/chats/ws/<chat_id>/<client_id>` (docs/websocket.md).

Transport only. `chats.middleware.TokenAuthMiddleware` has authenticated the handshake; this
consumer checks `client_id` and membership, joins the channel-layer groups, turns frames into
calls of `chats.services.message_send` (the service REST would use) and channel-layer events
into frames. Domain and validation errors become `{"detail"}` frames with the services' texts.
"""

import json
import logging
import time
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.selectors import session_is_ended
from accounts.services import session_group, user_group
from chats import selectors, services
from social import logs, metrics
from social.exceptions import DomainError, Forbidden

MAX_FRAME_BYTES = 64 * 1024

CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_MESSAGE_TOO_BIG_FALLBACK = 4009
CLOSE_SESSION_ENDED = 4401
CLOSE_NOT_A_MEMBER = 4403

NOT_JSON = 'Кадр должен быть JSON-объектом вида {"message": "текст"}.'
NO_MESSAGE = "Поле «message» обязательно и должно быть строкой."
TOO_FAST = "Слишком много сообщений. Подождите немного."

logger = logging.getLogger("social.socket")


class TokenBucket:
    """Flood control of one socket: `rate` tokens per second refill a bucket `burst` deep."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return error.messages[0]
    return error.message


def _admit(chat_id, user, session_id):
    """The chat if the socket may open: a member, and the session not ended meanwhile."""
    if session_is_ended(session_id):
        raise Forbidden()
    return selectors.chat_for_member(chat_id, user)


def _send(chat_id, user, text):
    # Membership is checked again on every message: a removal whose close event was lost (a
    # full channel, say) must still not let the socket write to the chat.
    chat = selectors.chat_for_member(chat_id, user)
    return services.message_send(chat=chat, author=user, text=text)


class ChatConsumer(AsyncWebsocketConsumer):
    counted = False  # in the open-sockets gauge (accepted, not yet closed)

    async def connect(self):
        # The handshake's request id (the proxy's, or the client's when well formed): every
        # line logged for this socket carries it, the services' lines included (the context
        # variable lives as long as this consumer's task).
        self.request_id = logs.request_id_from_scope(self.scope)
        logs.request_id_set(self.request_id)
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        chat_id = _uuid(kwargs["chat_id"])
        if user is None or not user.is_authenticated or chat_id is None or _uuid(kwargs["client_id"]) != user.pk:
            await self.close()
            return
        self.user = user
        # Canonical form, so the group names match those the services send to.
        self.chat_id = chat_id
        # Join before the membership check: a removal or logout committed between the check and
        # the accept still reaches this socket and closes it.
        self.groups = [
            services.chat_group(chat_id),
            services.chat_member_group(chat_id, user.pk),
            user_group(user.pk),
        ]
        if self.scope.get("session_id"):
            self.groups.append(session_group(self.scope["session_id"]))
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        try:
            await database_sync_to_async(_admit)(self.chat_id, user, self.scope.get("session_id"))
        except DomainError:
            await self._leave_groups()
            await self.close()
            return
        self.bucket = TokenBucket(settings.CHAT_MESSAGE_RATE, settings.CHAT_MESSAGE_BURST)
        await self.accept()
        self.counted = True
        metrics.WEBSOCKETS_OPEN.labels("chat").inc()
        self._log("socket connect", event="connect")

    async def disconnect(self, code):
        if self.counted:
            self.counted = False
            metrics.WEBSOCKETS_OPEN.labels("chat").dec()
            self._log("socket close", event="close", code=code)

    async def send(self, text_data=None, bytes_data=None, close=False):
        if text_data is not None or bytes_data is not None:
            metrics.WEBSOCKET_FRAMES.labels("out").inc()
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    def _log(self, message: str, **fields):
        user = getattr(self, "user", None)
        logger.info(
            "%s chat=%s user=%s request_id=%s %s",
            message,
            self.chat_id,
            user.pk if user is not None else "-",
            self.request_id,
            " ".join(f"{key}={value}" for key, value in fields.items()),
            extra={
                "request_id": self.request_id,
                "user_id": str(user.pk) if user else "-",
                "chat_id": str(self.chat_id),
                **fields,
            },
        )

    async def _leave_groups(self):
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups = []

    async def receive(self, text_data=None, bytes_data=None):
        metrics.WEBSOCKET_FRAMES.labels("in").inc()
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await self._close_too_big()
            return
        # Every frame costs a token, well-formed or not: a flood of garbage is a flood too.
        if not self.bucket.take():
            metrics.RATE_LIMIT_REFUSALS.labels("chat_message").inc()
            await self._detail(TOO_FAST)
            return
        try:
            content = json.loads(text_data if text_data is not None else bytes_data)
        except (ValueError, UnicodeDecodeError):
            await self._detail(NOT_JSON)
            return
        if not isinstance(content, dict):
            await self._detail(NOT_JSON)
            return
        text = content.get("message")
        if not isinstance(text, str):
            await self._detail(NO_MESSAGE)
            return
        try:
            await database_sync_to_async(_send)(self.chat_id, self.user, text)
        except Forbidden:
            await self.close(code=CLOSE_NOT_A_MEMBER)
        except (ValidationError, DomainError) as error:
            await self._detail(_error_text(error))

    async def _close_too_big(self):
        try:
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
        except Exception:
            # autobahn refuses 1009 from an application unless chats.daphne_close is in effect
            # (a daphne whose protocol class changed): still close, never a 1011 traceback.
            await self.close(code=CLOSE_MESSAGE_TOO_BIG_FALLBACK)

    async def _detail(self, text: str):
        # The server's record of an error frame, under the socket's request id.
        self._log("socket error frame", event="error", detail=text)
        await self.send(text_data=json.dumps({"detail": text}, ensure_ascii=False))

    # --- channel-layer events -----------------------------------------------------------------
    async def chat_message(self, event):
        message = event["message"]
        avatar = message["user"].get("avatar")
        if avatar and avatar.startswith("/"):
            # Local media URLs are relative in the event (it has no request); make them absolute
            # against the host this socket was opened on.
            message = {**message, "user": {**message["user"], "avatar": self._absolute(avatar)}}
        await self.send(text_data=json.dumps(message, ensure_ascii=False))

    async def message_deleted(self, event):
        await self.send(text_data=json.dumps({"type": "message.deleted", "message_id": event["message_id"]}))

    async def chat_member_removed(self, event):
        await self.close(code=CLOSE_NOT_A_MEMBER)

    async def session_ended(self, event):
        await self.close(code=CLOSE_SESSION_ENDED)

    def _absolute(self, path: str) -> str:
        headers = dict(self.scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        return f"{scheme}://{host}{path}" if host else path


def _uuid(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None


class RefuseConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: refused at the handshake instead of an application error."""

    async def connect(self):
        await self.close()
