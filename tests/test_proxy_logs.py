"""No log line of the production shape carries an access token (issue #19 item 4).

The attack: a WebSocket handshake authenticated by `?token=` that fails upstream; nginx's error
log names the request line, query string included."""

import asyncio
import signal

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from chats.services import chat_create
from scripts.serve import Shape, free_port
from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_a_token_handshake_that_fails_upstream_leaves_no_token_in_any_log(tmp_path):
    sender, other = UserFactory(), UserFactory()
    chat, _ = chat_create(creator=sender, user_ids=[other.pk])
    token = session_start(user=sender).access
    log_path = tmp_path / "shape.log"
    with (
        open(log_path, "wb") as log,
        Shape(free_port(), env=live.server_env(COOKIE_SECURE=0), workers=1, log=log) as shape,
    ):
        daphne = next(p for p in shape.processes if "daphne" in p.args[0])
        daphne.send_signal(signal.SIGKILL)  # our own child: the socket server falls mid-way
        daphne.wait()
        url = f"ws://127.0.0.1:{shape.port}/api/chats/ws/{chat.id}/{sender.id}?token={token}"

        async def handshake():
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(url, open_timeout=10)
            return refused.value.response.status_code

        assert asyncio.run(handshake()) in (502, 503)

    logged = log_path.read_text(errors="replace")
    assert "while connecting to upstream" in logged  # nginx did log the failed handshake…
    assert token not in logged and token.split(".")[2] not in logged  # …without the token
    assert "token=[redacted]" in logged


def test_compose_runs_the_same_redactor_on_nginxs_output(tmp_path):
    import yaml

    from tests.test_compose import compose_config

    rendered = compose_config(tmp_path, SECRET_KEY="a-key", S3_SECRET="an-s3-password")
    proxy = yaml.safe_load(rendered.stdout)["services"]["proxy"]

    assert proxy["command"][-1].endswith("2>&1 | awk -f /etc/nginx/redact-tokens.awk")
    assert any("redact-tokens.awk" in str(volume) for volume in proxy["volumes"])
