"""The text a fan-out event travels in between processes (social/fanout.py): encoded with orjson,
it must read back, on every process, as the standard library's encoding of it did."""

import dataclasses
import datetime
import json
import uuid
from decimal import Decimal

import pytest

from social import fanout


@dataclasses.dataclass
class Point:
    x: int


_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    "event",
    [
        {
            "user_ids": [str(uuid.uuid4()) for _ in range(3)],
            "user_frame": {
                "type": "message.new",
                "message": {"id": 7, "message": 'привет\u2028\n"☃"', "reply_to": None},
            },
            "chat_id": str(_ID),
            "chat_frame": {"id": 7, "images": [], "edited_at": None, "flag": True},
            "origin": None,
        },
        {
            "group": "user.1",
            "event": {"type": "notification", "at": datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)},
        },
        {"group": "user.1", "event": {"id": _ID, "day": datetime.date(2026, 11, 30), "price": Decimal("1.50")}},
        {"group": "user.1", "event": {"point": Point(3), "share": 0.1, "big": 2**70}},
        {"group": "user.1", "event": {1: "a non-str key"}},
    ],
)
def test_a_published_event_reads_back_as_the_standard_librarys_encoding_did(event):
    before = json.loads(json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str))
    assert fanout._event(fanout._payload(event)) == before


def test_a_payload_only_the_standard_library_reads_is_still_read():
    assert fanout._event(b'{"value": NaN}')["value"] != 0
