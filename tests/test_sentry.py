"""SENTRY_DSN: errors reach Sentry with their request id; without it sentry_sdk is never imported."""

import gzip
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testsupport import live

PROBE = """
import sys
import django
django.setup()
import social.asgi, social.wsgi  # every entry point, as the servers import them
print("sentry_sdk imported:", "sentry_sdk" in sys.modules)
print("sockets wrapped:", type(social.asgi.websocket_app).__name__)
if "sentry_sdk" in sys.modules:
    import sentry_sdk
    from django.test import Client
    from django.test.utils import override_settings
    with override_settings(ROOT_URLCONF="tests.sentry_urls"):
        client = Client(raise_request_exception=False)
        response = client.get("/fails", HTTP_HOST="127.0.0.1", HTTP_X_REQUEST_ID="sentry-req-7")
    print("status:", response.status_code)
    sentry_sdk.flush(10)
"""


@pytest.fixture
def fake_sentry():
    """A local HTTP server standing in for Sentry's ingest: it keeps every envelope's body."""
    received: list[bytes] = []

    class Ingest(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append(body)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://public-key@127.0.0.1:{server.server_port}/1", received
    server.shutdown()
    server.server_close()


def run_probe(**env) -> str:
    environment = live.server_env(**env)
    if "SENTRY_DSN" not in env:
        environment.pop("SENTRY_DSN", None)  # the probe decides, not the caller's shell
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=live.ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_without_a_dsn_nothing_is_imported_and_nothing_sent(fake_sentry):
    _, received = fake_sentry
    output = run_probe(LOG_LEVEL="CRITICAL")
    assert "sentry_sdk imported: False" in output
    assert "sockets wrapped: TokenAuthMiddleware" in output
    assert received == []


def test_with_a_dsn_an_unhandled_error_reaches_sentry_with_its_request_id(fake_sentry):
    dsn, received = fake_sentry
    output = run_probe(SENTRY_DSN=dsn, LOG_LEVEL="CRITICAL")
    assert "sentry_sdk imported: True" in output
    # Channels 4's consumers are outside the Django integration: sentry-sdk's ASGI middleware.
    assert "sockets wrapped: SentryAsgiMiddleware" in output
    assert "status: 500" in output
    events = [body for body in received if b"a failure for Sentry" in body]
    assert len(events) == 1
    assert b'"request_id":"sentry-req-7"' in events[0].replace(b" ", b"")
    assert b"RuntimeError" in events[0]
