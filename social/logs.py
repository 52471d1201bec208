"""Log lines a machine can read, and one request id through a request.

- `request_id_accept(raw)`: the client's (or the proxy's) `X-Request-ID` when it is well formed,
  else a new one. A malformed or oversized value is never kept, so it never reaches a log.
- The current request id lives in a context variable: every line logged while a request (or a
  socket event) is handled carries it, and Sentry's events too (social/sentry.py).
- `LOG_FORMAT=json` (settings.LOGGING) formats each record as one JSON object per line: time,
  level, logger, message, and the request fields given as `extra` (request_id, user_id, route,
  status, duration_ms, and the socket's event/code). The default stays the readable line.
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

# Letters, digits and `._:-`: what request-id generators produce (UUIDs, nginx's hex ids), and
# nothing that could forge a log line or break a JSON one.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Fields a record may carry through `extra=` that the JSON line shows.
REQUEST_FIELDS = (
    "request_id",
    "user_id",
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "event",
    "code",
    "chat_id",
)


def request_id_accept(raw: str | bytes | None) -> str:
    """`raw` when it is a well-formed request id, else a new random one."""
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    if raw and _WELL_FORMED.fullmatch(raw):
        return raw
    return uuid.uuid4().hex


def request_id_from_scope(scope: dict) -> str:
    """The request id of an ASGI connection (a WebSocket handshake), from its headers."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return request_id_accept(value)
    return request_id_accept(None)


def request_id_set(request_id: str) -> contextvars.Token:
    return _current.set(request_id)


def request_id_reset(token: contextvars.Token) -> None:
    _current.reset(token)


def request_id_current() -> str:
    return _current.get()


class RequestIdFilter(logging.Filter):
    """Give every record the current request id unless it carries its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in REQUEST_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
