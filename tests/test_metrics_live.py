"""`/api/metrics` scraped from the live production shape (`make serve`'s code): the numbers
move by the traffic sent, summed over every gunicorn worker and the daphne, and the proxy and
the app judge who may read them."""

import asyncio
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import websockets
from prometheus_client.parser import text_string_to_metric_families

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats.services import chat_create
from scripts.processes import wait_http
from scripts.serve import Shape, free_port, nginx_binary, render_nginx
from social.exceptions import Forbidden
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

TOKEN = "live-scraper-token-1234"


@pytest.fixture
def shape():
    # Only 127.0.0.1 may scrape without the token: 127.0.0.2 plays a client from elsewhere.
    env = live.server_env(COOKIE_SECURE=0, METRICS_ALLOWED_CIDRS="127.0.0.1/32", METRICS_TOKEN=TOKEN)
    with Shape(free_port(), env=env, workers=2) as running:
        yield running


def get_from(source_ip: str, port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source_ip, 0))
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def scrape(port: int) -> dict:
    response = requests.get(f"http://127.0.0.1:{port}/api/metrics", timeout=10)
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def test_the_numbers_move_by_the_traffic_sent_summed_over_every_process(shape):
    base = f"http://127.0.0.1:{shape.port}"
    sender, receiver = UserFactory(), UserFactory()
    chat, _ = chat_create(creator=sender, user_ids=[receiver.pk])
    before = scrape(shape.port)

    # 40 requests over a keep-alive-less client: nginx spreads them over both workers.
    for _ in range(40):
        assert requests.get(f"{base}/api/health", timeout=10).status_code == 200
    for _ in range(3):
        assert requests.get(f"{base}/api/posts/all", timeout=10).status_code == 401

    ws = f"ws://127.0.0.1:{shape.port}/api/chats/ws/{chat.id}"
    tokens = [session_start(user=user).access for user in (sender, receiver)]

    async def exchange():
        async with (
            websockets.connect(f"{ws}/{sender.id}?token={tokens[0]}", open_timeout=10) as first,
            websockets.connect(f"{ws}/{receiver.id}?token={tokens[1]}", open_timeout=10) as second,
        ):
            await first.send(json.dumps({"message": "счёт"}))
            for socket in (first, second):
                await asyncio.wait_for(socket.recv(), 10)
            await first.send("not json")
            await asyncio.wait_for(first.recv(), 10)
            # The daphne's pool is sampled every 2 s: wait for a sample while the sockets are open.
            await asyncio.sleep(2.5)
            return await asyncio.to_thread(scrape, shape.port)

    during = asyncio.run(exchange())
    time.sleep(0.5)  # the close reaches daphne's handler
    after = scrape(shape.port)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("social_http_requests_total", route="api/health", method="GET", status="200") == 40
    assert moved("social_http_request_duration_seconds_count", route="api/health", method="GET") == 40
    assert moved("social_http_requests_total", route="api/posts/all", method="GET", status="401") == 3
    # Counted by the daphne, shown by whichever gunicorn worker answered the scrape.
    assert (
        value(during, "social_websockets_open", kind="chat") - value(before, "social_websockets_open", kind="chat") == 2
    )
    assert value(after, "social_websockets_open", kind="chat") == value(before, "social_websockets_open", kind="chat")
    assert moved("social_websocket_frames_total", direction="in") == 2
    assert moved("social_websocket_frames_total", direction="out") == 3  # the message twice, one error frame
    assert moved("social_messages_stored_total") == 1
    assert moved("social_channel_layer_send_seconds_count") >= 1
    assert (
        value(during, "social_db_pool_connections", state="in_use")
        + value(during, "social_db_pool_connections", state="idle")
        >= 1
    )


