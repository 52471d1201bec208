"""`GET /api/health`: are the database, the channel layer and the storage answering?

Each part's result is kept for HEALTH_TTL seconds per process, so load-balancer probes cost
almost nothing; a failing part is named in a 503.
"""

import threading
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.storage import default_storage
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

HEALTH_TTL = 2.0
_lock = threading.Lock()
_results: dict[str, tuple[float, bool]] = {}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _channel_layer_roundtrip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


def _channel_layer() -> None:
    async_to_sync(_channel_layer_roundtrip)()


def _storage() -> None:
    # A listing is a cheap request that needs the bucket (or the media folder) to exist.
    default_storage.exists("health/probe")


CHECKS = {"database": _database, "channel_layer": _channel_layer, "storage": _storage}


def check(name: str) -> bool:
    now = time.monotonic()
    cached = _results.get(name)
    if cached and now - cached[0] < HEALTH_TTL:
        return cached[1]
    try:
        CHECKS[name]()
        ok = True
    except Exception:  # any failure of the dependency means "not healthy", whatever its type
        ok = False
    with _lock:
        _results[name] = (time.monotonic(), ok)
    return ok


def reset_cache() -> None:
    with _lock:
        _results.clear()


HEALTH_BODY = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(["ok", "unavailable"]),
        "database": serializers.CharField(),
        "channel_layer": serializers.CharField(),
        "storage": serializers.CharField(),
        "failing": serializers.ListField(child=serializers.CharField(), required=False),
    },
)


@extend_schema(responses={200: HEALTH_BODY, 503: OpenApiResponse(HEALTH_BODY, description="A part is failing")})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health(request):
    parts = {name: ("ok" if check(name) else "unavailable") for name in CHECKS}
    failing = [name for name, state in parts.items() if state != "ok"]
    if failing:
        return Response({"status": "unavailable", "failing": failing, **parts}, status=503)
    return Response({"status": "ok", **parts})
