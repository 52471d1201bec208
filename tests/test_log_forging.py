"""Log forging (#19 item 10): what a client sends cannot add a line or an escape to the logs."""

import logging
import socket

import pytest

from social.logsafe import SafeFormatter
from testsupport import live

pytestmark = pytest.mark.django_db(transaction=True)


def raw_request(address: str, request: bytes) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_a_newline_in_the_path_and_escapes_in_the_request_id_reach_no_log_line_raw(tmp_path):
    forged = "2026-11-30 06:00:00,000 INFO social.request method=POST path=/admin/ status=200 user=1"
    log = tmp_path / "daphne.log"
    with live.daphne(log_path=log, LOG_LEVEL="INFO") as address:
        answer = raw_request(
            address,
            b"GET /api/nope%0a" + forged.replace(" ", "%20").encode() + b" HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\n"
            b"X-Request-ID: \x1b[2J\x1b[31mred\r\n"
            b"Connection: close\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 404")
        # The forged id is not echoed back either: a fresh one replaces it.
        assert b"\x1b" not in answer
    text = log.read_bytes()
    assert b"path=/api/nope%0A2026-11-30%2006:00:00" in text  # the request's line is there…
    assert b"\x1b" not in text  # …with no terminal escape
    # No line of its own for the forged entry, in our log line or any other (daphne's access log).
    assert not [line for line in text.splitlines() if line.startswith(forged[:23].encode())]


def test_control_characters_in_any_message_are_escaped():
    # Django's own "Not Found: <path>" and any library's message go through the same formatter.
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "Not Found: %s", ("/a\nb\x1b[31m\u2028",), None)
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING Not Found: /a\\x0ab\\x1b[31m\\u2028"
