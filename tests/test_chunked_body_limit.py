"""A chunked body is held to its route's limit on the embedded default (#19 item 15)."""

import json
import select
import socket
import time

import pytest

from testsupport import live

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024


def chunked_post(address: str, path: str, total: int, chunk: int = 64 * 1024) -> tuple[bytes, float]:
    """POST `total` bytes to `path` in chunks; (the answer, seconds until it came). Stops
    sending as soon as the server answers."""
    host, port = address.split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=20) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        )
        sent = 0
        answered = False
        try:
            while sent < total:
                if select.select([connection], [], [], 0)[0]:
                    answered = True  # the server answered before the body ended
                    break
                piece = b"x" * min(chunk, total - sent)
                connection.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            if not answered:
                connection.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while data := connection.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    return answer, time.monotonic() - started


def _status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_chunked_body_over_the_limit_is_413_before_it_is_all_sent():
    with live.daphne() as address:
        # 50 MB at a 1 MB route: refused once past 1 MB, not after 50 MB were stored.
        answer, _ = chunked_post(address, "/api/auth/login", 50 * MB)
        status, body = _status_and_body(answer)
        assert status == 413, answer[:300]
        assert json.loads(body) == {"detail": "Слишком большой запрос."}

        # An upload route has its own, larger limit: 2 MB in chunks reach the view (400: no author).
        answer, _ = chunked_post(address, "/api/posts/create", 2 * MB)
        assert _status_and_body(answer)[0] in (400, 401, 415), answer[:300]

        # The server still serves after a refusal.
        answer, _ = chunked_post(address, "/api/auth/login", 100)
        assert _status_and_body(answer)[0] in (400, 415), answer[:300]
