"""WebSocket transport of a chat: `/api/chats/ws/<chat_id>/<client_id>` (docs/websocket.md).

Transport only. `chats.middleware.TokenAuthMiddleware` has authenticated the handshake; this
consumer checks `client_id` and membership, joins its process's fan-out routes (`social.fanout`:
the chat's messages and deletions, already encoded, and the groups named in `social.events`
whose events close it), turns frames into calls of `chats.services.message_send` (the
service REST would use) and group events into closes. Domain and validation errors
become `{"detail"}` frames with the services' texts. Channels' JSON consumer encodes the frames
it sends itself; frames are decoded here, since it refuses binary ones (clients may send JSON as
binary) with a 1011.
"""

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, partial

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.selectors import session_is_ended
from chats import presence, selectors, services
from social import daphne_frames, fanout, limits, logs, metrics
from social.events import chat_member_group, session_group, user_group
from social.exceptions import DomainError, Forbidden
from social.outages import CLOSE_TRY_AGAIN_LATER, is_outage, log_outage

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
BAD_CLIENT_REF = "Поле «client_ref» должно быть строкой не длиннее 64 символов."
# The answer to a frame whose message a dependency outage kept from being stored: resending
# it later is safe (EXTENSIONS.md §1, "no silent loss").
NOT_STORED = "Сообщение не сохранено: сервис временно недоступен. Отправьте его ещё раз позже."
MAX_CLIENT_REF = 64

logger = logging.getLogger("social.socket")


def _sockets_key(user_id) -> str:
    return f"ws-sockets:{user_id}"


def _slot_claim(user_id, socket_id) -> bool:
    """One of the user's WS_MAX_SOCKETS_PER_USER socket slots. Slots expire unless refreshed,
    so the slots of a process that died with open sockets free themselves."""
    return limits.slot_claim(
        _sockets_key(user_id), socket_id, cap=settings.WS_MAX_SOCKETS_PER_USER, ttl=settings.WS_SOCKET_SLOT_TTL
    )


def _slot_release(user_id, socket_id) -> None:
    limits.slot_release(_sockets_key(user_id), socket_id)


def _slots_refresh(slots: list[tuple[str, str]]) -> None:
    limits.slots_refresh(
        [(_sockets_key(user_id), socket_id) for user_id, socket_id in slots], ttl=settings.WS_SOCKET_SLOT_TTL
    )


# Redis calls of the limits run off the event loop (a slow Redis must not stall every socket of
# the process) and off Django's one thread for database work, on one thread of their own: one
# Redis connection for all of a process's sockets, however many open at once. The exception is
# a message's flood token, taken in the database thread's call that stores it (`_send`): that
# call publishes to Redis after its commit anyway, and one hop per message is saved.
_limits_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-limits")


def _in_thread(func):
    async def call(*args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(_limits_thread, partial(func, *args, **kwargs))

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


def _send(chat_id, user, text, origin, client_ref):
    """The stored message's frame, or None when the user's flood bucket is empty (nothing
    stored). The bucket's token is taken here, in the one hop to the database thread, not in a
    hop of its own before it: each hop is a wake-up of another thread and a wait for the GIL
    while the event loop fans out, on every message. Membership is checked again on every
    message: a removal whose close event was lost (a full channel, say) must still not let the
    socket write."""
    if not services.message_flood_take(user_id=user.pk):
        return None
    # A copy: the frame gets the sender's client_ref, the event's object must not.
    return dict(
        services.message_send_as_member(chat_id=chat_id, author=user, text=text, origin=origin, client_ref=client_ref)
    )


async def handle(consumer, message) -> None:
    """Channels' `AsyncConsumer.dispatch` without its `aclose_old_connections()`: that is a hop
    to the database thread (queued behind its work) before every client frame and event, and
    these consumers touch the database only through `database_sync_to_async`, which closes old
    connections around each call itself."""
    handler = getattr(consumer, get_handler_name(message), None)
    if handler is None:
        raise ValueError(f"No handler for message type {message['type']}")
    await handler(message)


class SlotKeeper:
    """The slots of this event loop's open sockets, all refreshed by one task every third of
    WS_SOCKET_SLOT_TTL in one Redis round trip: a task per socket (its coroutine, its timer)
    cost every idle socket memory, and each refresh a thread hop of its own. The task runs
    only while a slot is held, so it always sleeps by the TTL in force."""

    def __init__(self):
        self.slots: set[tuple[str, str]] = set()  # (user id, socket's id)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None

    def add(self, user_id, socket_id: str) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            # A new event loop (daphne has one for its life; tests start one per test): what
            # the old one held is gone with its sockets.
            self.loop, self.slots, self.task = loop, set(), None
        self.slots.add((str(user_id), socket_id))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._refresh_loop())

    def discard(self, user_id, socket_id: str) -> None:
        self.slots.discard((str(user_id), socket_id))
        if not self.slots and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _refresh_loop(self) -> None:
        while self.slots:
            await asyncio.sleep(settings.WS_SOCKET_SLOT_TTL / 3)
            try:
                # An outage falls back to this process's counts inside (social.limits).
                await _in_thread(_slots_refresh)(list(self.slots))
            except Exception:
                logger.exception("socket slot refresh failed")


