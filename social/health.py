"""Health probes.

`GET /api/health/live` (liveness): the process answers; it touches no dependency, so a restart
is never triggered by an outage elsewhere.

`GET /api/health` (readiness): are the database, the channel layer and the storage answering?
Every part is checked in a thread of its own and waited for at most HEALTH_CHECK_TIMEOUT
seconds, all of them at once, so the probe answers within about a second whatever hangs: a
part that did not answer in time is "timeout" and named in the 503's `failing`. A frozen
dependency (a stopped host, a full disk) does not refuse, it just never answers; a check's
thread then stays blocked, and no second check of that part is started while the first one
runs (the part keeps answering "timeout"), so probes never pile threads up. Each part's result
is kept for HEALTH_TTL seconds per process, so load-balancer probes cost almost nothing.
"""

import asyncio
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

HEALTH_TTL = 2.0
OK, UNAVAILABLE, TIMEOUT = "ok", "unavailable", "timeout"
_lock = threading.Lock()
_results: dict[str, tuple[float, str]] = {}
_running: dict[str, Future] = {}
# One thread per part: a database check reuses its thread's connection (persistent or pooled).
_executors: dict[str, ThreadPoolExecutor] = {}


def _database() -> None:
    # The checking thread keeps its connection between checks, so it gets the request cycle's
    # care by hand: drop a connection that broke or aged out before using it.
    connection.close_if_unusable_or_obsolete()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        connection.close()
        raise
    finally:
        connection.close_if_unusable_or_obsolete()


async def _channel_layer_roundtrip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


async def _channel_layer_bounded() -> None:
    # The layer's receive has no socket timeout (PITFALLS: channels_redis #422): bound it here,
    # so a check blocked on a frozen Redis ends by itself.
    await asyncio.wait_for(_channel_layer_roundtrip(), timeout=10 * settings.HEALTH_CHECK_TIMEOUT)


def _channel_layer() -> None:
    async_to_sync(_channel_layer_bounded)()


def _storage() -> None:
    # A listing is a cheap request that needs the bucket (or the media folder) to exist.
    default_storage.exists("health/probe")


CHECKS = {"database": _database, "channel_layer": _channel_layer, "storage": _storage}


def _run(name: str) -> str:
    try:
        CHECKS[name]()
        return OK
    except Exception:  # any failure of the dependency means "not healthy", whatever its type
        return UNAVAILABLE


def _started(name: str) -> Future:
    """The running check of this part, or a new one."""
    with _lock:
        future = _running.get(name)
        if future is not None and not future.done():
            return future
        executor = _executors.get(name)
        if executor is None:
            executor = _executors[name] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"health-{name}")
        future = _running[name] = executor.submit(_run, name)
    # A check that ends after its probe gave up still counts: the next probe reads it. Added
    # outside the lock: a check already done runs its callback at once in this thread, and
    # `_record` takes the lock (holding it here hung the probe for good).
    future.add_done_callback(lambda done: _record(name, done.result()))
    return future


def _record(name: str, state: str) -> None:
    with _lock:
        _results[name] = (time.monotonic(), state)


def check_all() -> dict[str, str]:
    """Each part's state ("ok", "unavailable" or "timeout"), within HEALTH_CHECK_TIMEOUT."""
    now = time.monotonic()
    states: dict[str, str] = {}
    pending: dict[str, Future] = {}
    for name in CHECKS:
        cached = _results.get(name)
        if cached and now - cached[0] < HEALTH_TTL:
            states[name] = cached[1]
        else:
            pending[name] = _started(name)
    deadline = now + settings.HEALTH_CHECK_TIMEOUT
    for name, future in pending.items():
        try:
            states[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            states[name] = TIMEOUT
            _record(name, TIMEOUT)
    return {name: states[name] for name in CHECKS}


def reset_cache() -> None:
    with _lock:
        _results.clear()


HEALTH_BODY = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(["ok", "unavailable"]),
        # "ok", "unavailable" (it failed) or "timeout" (it did not answer in time).
        "database": serializers.CharField(),
        "channel_layer": serializers.CharField(),
        "storage": serializers.CharField(),
        "failing": serializers.ListField(child=serializers.CharField(), required=False),
    },
)
LIVE_BODY = inline_serializer("Liveness", {"status": serializers.ChoiceField(["ok"])})


@extend_schema(responses={200: HEALTH_BODY, 503: OpenApiResponse(HEALTH_BODY, description="A part is failing")})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health(request):
    parts = check_all()
    failing = [name for name, state in parts.items() if state != OK]
    if failing:
        return Response({"status": "unavailable", "failing": failing, **parts}, status=503)
    return Response({"status": "ok", **parts})


@extend_schema(responses={200: LIVE_BODY})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def live(request):
    """The process answers: nothing else is asked."""
    return Response({"status": "ok"})
