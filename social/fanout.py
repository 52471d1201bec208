"""Fan-out of every real-time event: one publish per event, routed to its sockets by each process.

An event (a stored message, say) is published ONCE, on one Redis pub/sub channel every server
process listens to, carrying what each process needs to route it itself: the chat's id, the ids
of the users whose user sockets get it (the chat's members, read when the message was stored)
and the frames. Each process keeps, in memory, which of its own sockets belong to which user
(user sockets) and to which chat (the contract's chat sockets), encodes each frame once and
hands the same text to every local socket it concerns. A socket costs no Redis subscription at
all (one dictionary entry here), whatever the number of the user's chats; a process costs one
subscription. Why this shape and what it costs: docs/websocket.md "Fan-out".

The events that end a socket or belong to one user (a session ended, a member removed from a
chat, a notification) go the same way, addressed to a group (`social.events` names them:
`user.<id>`, `session.<id>`, `chat.<id>.user.<id>`): each process hands the event to its own
sockets in that group, whose handler (`session_ended`, …) acts on it. So a socket holds no
channel-layer channel at all: no receive buffer, no receive task, no group membership in Redis.

The guarantees the sockets promise rest on two rules here:
- `join` returns only once this process's subscription is confirmed by Redis, so an event
  published after a socket joined (after its `ready`) reaches it;
- when the subscription breaks (Redis restarted, the connection dropped), events published
  meanwhile are lost to this process: every socket joined here is closed with 4503 ("try again
  later"), and the client reconnects and catches up over REST. The subscription never reconnects
  silently behind open sockets.

Without Redis (the embedded quick start, one process) events go straight to this process's
event loops.
"""

import asyncio
import json
import logging
import threading
import weakref
from urllib.parse import urlsplit

import orjson
import redis
import redis.asyncio
from django.conf import settings
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from social import metrics
from social.daphne_frames import text_frame
from social.outages import is_outage
from social.redis_client import HeldConnectionRedis

logger = logging.getLogger(__name__)


def channel_name() -> str:
    """The one pub/sub channel of this deployment. Redis pub/sub channels are global to the
    server, not per database: the name carries the database number, so deployments (and test
    runs) sharing a Redis server on other databases never hear each other's events."""
    database = urlsplit(settings.REDIS_URL).path.lstrip("/") or "0"
    return f"social.fanout.{database}"


# --- sending (any thread: a service's on_commit) ---------------------------------------------------
_publisher: redis.Redis | None = None
_publisher_lock = threading.Lock()


def _publisher_client() -> redis.Redis:
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            # Sync and shared by every thread of the process (its held connection is lent to
            # one thread at a time, the pool serves the others: social.redis_client): the send
            # runs in the thread that committed, and blocks it for one round trip.
            _publisher = HeldConnectionRedis.from_url(
                settings.REDIS_URL,
                socket_timeout=settings.REDIS_TIMEOUT,
                socket_connect_timeout=settings.REDIS_TIMEOUT,
                retry=Retry(**settings.REDIS_RETRY),
            )
        return _publisher


def publish(event: dict) -> None:
    """Send `event` to every process: `{"chat_id", "user_ids", "user_frame", "chat_frame",
    "origin"}` (frames) or `{"group", "event"}` (an event for a group's handlers; see
    `Router.route`). Raises what Redis raises (an outage for the caller to log)."""
    payload = _payload(event)
    if settings.REDIS_URL:
        _publisher_client().publish(channel_name(), payload)
        return
    with _routers_lock:
        routers = list(_routers.items())
    for loop, router in routers:
        try:
            loop.call_soon_threadsafe(router.route_payload, payload)
        except RuntimeError:  # a loop closed meanwhile (a finished test's)
            pass


