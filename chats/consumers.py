"""WebSocket transport of a chat: `/api/chats/ws/<chat_id>/<client_id>` (docs/websocket.md).

Transport only. `chats.middleware.TokenAuthMiddleware` has authenticated the handshake; this
consumer checks `client_id` and membership, joins the channel-layer groups (named in
`social.events`), turns frames into calls of `chats.services.message_send` (the service REST
would use) and channel-layer events into frames. Domain and validation errors become
`{"detail"}` frames with the services' texts. Channels' JSON consumer encodes the frames; frames
are decoded here, since it refuses binary ones (clients may send JSON as binary) with a 1011.
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.selectors import session_is_ended
from chats import selectors, services
from social import limits
from social.events import chat_group, chat_member_group, session_group, user_group
from social.exceptions import DomainError, Forbidden

MAX_FRAME_BYTES = 64 * 1024

CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_MESSAGE_TOO_BIG_FALLBACK = 4009
CLOSE_SESSION_ENDED = 4401
CLOSE_NOT_A_MEMBER = 4403
CLOSE_TOO_MANY_SOCKETS = 4429

NOT_JSON = 'Кадр должен быть JSON-объектом вида {"message": "текст"}.'
NO_MESSAGE = "Поле «message» обязательно и должно быть строкой."
TOO_FAST = "Слишком много сообщений. Подождите немного."
TOO_MANY_SOCKETS = "Слишком много открытых соединений. Закройте лишние вкладки или устройства."


def _flood_take(user_id) -> bool:
    """One token of the user's flood bucket, shared by all their sockets on every process."""
    return limits.bucket_take(
        f"chat-flood:{user_id}", rate=settings.CHAT_MESSAGE_RATE, burst=settings.CHAT_MESSAGE_BURST
    )


def _sockets_key(user_id) -> str:
    return f"ws-sockets:{user_id}"


def _slot_claim(user_id, socket_id) -> bool:
    """One of the user's WS_MAX_SOCKETS_PER_USER socket slots. Slots expire unless refreshed,
    so the slots of a process that died with open sockets free themselves."""
    return limits.slot_claim(
        _sockets_key(user_id), socket_id, cap=settings.WS_MAX_SOCKETS_PER_USER, ttl=settings.WS_SOCKET_SLOT_TTL
    )


def _slot_refresh(user_id, socket_id) -> None:
    limits.slot_refresh(_sockets_key(user_id), socket_id, ttl=settings.WS_SOCKET_SLOT_TTL)


def _slot_release(user_id, socket_id) -> None:
    limits.slot_release(_sockets_key(user_id), socket_id)


# Redis calls of the limits run off the event loop (a slow Redis must not stall every socket of
# the process) and off Django's one thread for database work, on one thread of their own: one
# Redis connection for all of a process's sockets, however many open at once.
_limits_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-limits")


def _in_thread(func):
    async def call(*args):
        return await asyncio.get_running_loop().run_in_executor(_limits_thread, func, *args)

    return call


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


class ChatConsumer(AsyncJsonWebsocketConsumer):
    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, ensure_ascii=False)

    @classmethod
    async def decode_json(cls, text_data):
        """A frame's JSON object; DomainError(NOT_JSON) for anything else."""
        try:
            content = json.loads(text_data)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: `[[[[…` nested too deep
            raise DomainError(NOT_JSON) from None
        if not isinstance(content, dict):
            raise DomainError(NOT_JSON)
        return content

    async def connect(self):
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        chat_id = selectors.uuid_or_none(kwargs["chat_id"])
        client_id = selectors.uuid_or_none(kwargs["client_id"])
        if user is None or not user.is_authenticated or chat_id is None or client_id != user.pk:
            await self.close()
            return
        self.user = user
        # Canonical form, so the group names match those the services send to.
        self.chat_id = chat_id
        # Join before the membership check: a removal or logout committed between the check and
        # the accept still reaches this socket and closes it.
        self.groups = [
            chat_group(chat_id),
            chat_member_group(chat_id, user.pk),
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
        await self.accept()
        # Over the cap the socket is accepted first, so the client reads why it is closed.
        if not await _in_thread(_slot_claim)(user.pk, self.channel_name):
            await self._detail(TOO_MANY_SOCKETS)
            await self._leave_groups()
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        self.slot_keeper = asyncio.create_task(self._keep_slot())

    async def _keep_slot(self):
        while True:
            await asyncio.sleep(settings.WS_SOCKET_SLOT_TTL / 3)
            await _in_thread(_slot_refresh)(self.user.pk, self.channel_name)

    async def disconnect(self, code):
        keeper = getattr(self, "slot_keeper", None)
        if keeper is not None:
            keeper.cancel()
            self.slot_keeper = None
            await _in_thread(_slot_release)(self.user.pk, self.channel_name)

    async def _leave_groups(self):
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups = []

    async def receive(self, text_data=None, bytes_data=None):
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await self._close_too_big()
            return
        # Every frame costs a token, well-formed or not: a flood of garbage is a flood too.
        if not await _in_thread(_flood_take)(self.user.pk):
            await self._detail(TOO_FAST)
            return
        try:
            content = await self.decode_json(text_data if text_data is not None else bytes_data)
        except DomainError as error:
            await self._detail(error.message)
            return
        await self.receive_json(content)

    async def receive_json(self, content):
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
        await self.send_json({"detail": text})

    # --- channel-layer events -----------------------------------------------------------------
    async def dispatch(self, message):
        # The user's group also carries events meant for user sockets only (a later feature's
        # `notification`, say): a chat socket has no frame for them and lets them pass.
        if getattr(self, get_handler_name(message), None) is None:
            return
        await super().dispatch(message)

    async def chat_message(self, event):
        message = event["message"]
        avatar = message["user"].get("avatar")
        if avatar and avatar.startswith("/"):
            # Local media URLs are relative in the event (it has no request); make them absolute
            # against the host this socket was opened on.
            message = {**message, "user": {**message["user"], "avatar": self._absolute(avatar)}}
        await self.send_json(message)

    async def message_deleted(self, event):
        await self.send_json({"type": "message.deleted", "message_id": event["message_id"]})

    async def chat_member_removed(self, event):
        await self.close(code=CLOSE_NOT_A_MEMBER)

    async def session_ended(self, event):
        await self.close(code=CLOSE_SESSION_ENDED)

    def _absolute(self, path: str) -> str:
        headers = dict(self.scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        return f"{scheme}://{host}{path}" if host else path


class RefuseConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: refused at the handshake instead of an application error."""

    async def connect(self):
        await self.close()
