import orjson
from django.http import HttpResponse
from django.utils.timezone import get_current_timezone
from rest_framework.renderers import LONG_SEPARATORS, SHORT_SEPARATORS, JSONRenderer


class UTF8JSONRenderer(JSONRenderer):
    """JSON with Russian text as UTF-8, not \\u-escaped (CONTRACT-NOTES "General")."""

    ensure_ascii = False
    charset = "utf-8"


class JsonDumps:
    """The default renderer's encoding (JSONRenderer.render) with one JSON encoder for every
    call: `json.dumps(cls=…)` builds an encoder per call, which costs more than a small
    encoding itself."""

    def __init__(self, renderer):
        separators = SHORT_SEPARATORS if renderer.compact else LONG_SEPARATORS
        self._encoder = renderer.encoder_class(
            ensure_ascii=renderer.ensure_ascii, allow_nan=not renderer.strict, separators=separators
        )

    def __call__(self, data) -> bytes:
        # As JSONRenderer.render: U+2028/U+2029 escaped (JSON as a strict JavaScript subset).
        return self._encoder.encode(data).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def default_renderer():
    """The renderer every answer goes through (REST_FRAMEWORK's first renderer class)."""
    from rest_framework.settings import api_settings

    return api_settings.DEFAULT_RENDERER_CLASSES[0]()


# orjson writes what the renderer writes (compact separators, UTF-8 text, \u-escapes for
# control characters only) for str, int, bool, None, list and dict: these it encodes itself.
# Whatever else (a datetime, a Decimal, a lazy translation, a non-str key, an int past 64
# bits) is passed through to `_unhandled`, which sends the whole value to the renderer's own
# encoding. Floats are the exception: NaN and some exponents are written differently, and the
# pages that use this carry none.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


def _unhandled(value):
    raise TypeError(type(value).__name__)


def json_bytes(data) -> bytes:
    """`data` encoded as the default renderer would: for hot list pages built as plain dicts
    (ids and timestamps already strings, no floats) and answered with `json_response`, without
    DRF's Response/render round. orjson encodes a 20-chat page in ~6 µs of CPU where the
    standard library's encoder took ~100 µs (issue #26); tests/test_renderers.py holds the
    two encodings equal."""
    try:
        body = orjson.dumps(data, default=_unhandled, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return JsonDumps(default_renderer())(data)
    # As JSONRenderer.render: U+2028/U+2029 escaped (JSON as a strict JavaScript subset).
    if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
        body = body.replace("\u2028".encode(), b"\\u2028").replace("\u2029".encode(), b"\\u2029")
    return body


def json_response(body: bytes, *, headers: dict | None = None) -> HttpResponse:
    """Encoded JSON as the answer DRF's renderer would give."""
    renderer = default_renderer()
    return HttpResponse(body, content_type=f"{renderer.media_type}; charset={renderer.charset}", headers=headers)


def datetime_json(value, zone=None) -> str | None:
    """What DRF's DateTimeField gives for an aware datetime (None for None) under the default
    DATETIME_FORMAT (ISO 8601, `Z` for UTC), built directly: the list pages built as plain
    dicts carry up to 40 timestamps each, where the field's method chain cost more than the
    rest of their encoding. tests/test_renderers.py holds the two equal. `zone`: the current
    time zone when the caller already has it (a page asks once, not once per timestamp)."""
    if value is None:
        return None
    text = value.astimezone(zone or get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