# orjson: a message's event (its frames and a hundred member ids) took the standard library's
# encoder ~23 µs and orjson ~1 µs, on the sending thread of every message (issue #26). What it
# does not encode as the standard library would (a datetime, a dataclass: passed through to
# `str`, as before) goes to `default`; what it refuses (an int past 64 bits, a non-str key) is
# encoded as before. Only the routers read this text: the frames' wire text is theirs to write.
_PASSED_THROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _payload(event: dict) -> bytes:
    try:
        return orjson.dumps(event, default=str, option=_PASSED_THROUGH)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _event(payload: bytes | str) -> dict:
    """A published event, decoded (orjson, half the standard library's time on every process;
    the standard library for what only it reads, a NaN say)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)


# --- receiving (each event loop of each process) ----------------------------------------------------
_routers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Router]" = weakref.WeakKeyDictionary()
_routers_lock = threading.Lock()


def _router() -> "Router":
    loop = asyncio.get_running_loop()
    with _routers_lock:
        router = _routers.get(loop)
        if router is None:
            router = _routers[loop] = Router()
        return router


async def join(consumer, *, user_id=None, chat_id=None, groups=()) -> None:
    """Route frames of `user_id` (a user socket) or of `chat_id` (a chat socket), and the events
    of each of `groups`, to `consumer` from now on. Raises an outage error when the subscription
    cannot be made (close 4503).

    `consumer` has `fanout_write(frame)` (the frame's wire bytes written at once: True, or
    False when they must go as `fanout_send(message)`, an ASGI `websocket.send`),
    `fanout_event(event)` (a group's event), `fanout_lost()`, `socket_id` and `media_base`."""
    router = _router()
    await router.subscribed()
    for routes, key in router.routes_of(user_id=user_id, chat_id=chat_id, groups=groups):
        routes.setdefault(key, set()).add(consumer)


def leave(consumer, *, user_id=None, chat_id=None, groups=()) -> None:
    """No more events for `consumer` (idempotent)."""
    with _routers_lock:
        routers = list(_routers.values())
    for router in routers:
        for routes, key in router.routes_of(user_id=user_id, chat_id=chat_id, groups=groups):
            consumers = routes.get(key)
            if consumers is not None:
                consumers.discard(consumer)
                if not consumers:
                    del routes[key]


def local_sockets(*, user_id=None, chat_id=None, group=None) -> list:
    """The sockets of this event loop routed by `user_id`, by `chat_id` or by `group` (what
    tests inspect)."""
    [(routes, key)] = _router().routes_of(user_id=user_id, chat_id=chat_id, groups=[group] if group else ())
    return list(routes.get(key, ()))


def media_absolute(value, base: str):
    """`value` (a frame, or part of one) with every local media URL made absolute against
    `base` ("scheme://host" of the socket): events are built without a request, so on the
    embedded storage their `avatar` values (users, chats) and `images` lists (messages) are
    paths ("/media/…"). S3 URLs are absolute already. The same object when nothing changed (no
    copy for the usual frame)."""
    if isinstance(value, dict):
        shown = {key: _media_item(key, item, base) for key, item in value.items()}
        return value if all(shown[key] is value[key] for key in value) else shown
    if isinstance(value, list):
        items = [media_absolute(item, base) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value


def _media_item(key, item, base: str):
    if key == "avatar" and isinstance(item, str) and item.startswith("/"):
        return f"{base}{item}"
    if key == "images" and isinstance(item, list) and any(isinstance(url, str) and url.startswith("/") for url in item):
        return [f"{base}{url}" if isinstance(url, str) and url.startswith("/") else url for url in item]
    return media_absolute(item, base)


def _has_relative_media(frame: dict) -> bool:
    return media_absolute(frame, "@") is not frame


class Router:
    """One event loop's sockets by user and by chat, and its subscription to the channel."""

    def __init__(self):
        self.users: dict[str, set] = {}  # user sockets by user id: user frames
        self.chats: dict[str, set] = {}  # chat sockets by chat id: chat frames
        self.groups: dict[str, set] = {}  # sockets of either kind by group: group events
        self.listening: asyncio.Future | None = None  # done once subscribed (or failed)
        self.listener: asyncio.Task | None = None

    def routes_of(self, *, user_id=None, chat_id=None, groups=()) -> list[tuple[dict, str]]:
        """(routes, key) of each route these arguments name."""
        found = [(self.groups, group) for group in groups]
        if user_id is not None:
            found.append((self.users, str(user_id)))
        if chat_id is not None:
            found.append((self.chats, str(chat_id)))
        return found

    async def subscribed(self) -> None:
        if not settings.REDIS_URL:
            return
        if self.listening is None or (self.listening.done() and self.listening.exception() is not None):
            self.listening = asyncio.get_running_loop().create_future()
            self.listener = asyncio.create_task(self._listen(self.listening))
        # Shielded: one socket's handshake given up must not cancel the subscription the
        # others wait for.
        await asyncio.shield(self.listening)

    async def _listen(self, listening: asyncio.Future) -> None:
        # No socket timeout (an idle channel is silent for hours: PITFALLS, channels_redis
        # #422) and no retry: a reconnect would silently skip what was published meanwhile.
        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=None,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
            retry=AsyncRetry(NoBackoff(), 0),
            client_name=channel_name(),  # tells this connection apart in CLIENT LIST
        )
        pubsub = client.pubsub(ignore_subscribe_messages=False)
        try:
            await pubsub.subscribe(channel_name())
            while True:  # Redis confirms the subscription before it delivers anything
                reply = await asyncio.wait_for(pubsub.get_message(timeout=None), settings.REDIS_TIMEOUT)
                if reply and reply["type"] == "subscribe":
                    break
            listening.set_result(None)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message and message["type"] == "message":
                    await self.route(_event(message["data"]))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not listening.done():
                listening.set_exception(error)
                listening.exception()  # retrieved: each waiting handshake gets it
            else:
                self._lost(error)
        finally:
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:  # the connection is gone already
                pass

    def _lost(self, error: Exception) -> None:
        """The subscription broke: every socket routed here may have missed events."""
        if not is_outage(error):
            logger.exception("fan-out listener failed")
        else:
            logger.warning("fan-out subscription lost: %s: %s", type(error).__name__, error)
        self.listening = None  # the next socket to join subscribes again
        everyone = (self.users, self.chats, self.groups)
        consumers = {consumer for routes in everyone for group in routes.values() for consumer in group}
        for routes in everyone:
            routes.clear()
        for consumer in consumers:
            asyncio.create_task(consumer.fanout_lost())

    def route_payload(self, payload: bytes) -> None:
        asyncio.create_task(self.route(_event(payload)))

    async def route(self, event: dict) -> None:
        """Hand each local socket the event concerns its frame, each frame encoded once (once per
        host the sockets were opened on, when a relative media URL must be made absolute); or a
        group's event to the handler of each local socket in the group."""
        group = event.get("group")
        if group is not None:
            for consumer in list(self.groups.get(group, ())):
                try:
                    await consumer.fanout_event(event["event"])
                except Exception:
                    logger.debug("group event to %s failed", consumer.socket_id, exc_info=True)
            return
        targets: list[tuple[object, dict]] = []
        chat_frame, user_frame = event.get("chat_frame"), event.get("user_frame")
        if chat_frame is not None:
            origin = event.get("origin")
            for consumer in self.chats.get(event.get("chat_id"), ()):
                if consumer.socket_id != origin:  # the sending socket was answered directly
                    targets.append((consumer, chat_frame))
        if user_frame is not None:
            user_ids = event.get("user_ids") or ()
            if len(user_ids) > len(self.users):
                wanted = set(user_ids)
                local = [consumers for user_id, consumers in self.users.items() if user_id in wanted]
            else:
                local = [self.users[user_id] for user_id in user_ids if user_id in self.users]
            targets.extend((consumer, user_frame) for consumers in local for consumer in consumers)
        if not targets:
            return
        encoded: dict[tuple[int, str], tuple[dict, bytes]] = {}
        relative = {id(frame): _has_relative_media(frame) for frame in (chat_frame, user_frame) if frame}
        for consumer, frame in targets:
            base = consumer.media_base if relative[id(frame)] else ""
            outgoing = encoded.get((id(frame), base))
            if outgoing is None:
                shown = media_absolute(frame, base) if base else frame
                text = json.dumps(shown, ensure_ascii=False)
                outgoing = encoded[(id(frame), base)] = ({"type": "websocket.send", "text": text}, text_frame(text))
            try:
                # The wire bytes straight to an open daphne socket (no coroutine, no ASGI
                # layers: social.daphne_frames); anything else through its ASGI send.
                if not consumer.fanout_write(outgoing[1]):
                    await consumer.fanout_send(outgoing[0])
            except Exception:
                # One socket's failure (closed meanwhile) must not cost the others their frame.
                logger.debug("fan-out send to %s failed", consumer.socket_id, exc_info=True)
        metrics.WEBSOCKET_FRAMES.labels("out").inc(len(targets))