slot_keeper = SlotKeeper()


class OutageClosingMixin:
    """A socket that a dependency outage closes with 4503 ("try again later"), never a 1011 or
    an HTTP 500 at the handshake: shared by the chat socket and the user socket."""

    socket_kind = "a socket"  # for the outage log line
    accepted = False

    async def __call__(self, scope, receive, send):
        # An outage that a handler lets through (a Redis or database call it does not catch)
        # raises here, and daphne would close 1011 (or answer the handshake 500).
        try:
            await super().__call__(scope, receive, send)
        except Exception as error:
            if not is_outage(error):
                raise
            log_outage(error, self.socket_kind)
            await self._close_try_again_later(send)

    async def _close_try_again_later(self, send=None):
        send = send or self.base_send
        if not self.accepted:
            # A close before accept is an HTTP 403 at the handshake: accept, so the client
            # reads 4503 ("try again later") and reconnects with backoff.
            await send({"type": "websocket.accept"})
            self.accepted = True
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        self.accepted = True


class SocketSlotMixin:
    """What every accepted socket of either kind keeps while it is open: its place in the
    open-sockets gauge (`gauge_kind`), one of its user's WS_MAX_SOCKETS_PER_USER slots, kept
    alive by the process's `slot_keeper` until the disconnect releases both, and its user's presence (one of
    their sockets in `chats.presence.keeper`)."""

    gauge_kind = ""
    counted = False  # in the open-sockets gauge (accepted, not yet closed)
    slot_held = False

    def _count_open(self) -> None:
        self.counted = True
        metrics.WEBSOCKETS_OPEN.labels(self.gauge_kind).inc()

    async def _slot_take(self) -> bool:
        """One of the user's slots, refreshed while the socket is open; False over the cap."""
        if not await _in_thread(_slot_claim)(self.user.pk, self.socket_id):
            return False
        self.slot_held = True
        slot_keeper.add(self.user.pk, self.socket_id)
        # Online from here: a socket over the cap never counts (chats.presence).
        await presence.keeper.opened(self.user.pk)
        return True

    async def _open_release(self) -> bool:
        """Leave the gauge and release the slot; True when the socket had been counted open."""
        was_counted, self.counted = self.counted, False
        if was_counted:
            metrics.WEBSOCKETS_OPEN.labels(self.gauge_kind).dec()
        if self.slot_held:
            self.slot_held = False
            slot_keeper.discard(self.user.pk, self.socket_id)
            await _in_thread(_slot_release)(self.user.pk, self.socket_id)
            # After the release: the grace check counts the slots left on every process.
            await presence.keeper.closed(self.user.pk)
        return was_counted


