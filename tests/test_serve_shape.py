"""The production shape (nginx → gunicorn + daphne), started by the code `make serve` uses."""

import http.client
import json

import pytest
import requests
from django.conf import settings

from accounts.tests.factories import PASSWORD, UserFactory
from scripts.serve import Shape, free_port
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shape():
    with Shape(free_port(), env=live.server_env(COOKIE_SECURE=0), workers=2) as running:
        yield running


def post_from(source_ip: str, port: int, path: str, body: dict, headers: dict | None = None) -> int:
    """POST from a chosen loopback address: the client IP nginx sees is `source_ip`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source_ip, 0))
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **(headers or {})})
        return connection.getresponse().status
    finally:
        connection.close()


def test_rest_and_cookie_login_with_csrf_through_the_one_address(shape):
    user = UserFactory()
    base = f"http://127.0.0.1:{shape.port}"
    assert requests.get(f"{base}/api/health", timeout=10).json()["status"] == "ok"
    session = requests.Session()
    login = session.post(f"{base}/api/auth/login", json={"email": user.email, "password": PASSWORD}, timeout=10)
    assert login.status_code == 200
    assert session.get(f"{base}/api/auth/current_user", timeout=10).json()["id"] == str(user.id)
    csrf = session.cookies["csrftoken"]
    refused = session.patch(f"{base}/api/auth/current_user", json={"username": "via_proxy"}, timeout=10)
    assert refused.status_code == 403
    accepted = session.patch(
        f"{base}/api/auth/current_user",
        json={"username": "via_proxy"},
        headers={"X-CSRFToken": csrf, "Referer": f"{base}/"},
        timeout=10,
    )
    assert accepted.status_code == 200
    assert accepted.json()["username"] == "via_proxy"


def test_the_throttle_sees_the_real_client_ip_not_the_proxy_nor_a_forged_header(shape):
    user = UserFactory()
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    wrong = {"email": user.email, "password": "wrong"}
    for n in range(limit):
        # A forged X-Forwarded-For is replaced by nginx with the address it saw.
        status = post_from("127.0.0.2", shape.port, "/api/auth/login", wrong, {"X-Forwarded-For": f"10.1.1.{n}"})
        assert status == 401
    assert post_from("127.0.0.2", shape.port, "/api/auth/login", wrong, {"X-Forwarded-For": "10.9.9.9"}) == 429
    # Another client behind the same proxy has its own bucket.
    right = {"email": user.email, "password": PASSWORD}
    assert post_from("127.0.0.3", shape.port, "/api/auth/login", right) == 200


def test_a_body_over_the_proxy_limit_is_refused_before_the_app(shape):
    response = requests.post(
        f"http://127.0.0.1:{shape.port}/api/auth/login",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "Слишком большой запрос."}


def test_a_chat_message_through_the_one_address(shape):
    import asyncio

    import websockets

    from accounts.services import session_start
    from chats.services import chat_create

    sender, receiver = UserFactory(), UserFactory()
    chat, _ = chat_create(creator=sender, user_ids=[receiver.pk])
    base = f"ws://127.0.0.1:{shape.port}/api/chats/ws/{chat.id}"

    sender_token = session_start(user=sender).access
    receiver_token = session_start(user=receiver).access

    async def exchange():
        async with (
            websockets.connect(f"{base}/{sender.id}?token={sender_token}", open_timeout=10) as first,
            websockets.connect(
                f"{base}/{receiver.id}",
                additional_headers={"Authorization": f"Bearer {receiver_token}"},
                open_timeout=10,
            ) as second,
        ):
            await first.send(json.dumps({"message": "привет через nginx"}))
            return [json.loads(await asyncio.wait_for(s.recv(), 10)) for s in (first, second)]

    echoed, delivered = asyncio.run(exchange())
    assert echoed == delivered
    assert delivered["message"] == "привет через nginx"
    assert delivered["user"]["id"] == str(sender.id)
    assert isinstance(delivered["id"], int)


def test_a_second_shape_runs_beside_the_first_and_each_stops_everything_it_started(shape):
    second = Shape(free_port(), env=live.server_env(COOKIE_SECURE=0), workers=1)
    with second:
        for port in (shape.port, second.port):
            assert requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code == 200
    assert all(process.poll() is not None for process in second.processes)  # no orphans
    assert requests.get(f"http://127.0.0.1:{shape.port}/api/health", timeout=10).status_code == 200