def test_a_client_from_elsewhere_gets_a_json_403_unless_it_brings_the_token(shape):
    status, headers, body = get_from("127.0.0.2", shape.port, "/api/metrics")
    assert status == 403
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"detail": Forbidden.default_message}
    # A forged X-Forwarded-For is replaced by the proxy: still the real address.
    status, _, _ = get_from("127.0.0.2", shape.port, "/api/metrics", {"X-Forwarded-For": "127.0.0.1"})
    assert status == 403
    status, _, _ = get_from("127.0.0.2", shape.port, "/api/metrics", {"Authorization": "Bearer wrong"})
    assert status == 403
    status, _, body = get_from("127.0.0.2", shape.port, "/api/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert b"social_http_requests_total" in body


def test_the_request_id_is_kept_when_well_formed_and_replaced_otherwise(shape):
    base = f"http://127.0.0.1:{shape.port}/api/health"
    kept = requests.get(base, headers={"X-Request-ID": "abc-123.def:9"}, timeout=10)
    assert kept.headers["X-Request-ID"] == "abc-123.def:9"
    for bad in ("with space", "x" * 65, "line\\nforged", "юникод"):
        response = requests.get(base, headers={"X-Request-ID": bad.encode("utf-8")}, timeout=10)
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] not in (bad, "")
    assert requests.get(base, timeout=10).headers["X-Request-ID"]


@pytest.fixture
def proxy_before_a_stub_app():
    """deploy/nginx.conf.template in front of a stub upstream that answers "app" to everything,
    with only 127.0.0.1 counted as this machine (127.0.0.2 then plays a client from elsewhere)."""

    class App(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"app")

        def do_POST(self):
            # Read what the proxy let through, so the answer is the app's, not a reset.
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                remaining -= len(self.rfile.read(min(remaining, 1 << 20)))
            self.do_GET()

        def do_PATCH(self):
            self.do_POST()

        def log_message(self, *args):
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    run_dir = tempfile.mkdtemp(prefix="social-nginx-test-")
    os.chmod(run_dir, 0o755)
    port = free_port()
    app = f"127.0.0.1:{upstream.server_port}"
    config = render_nginx(listen=f"127.0.0.1:{port}", api=app, ws=app, run_dir=run_dir)
    assert "127.0.0.0/8 1;" in config
    config_path = Path(run_dir) / "nginx.conf"
    config_path.write_text(config.replace("127.0.0.0/8 1;", "127.0.0.1/32 1;"))
    nginx = subprocess.Popen(
        [nginx_binary(), "-p", run_dir, "-c", str(config_path), "-e", "stderr", "-g", "daemon off;"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health", processes=[nginx])
        yield port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_the_proxy_refuses_the_metrics_to_a_client_from_elsewhere_without_a_bearer_token(proxy_before_a_stub_app):
    port = proxy_before_a_stub_app
    for path in ("/api/metrics", "/api/metrics/", "/api/metrics?format=text"):
        status, headers, body = get_from("127.0.0.2", port, path)
        assert status == 403
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body) == {"detail": Forbidden.default_message}
    # With a bearer token the app decides (it checks the token); from this machine too.
    assert get_from("127.0.0.2", port, "/api/metrics", {"Authorization": "Bearer some-token"})[2] == b"app"
    assert get_from("127.0.0.1", port, "/api/metrics")[2] == b"app"
    # Only the metrics are fenced.
    assert get_from("127.0.0.2", port, "/api/health")[2] == b"app"


MB = 1024 * 1024


def body_answer(port: int, method: str, path: str, length: int) -> int:
    """The status of a `method` to `path` that announces a body of `length` bytes. The body is
    sent only when it fits the route's limit in the app (`body_limit_for`): a refused one is
    answered 413 from its Content-Length alone, before any of it is sent."""
    from social.middleware import body_limit_for

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path)
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        if length <= body_limit_for(path):
            chunk = b"x" * MB
            for start in range(0, length, MB):
                connection.send(chunk[: min(MB, length - start)])
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_proxy_body_limits_of_chat_uploads_are_the_apps(proxy_before_a_stub_app):
    """deploy/nginx.conf.template carries the figures of social/middleware.py for the chat
    routes with an id in the path: a message's photos (41 MB), a chat's avatar (11 MB), and
    1 MB on the chat's other routes."""
    port = proxy_before_a_stub_app
    chat = "0b7d4b2e-8a43-4f7a-9a51-3c1f0c2d9e10"
    cases = [
        ("POST", f"/api/chats/{chat}/messages", 40 * MB, 200),
        ("POST", f"/api/chats/{chat}/messages/", 42 * MB, 413),
        ("PATCH", f"/api/chats/{chat}", 10 * MB, 200),
        ("PATCH", f"/api/chats/{chat}/", 12 * MB, 413),
        ("POST", f"/api/chats/{chat}/read", 2 * MB, 413),
        ("POST", f"/api/chats/{chat}/members", 2 * MB, 413),
    ]
    for method, path, length, expected in cases:
        assert body_answer(port, method, path, length) == expected, (method, path, length)
