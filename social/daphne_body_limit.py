"""The body limit of a route, enforced by daphne while the body streams in.

`social.middleware.BodySizeLimitMiddleware` refuses a body by its `Content-Length`. A chunked
body has none: under gunicorn (WSGI) Django then reads no body at all, but daphne (the embedded
default, `make run`) receives the whole body into a temporary file before the application sees
a byte, and Django reads it all again: a chunked upload of any size filled the disk. Here
daphne's request counts the body's bytes as they arrive, for chunked and sized bodies alike;
past the route's limit (`social.middleware.body_limit_for`) it answers the same JSON 413,
stores nothing more and never calls the application. Like nginx, it then keeps reading (and
dropping) what the client still sends for a moment before it closes, so that the client reads
the 413 rather than a connection reset.
"""

import json
from urllib.parse import unquote, urlsplit

from social.errors import TOO_LARGE_MESSAGE
from social.middleware import body_limit_for

LINGER_SECONDS = 2.0


def _refusal() -> bytes:
    body = json.dumps({"detail": TOO_LARGE_MESSAGE}, ensure_ascii=False).encode()
    head = (
        "HTTP/1.1 413 Request Entity Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def enforce_body_limits() -> None:
    """Patch daphne's HTTP request once; a no-op where daphne is not installed."""
    try:
        from daphne.http_protocol import WebRequest
        from twisted.internet import reactor
    except ImportError:  # pragma: no cover - served by another ASGI server
        return
    if getattr(WebRequest, "_social_body_limits", False):
        return
    original_chunk = WebRequest.handleContentChunk
    original_process = WebRequest.process

    def handle_content_chunk(self, data):
        if getattr(self, "_social_refused", False):
            return  # dropped: nothing more is stored
        received = getattr(self, "_social_received", 0) + len(data)
        self._social_received = received
        path = unquote(urlsplit(getattr(self.channel, "_path", b"/").decode("latin-1")).path)
        if received > body_limit_for(path):
            self._social_refused = True
            self.content.close()
            transport = self.channel.transport
            transport.write(_refusal())
            reactor.callLater(LINGER_SECONDS, transport.loseConnection)
            return
        original_chunk(self, data)

    def process(self):
        if getattr(self, "_social_refused", False):
            return None  # answered already; the application never sees this request
        return original_process(self)

    WebRequest.handleContentChunk = handle_content_chunk
    WebRequest.process = process
    WebRequest._social_body_limits = True
