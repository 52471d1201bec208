"""The pre-built frames of the fan-out (social/daphne_frames.py), read back by a real WebSocket
client library's parser: the bytes every daphne socket of an event gets."""

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from social.daphne_frames import protocol_of, text_frame


def parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        assert reader.at_eof()  # nothing left over: exactly one frame
        return done.value
    raise AssertionError("the frame is incomplete")


@pytest.mark.parametrize(
    "text",
    [
        "",
        '{"message": "привет"}',
        "я" * 62,  # 124 bytes: the one-byte length
        "я" * 63,  # 126 bytes: the 16-bit length
        "ж" * 4000,  # the longest message text, 8,000 bytes
        "x" * 65536,  # the 64-bit length
    ],
)
def test_a_text_frame_is_one_final_unmasked_text_frame_with_the_utf8_text(text):
    frame = parsed(text_frame(text))
    assert (frame.opcode, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (Opcode.TEXT, True, False, False, False)
    assert frame.data.decode() == text


def test_a_send_that_is_not_daphnes_has_no_protocol_to_write_to():
    async def send(message):
        pass

    assert protocol_of(send) is None
