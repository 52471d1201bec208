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


def json_bytes(data) -> bytes:
    """`data` encoded as the default renderer would: for hot list pages built as plain dicts
    and answered with `json_response`, without DRF's Response/render round."""
    return JsonDumps(default_renderer())(data)


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
