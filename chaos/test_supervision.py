"""`make serve`'s supervisor (scripts/serve.py) and the proxy's own errors."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websockets

from chaos.conftest import app_env, chat_between, signed_up, wait_healthy
from scripts.processes import free_port
from scripts.serve import ROOT, nginx_binary, render_nginx

pytestmark = pytest.mark.chaos


def children(pid: int) -> dict[int, str]:
    """{pid: command line} of a process's direct children."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                pass
    return found


def daphnes(pid: int) -> list[int]:
    return sorted(child for child, command in children(pid).items() if "daphne" in command)


async def handshake_ok(url: str) -> bool:
    async with websockets.connect(url, open_timeout=10) as socket:
        try:
            await asyncio.wait_for(socket.recv(), 0.5)
        except TimeoutError:
            return True  # open and quiet
        except websockets.ConnectionClosed:
            return False
    return True


def test_a_killed_daphne_is_restarted_and_its_clients_reconnect_to_the_other(migrated, tmp_path):
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "scripts.serve", str(port)],
            cwd=ROOT,
            env=app_env(migrated, WS_PROCESSES=2, WEB_CONCURRENCY=1),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(base, timeout=60)
        except TimeoutError:
            raise AssertionError(log_path.read_text(errors="replace")[-3000:]) from None
        owner, other = signed_up(base), signed_up(base)
        chat_id = chat_between(base, owner, other)
        url = f"ws://127.0.0.1:{port}/api/chats/ws/{chat_id}/{owner['id']}?token={owner['access']}"
        before = daphnes(serve.pid)
        assert len(before) == 2

        os.kill(before[0], signal.SIGKILL)
        # At once: REST answers, and a reconnecting client reaches the other daphne.
        assert requests.get(f"{base}/api/health/live", timeout=5).status_code == 200
        assert all(asyncio.run(handshake_ok(url)) for _ in range(4))

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(daphnes(serve.pid)) < 2:
            time.sleep(0.2)
        after = daphnes(serve.pid)
        assert len(after) == 2 and before[0] not in after
        assert serve.poll() is None  # make serve kept running
        wait_healthy(base)
        assert all(asyncio.run(handshake_ok(url)) for _ in range(4))
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    output = log_path.read_text(errors="replace")
    assert f"(pid {before[0]}) exited with -9; restarting in 1s" in output
    assert "daphne-1 restarted" in output
    assert serve.returncode == 0


def test_the_proxys_own_502_and_504_answer_a_json_503_with_retry_after(tmp_path):
    port = free_port()
    (tmp_path / "nginx.conf").write_text(
        render_nginx(
            listen=f"127.0.0.1:{port}",
            api=f"unix:{tmp_path / 'nobody.sock'}",  # no gunicorn: 502
            ws=f"127.0.0.1:{free_port()}",  # no daphne: 502
            run_dir=str(tmp_path),
        )
    )
    os.chmod(tmp_path, 0o755)
    nginx = subprocess.Popen(
        [nginx_binary(), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                rest = requests.get(f"http://127.0.0.1:{port}/api/posts/all", timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        socket = requests.get(
            f"http://127.0.0.1:{port}/api/chats/ws/x/y",
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            timeout=5,
        )
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    for response in (rest, socket):
        assert response.status_code == 503
        assert response.json() == {"detail": "Сервис временно недоступен."}
        assert int(response.headers["Retry-After"]) > 0
