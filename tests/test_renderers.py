"""social.renderers' direct encodings against DRF's own: the hot list pages (chat list,
notifications, comments) build plain dicts with them instead of serializer fields."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import serializers

from social.renderers import UTF8JSONRenderer, datetime_json, json_bytes


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
