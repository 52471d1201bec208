"""Server processes, one copy for `make serve` (scripts/serve.py), the live tests
(testsupport/live.py) and the bench (bench/): a free port, daphne's command line, waiting for
an HTTP answer, and stopping what was started."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A burst of handshakes (every client of a restarted daphne reconnecting) queues past daphne's
# 5 s default on a busy machine: a slow handshake beats a dropped one (nginx 502, measured: 35
# of 200 under load). docker-compose.yml passes the same.
WS_CONNECT_TIMEOUT = 20


def daphne_command(port: int, *, websocket_connect_timeout: int = WS_CONNECT_TIMEOUT) -> list[str]:
    """One daphne serving the whole API (social.asgi) on 127.0.0.1:`port`.

    Our own lines (social.request, social.socket) replace daphne's access log, which is neither
    JSON with LOG_FORMAT=json nor carries the request id."""
    return [
        *(str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port)),
        *("--websocket_connect_timeout", str(websocket_connect_timeout)),
        *("--access-log", os.devnull, "social.asgi:application"),
    ]


def wait_http(
    url: str, *, timeout: float = 60.0, processes: Iterable[subprocess.Popen] = (), status: int | None = 200
) -> None:
    """Wait until `url` answers `status` (None: any HTTP answer). RuntimeError as soon as one of
    `processes` (the servers behind it) has exited; TimeoutError after `timeout` seconds."""
    processes = list(processes)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if status is None or response.status == status:
                    return
        except urllib.error.HTTPError as error:
            if status is None or error.code == status:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {status or ''} within {timeout}s")


def stop(processes: Iterable[subprocess.Popen], *, timeout: float = 10.0) -> None:
    """SIGTERM every process still running, then wait for them all; kill what is left after
    `timeout` seconds."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
