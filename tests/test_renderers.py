"""social.renderers' direct encodings against DRF's own: the hot list pages (chat list,
notifications, comments) build plain dicts with them instead of serializer fields."""

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from social.renderers import JsonDumps, UTF8JSONRenderer, datetime_json, json_bytes


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 1, 1, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=3))),
        None,
    ],
)
def test_datetime_json_is_drfs_datetime_field(value):
    assert datetime_json(value) == serializers.DateTimeField().to_representation(value)


def test_json_bytes_is_the_default_renderers_encoding():
    data = [{"text": "Привет\u2028мир\u2029", "n": 1, "none": None, "ok": True, "nested": {"a": [1.5]}}]
    assert json_bytes(data) == UTF8JSONRenderer().render(data)


EVERY_CHARACTER_CLASS = "".join(map(chr, range(0x80))) + '\u00a0\u2028\u2029\ufeff ё 😀 \U0010ffff \\ " / </script>'


@pytest.mark.parametrize(
    "data",
    [
        # What the hot pages give orjson to encode itself.
        {"text": EVERY_CHARACTER_CLASS, EVERY_CHARACTER_CLASS: [EVERY_CHARACTER_CLASS]},
        [{"id": 2**63 - 1, "min": -(2**63), "zero": 0, "ok": False, "none": None, "empty": [], "map": {}}],
        [[[]], {"a": {"b": {"c": [1, "2", None]}}}],
        {"float": 0.1, "half": 1.5, "big": 1e16, "negative_zero": -0.0},
        "",
        None,
        # What it hands back to the renderer's own encoding.
        {"uuid": uuid.UUID("9bf83ce8-e6df-48bc-8a2a-b4959792cf23")},
        {"when": datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC), "day": date(2026, 11, 30)},
        {"past_64_bits": 2**64, "negative": -(2**63) - 1},
        {1: "an int key", None: "a None key"},
        {"decimal": Decimal("1.10")},
        {"lazy": gettext_lazy("Not found.")},
        {"subclass": SafeString("<b>")},
    ],
)
def test_json_bytes_encodes_as_the_renderer_whatever_the_types(data):
    # render(None) is an empty body (DRF's choice for no data): json_bytes is only the encoding.
    expected = UTF8JSONRenderer().render(data) if data is not None else b"null"
    assert json_bytes(data) == expected == JsonDumps(UTF8JSONRenderer())(data)


def test_json_bytes_refuses_a_lone_surrogate_as_the_renderer_does():
    with pytest.raises(UnicodeEncodeError):
        UTF8JSONRenderer().render({"text": "\ud800"})
    with pytest.raises(UnicodeEncodeError):
        json_bytes({"text": "\ud800"})