class FanOutMixin:
    """Everything that reaches a socket of either kind, through its places in this process's
    fan-out routes (`social.fanout`): its frames (by user or by chat, pre-encoded) and the
    events of its groups (`social.events`: what closes it, a user's notifications), handed to
    its handlers. What arrives before the socket is ready to send it, between its join and its
    accept or `ready`, waits in order until it is.

    A socket has no channel-layer channel: with no layer, channels' consumer makes no channel
    and runs no receive task for it, and the socket joins no group in Redis. That was ≈ 5 KB of
    every idle socket (a receive buffer, a task) and two Redis round trips at each connect and
    disconnect per group."""

    # Names no configured layer, so channels' `AsyncConsumer.__call__` finds none
    # (`get_channel_layer` answers None) and dispatches the client's frames alone.
    channel_layer_alias = None
    fanout_route: dict | None = None  # the join's keyword arguments, None until joined
    fanout_open = False
    fanout_pending: list[dict] | None = None
    media_base = ""

    @cached_property
    def socket_id(self) -> str:
        """This socket among all of every process: its user's slot, a sent message's `origin`."""
        return uuid.uuid4().hex

    async def fanout_join(self, **route) -> None:
        """Routed from now on (raises an outage error when Redis cannot be subscribed to)."""
        self.media_base = self._absolute("")
        self.fanout_pending = []
        await fanout.join(self, **route)
        self.fanout_route = route

    async def websocket_disconnect(self, message):
        self.fanout_leave()
        await super().websocket_disconnect(message)

    def fanout_leave(self) -> None:
        if self.fanout_route is not None:
            fanout.leave(self, **self.fanout_route)
            self.fanout_route = None
        self.fanout_open, self.fanout_pending = False, None

    async def fanout_flush(self) -> None:
        """Hand on what arrived before now, then everything as it arrives."""
        while self.fanout_pending:
            pending, self.fanout_pending = self.fanout_pending, []
            for message in pending:
                if message["type"] == "websocket.send":
                    await self.base_send(message)
                else:
                    await self.dispatch(message)
        self.fanout_open = True

    def fanout_write(self, frame: bytes) -> bool:
        """`frame` (a frame's wire bytes, built once for every socket it goes to) written to
        this socket's connection now: False when it must go through `fanout_send` instead (not
        open yet, or not a daphne socket in a state to take them: social.daphne_frames)."""
        return self.fanout_open and daphne_frames.write(daphne_frames.protocol_of(self.base_send), frame)

    async def fanout_send(self, message: dict) -> None:
        """`message` is an ASGI `websocket.send`, one object shared by every socket the frame
        goes to: straight to the server, without the consumer's `send` layers (per delivery,
        they were most of the fan-out's own Python work)."""
        if self.fanout_open:
            await self.base_send(message)
        elif self.fanout_pending is not None:
            self.fanout_pending.append(message)

    async def fanout_event(self, event: dict) -> None:
        """An event of one of the socket's groups, for its handler (`dispatch`)."""
        if self.fanout_open:
            await self.dispatch(event)
        elif self.fanout_pending is not None:
            self.fanout_pending.append(event)

    async def fanout_lost(self) -> None:
        """This process's subscription broke: events may have been missed, so the client must
        reconnect and catch up (4503)."""
        self.fanout_leave()
        try:
            await self._close_try_again_later()
        except Exception:  # closed meanwhile
            pass

    def _absolute(self, path: str) -> str:
        headers = dict(self.scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        return f"{scheme}://{host}{path}" if host else path


class ChatConsumer(OutageClosingMixin, SocketSlotMixin, FanOutMixin, AsyncJsonWebsocketConsumer):
    gauge_kind = "chat"
    socket_kind = "a chat socket"

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
        # The handshake's request id (the proxy's, or the client's when well formed): every
        # line logged for this socket carries it, the services' lines included (the context
        # variable lives as long as this consumer's task).
        self.request_id = logs.request_id_from_scope(self.scope)
        logs.request_id_set(self.request_id)
        if self.scope.get("outage"):
            await self._close_try_again_later()
            return
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
        # the accept still reaches this socket and closes it, and a message stored meanwhile
        # reaches it. The chat's frames come by its id; the groups carry only what closes the
        # socket.
        groups = [
            chat_member_group(chat_id, user.pk),
            user_group(user.pk),
        ]
        if self.scope.get("session_id"):
            groups.append(session_group(self.scope["session_id"]))
        try:
            await self.fanout_join(chat_id=chat_id, groups=groups)
            await database_sync_to_async(_admit)(self.chat_id, user, self.scope.get("session_id"))
        except Exception as error:
            if is_outage(error):
                # Close at once, within daphne's handshake timeout (past it nginx answers 502).
                # The routes joined are left by websocket_disconnect, after the close.
                log_outage(error, "a chat socket handshake")
                await self._close_try_again_later()
            elif isinstance(error, DomainError):
                self.fanout_leave()
                await self.close()
            else:
                raise
            return
        await self.accept()
        await self.fanout_flush()
        self._count_open()
        self._log("socket connect", event="connect")
        # Over the cap the socket is accepted first, so the client reads why it is closed.
        if not await self._slot_take():
            await self._detail(TOO_MANY_SOCKETS)
            self.fanout_leave()
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return

    async def disconnect(self, code):
        if await self._open_release():
            self._log("socket close", event="close", code=code)

    async def send_json(self, content, close=False):
        # Every frame this consumer sends goes through here (Channels' send_json calls the
        # base class's send, not an override of it).
        metrics.WEBSOCKET_FRAMES.labels("out").inc()
        await super().send_json(content, close=close)

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

    async def receive(self, text_data=None, bytes_data=None):
        metrics.WEBSOCKET_FRAMES.labels("in").inc()
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await self._close_too_big()
            return
        try:
            content = await self.decode_json(text_data if text_data is not None else bytes_data)
        except DomainError as error:
            problem = (error.message, None)
        else:
            problem = self._frame_problem(content)
        if problem is not None:
            # Every frame costs a token, well-formed or not: a flood of garbage is a flood too
            # (a well-formed frame's token is taken where it is stored, `_send`).
            if await _in_thread(services.message_flood_take)(user_id=self.user.pk):
                await self._detail(*problem)
            else:
                await self._too_fast()
            return
        await self.receive_json(content)

    @staticmethod
    def _frame_problem(content: dict) -> tuple[str, str | None] | None:
        """The error frame's (detail, client_ref) of a frame that cannot be a message; None
        for a well-formed one."""
        client_ref = content.get("client_ref")
        if client_ref is not None and not (isinstance(client_ref, str) and len(client_ref) <= MAX_CLIENT_REF):
            return BAD_CLIENT_REF, None
        if not isinstance(content.get("message"), str):
            return NO_MESSAGE, client_ref
        return None

    async def receive_json(self, content):
        """A well-formed frame (`_frame_problem` found nothing): its message, stored."""
        client_ref, text = content.get("client_ref"), content["message"]
        # Every frame that gets here is answered: the stored message (to this socket directly,
        # so a broken fan-out cannot swallow it) or an error frame saying it was not stored.
        try:
            message = await database_sync_to_async(_send)(self.chat_id, self.user, text, self.socket_id, client_ref)
        except Forbidden:
            await self.close(code=CLOSE_NOT_A_MEMBER)
            return
        except Exception as error:
            if is_outage(error):
                log_outage(error, "a chat message send")
                await self._detail(NOT_STORED, client_ref)
            elif isinstance(error, ValidationError | DomainError):
                await self._detail(_error_text(error), client_ref)
            else:
                raise
            return
        if message is None:
            await self._too_fast()
            return
        frame = self._message_frame(message)
        if client_ref is not None:
            frame["client_ref"] = client_ref
        await self.send_json(frame)

    async def _close_too_big(self):
        try:
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
        except Exception:
            # autobahn refuses 1009 from an application unless chats.daphne_close is in effect
            # (a daphne whose protocol class changed): still close, never a 1011 traceback.
            await self.close(code=CLOSE_MESSAGE_TOO_BIG_FALLBACK)

    async def _too_fast(self):
        metrics.RATE_LIMIT_REFUSALS.labels("chat_message").inc()
        await self._detail(TOO_FAST)

    async def _detail(self, text: str, client_ref: str | None = None):
        # The server's record of an error frame, under the socket's request id.
        self._log("socket error frame", event="error", detail=text)
        frame = {"detail": text}
        if client_ref is not None:
            frame["client_ref"] = client_ref
        await self.send_json(frame)

    def _message_frame(self, message: dict) -> dict:
        # Local media URLs are relative in the event (it has no request); make them absolute
        # against the host this socket was opened on.
        return fanout.media_absolute(message, self._absolute(""))

    # --- group events (social.fanout) ---------------------------------------------------------
    async def dispatch(self, message):
        # The user's group also carries events meant for user sockets only (`notification`,
        # say): a chat socket has no frame for them and lets them pass.
        if getattr(self, get_handler_name(message), None) is None:
            return
        await handle(self, message)

    async def chat_member_removed(self, event):
        await self.close(code=CLOSE_NOT_A_MEMBER)

    async def session_ended(self, event):
        if event.get("kept_session_id") and event["kept_session_id"] == self.scope.get("session_id"):
            return  # the session a password change keeps
        await self.close(code=CLOSE_SESSION_ENDED)


class RefuseConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: refused at the handshake instead of an application error."""

    async def connect(self):
        await self.close()
