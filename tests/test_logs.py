"""Request ids and LOG_FORMAT=json: one id through a request or a socket, lines a machine reads."""

import asyncio
import json
import logging

import pytest
import requests
import websockets

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats.services import chat_create
from social.logs import request_id_accept
from testsupport import live


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("a" * 64, True),
        ("req.1:2_3-4", True),
        ("", False),
        ("a" * 65, False),
        ("two words", False),
        ("forged\nINFO fake line", False),
        ('quote"brace}', False),
        ("юникод", False),
        (b"\xff\xfe", False),
    ],
)
def test_a_request_id_is_kept_only_when_well_formed(raw, kept):
    accepted = request_id_accept(raw)
    assert (accepted == raw) is kept
    assert accepted and len(accepted) <= 64


@pytest.mark.django_db
def test_a_malformed_request_id_is_replaced_and_never_logged(anon_client, caplog):
    forged = "x" * 70 + " status=200 user=admin"
    with caplog.at_level(logging.INFO, logger="social.request"):
        response = anon_client.get("/api/health", HTTP_X_REQUEST_ID=forged)
        kept = anon_client.get("/api/health", HTTP_X_REQUEST_ID="client-id-42")
    assert response["X-Request-ID"] != forged
    assert forged not in caplog.text and "x" * 65 not in caplog.text
    assert kept["X-Request-ID"] == "client-id-42"
    record = caplog.records[-1]
    assert (record.request_id, record.route, record.status) == ("client-id-42", "api/health", 200)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_json_logs_are_one_object_per_line_for_rest_and_sockets(tmp_path):
    user, other = UserFactory(), UserFactory()
    chat, _ = chat_create(creator=user, user_ids=[other.pk])
    token = session_start(user=user).access
    log_path = tmp_path / "daphne.log"
    # daphne_command, as scripts/serve.py runs it: our lines replace daphne's access log.
    with live.daphne(log_path=log_path, LOG_FORMAT="json", LOG_LEVEL="INFO") as address:
        assert requests.get(f"http://{address}/api/health", headers={"X-Request-ID": "rest-1"}, timeout=10).ok
        me = requests.get(
            f"http://{address}/api/auth/current_user",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "rest-2"},
            timeout=10,
        )
        assert me.status_code == 200

        async def socket():
            url = f"ws://{address}/api/chats/ws/{chat.id}/{user.id}?token={token}"
            async with websockets.connect(url, additional_headers={"X-Request-ID": "sock-1"}, open_timeout=10) as ws:
                await ws.send("not json")
                await asyncio.wait_for(ws.recv(), 10)

        asyncio.run(socket())
        # The close is handled after the client's side returns.
        for _ in range(50):
            if '"event": "close"' in log_path.read_text():
                break
            asyncio.run(asyncio.sleep(0.1))

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    by_id = {}
    for record in records:
        by_id.setdefault(record.get("request_id"), []).append(record)

    (health,) = [r for r in by_id["rest-1"] if r["logger"] == "social.request"]
    assert health["route"] == "api/health" and health["status"] == 200 and health["method"] == "GET"
    assert health["user_id"] == "-" and isinstance(health["duration_ms"], float)
    (current,) = [r for r in by_id["rest-2"] if r["logger"] == "social.request"]
    assert current["user_id"] == str(user.pk) and current["status"] == 200

    events = [r["event"] for r in by_id["sock-1"] if r["logger"] == "social.socket"]
    assert events == ["connect", "error", "close"]
    socket_lines = [r for r in by_id["sock-1"] if r["logger"] == "social.socket"]
    assert all(r["user_id"] == str(user.pk) and r["chat_id"] == str(chat.id) for r in socket_lines)
    assert token not in log_path.read_text()
