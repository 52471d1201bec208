"""Let an application close a daphne WebSocket with 1009 (message too big).

RFC 6455 lets an endpoint close with 1009 when it "has received a message that is too big
for it to process", and the contract promises 1009 for frames over 64 KB. daphne passes the
ASGI close code to autobahn's `sendClose`, which accepts only 1000 and 3000-4999 from an
application, raises, and the client sees 1011. daphne's own `--websocket-max-message-size`
is no way out either: autobahn then drops the TCP connection without any close frame (1006).
So daphne keeps its default 1 MB bound (memory), the consumer refuses frames over 64 KB, and
this sends the 1009 close frame through autobahn's lower-level `sendCloseFrame` (same state
handling, no code filter). Every other code still goes through daphne's own path.
"""

PROTOCOL_CLOSE_CODES = frozenset({1009})


def allow_protocol_close_codes() -> None:
    """Patch daphne's WebSocket protocol once; a no-op where daphne is not installed."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # pragma: no cover - served by another ASGI server
        return
    if getattr(WebSocketProtocol, "_chats_close_codes", False):
        return
    original = WebSocketProtocol.serverClose

    def server_close(self, code=None):
        if code in PROTOCOL_CLOSE_CODES and self.state == self.STATE_OPEN:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code=code)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol._chats_close_codes = True
