"""A fanned-out frame built once per process and written as bytes to each daphne socket.

A server's WebSocket frames are never masked (RFC 6455 §5.1), so a frame that goes to many
sockets is the same bytes on every one of them: header and UTF-8 payload can be built once per
event per process. Through ASGI each delivery instead paid, per socket, daphne's `handle_reply`
checks, the UTF-8 encoding of the text again and autobahn's `sendMessage` → `sendFrame` →
`sendData` (the header built again, the arguments of a debug line formatted although nothing
logs it). In a py-spy profile of the two daphnes under the 1 → 100 fan-out bench that was about
four fifths of the router's time per delivery; the rest is the socket write itself.

`protocol_of(send)` finds the autobahn protocol behind a consumer's ASGI `send` (daphne hands
every application `partial(Server.handle_reply, protocol)`), and `write(protocol, frame)` writes
the frame's bytes only where autobahn's own `sendMessage` would send the same bytes: the socket
open, no compression negotiated, no frame waiting in its queue of synchronous sends, no
fragmentation, masking or tracing configured, the frame within daphne's message size limit.
Anywhere else it answers False and the caller sends through ASGI as before: another server (the
tests' communicators), a socket closing, a send wrapped by middleware (Sentry's).

The bytes themselves go out at once when nothing waits before them on that connection
(`transport_write`): Twisted's TCP transport buffers every write for the reactor's next turn,
and registers the socket as a writer and unregisters it again around that send (two epoll_ctl
calls and a loop turn per delivery). In a py-spy profile of the sending daphne under the
1 → 100 fan-out those two calls cost more than the sends themselves (issue #26).
"""

import functools
import struct

try:
    from autobahn.websocket.protocol import WebSocketProtocol
    from daphne.ws_protocol import WebSocketProtocol as DaphneSocket
    from twisted.internet.tcp import Connection as TCPConnection
except ImportError:  # pragma: no cover - served by another ASGI server
    WebSocketProtocol = DaphneSocket = TCPConnection = None

_TEXT_FINAL = 0x81  # FIN and opcode 1 (text), no extension bits


def text_frame(text: str) -> bytes:
    """The whole unmasked WebSocket text frame carrying `text`, as a server sends it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((_TEXT_FINAL, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _TEXT_FINAL, 126, size)
    else:
        header = struct.pack("!BBQ", _TEXT_FINAL, 127, size)
    return header + payload


def protocol_of(send):
    """The daphne WebSocket protocol `send` writes to, or None (another server, a wrapped send)."""
    if DaphneSocket is None or type(send) is not functools.partial or len(send.args) != 1:
        return None
    protocol = send.args[0]
    return protocol if isinstance(protocol, DaphneSocket) else None


def write(protocol, frame: bytes) -> bool:
    """Write `frame` (from `text_frame`) to `protocol`'s connection, as autobahn would; False
    where autobahn would send other bytes or refuse (the caller then sends through ASGI)."""
    if (
        protocol is None
        or protocol.state != WebSocketProtocol.STATE_OPEN
        or protocol._perMessageCompress is not None
        or protocol.send_queue
        or protocol.autoFragmentSize
        or 0 < protocol.maxMessagePayloadSize < len(frame)
        or protocol.logFrames
        or protocol.logOctets
        or protocol.trackedTimings
        or protocol.maskServerFrames
        or protocol.transport is None
    ):
        return False
    transport_write(protocol.transport, frame)
    return True


def transport_write(transport, data: bytes) -> None:
    """`transport.write(data)`, with the bytes sent at once when the connection is a plain TCP
    one (not TLS) with nothing in Twisted's buffers: what the socket does not take now (a full
    send buffer) is buffered by Twisted as before, after anything sent, so the order stays.
    asyncio's own transports try the send first the same way. An error of the socket is left to
    Twisted: the bytes are handed to `write`, whose send on the reactor's turn meets the error
    again and closes the connection as it always did."""
    # Twisted's private fields are read with defaults that mean "not idle": a release that
    # renames one sends every frame through `transport.write` again, never loses one.
    if (
        isinstance(transport, TCPConnection)
        and getattr(transport, "TLS", True) is False
        and getattr(transport, "connected", False)
        and not getattr(transport, "disconnecting", True)
        and not getattr(transport, "_writeDisconnected", True)
        and getattr(transport, "_tempDataLen", None) == 0
        and getattr(transport, "offset", None) == len(getattr(transport, "dataBuffer", b"x"))
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:  # EAGAIN, ENOBUFS, or a broken connection: Twisted's to handle
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)
