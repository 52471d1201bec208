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


# --- transport_write: a real Twisted TCP transport over a real socket pair ------------------------
@pytest.fixture
def connection():
    """(transport, peer socket, reactor): a Twisted server-side TCP transport on one end of a
    socket pair, its reactor one that records writers instead of running."""
    import socket

    from twisted.internet import tcp
    from twisted.internet.protocol import Protocol
    from twisted.internet.testing import MemoryReactor

    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.setblocking(False)
    reactor = MemoryReactor()
    transport = tcp.Server(ours, Protocol(), ("127.0.0.1", 1), None, 0, reactor)
    yield transport, peer, reactor
    ours.close()
    peer.close()


def received(peer) -> bytes:
    chunks = []
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_frame_to_an_idle_connection_is_sent_at_once_without_a_writer_registered(connection):
    from social.daphne_frames import transport_write

    transport, peer, reactor = connection
    transport_write(transport, b"first")
    transport_write(transport, b"second")
    assert received(peer) == b"firstsecond"
    assert transport not in reactor.getWriters()
    assert transport._tempDataLen == 0


def test_a_frame_behind_buffered_bytes_waits_behind_them(connection):
    from social.daphne_frames import transport_write

    transport, peer, reactor = connection
    transport.write(b"buffered")  # Twisted's own write: kept for the reactor's next turn
    transport_write(transport, b"after")
    assert received(peer) == b""
    assert transport in reactor.getWriters()
    transport.doWrite()
    assert received(peer) == b"bufferedafter"


def test_what_a_full_socket_does_not_take_is_buffered_in_order(connection):
    from social.daphne_frames import transport_write

    transport, peer, reactor = connection
    frame = b"".join(bytes([index % 251]) * 1000 for index in range(4000))  # 4 MB: past any send buffer
    transport_write(transport, frame)
    assert transport in reactor.getWriters()
    assert 0 < transport._tempDataLen < len(frame)
    transport_write(transport, b"tail")  # behind the buffered rest, not before it
    got = received(peer)
    while transport._tempDataLen or transport.offset < len(transport.dataBuffer):
        transport.doWrite()
        got += received(peer)
    assert got == frame + b"tail"


def test_a_closing_connection_goes_through_twisteds_write(connection):
    from social.daphne_frames import transport_write

    transport, peer, reactor = connection
    transport.disconnecting = True
    transport_write(transport, b"late")
    assert received(peer) == b""
    assert transport._tempDataLen == 4
