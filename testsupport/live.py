"""Real server processes for live tests: they use the test database and stop before it goes."""

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from django.conf import settings

from scripts.serve import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_database_url() -> str:
    """DATABASE_URL of the database pytest-django created (its NAME now is test_…)."""
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_env(**extra) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.update({key: str(value) for key, value in extra.items()})
    return env


def wait_http(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextmanager
def running(command: list[str], health_url: str, env: dict, timeout: float = 30.0, log_path: Path | None = None):
    """Run a server process until the block ends. Its output goes to `log_path` (kept, for a
    test to read) or a temporary file, and is shown if the server does not come up."""
    log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_http(health_url, timeout, process)
        except Exception:
            log.seek(0)
            raise RuntimeError(log.read().decode(errors="replace")[-4000:]) from None
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def daphne(log_path: Path | None = None, **env_extra):
    """A live daphne on a free port serving social.asgi; yields its address (host:port)."""
    port = free_port()
    command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "social.asgi:application"]
    with running(command, f"http://127.0.0.1:{port}/api/health", server_env(**env_extra), log_path=log_path):
        yield f"127.0.0.1:{port}"
