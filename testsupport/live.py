"""Real server processes for live tests: they use the test database and stop before it goes."""

import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from scripts.processes import daphne_command, free_port, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """DATABASE_URL of the database pytest-django created (its NAME now is test_…)."""
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_env(**extra) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.update({key: str(value) for key, value in extra.items()})
    return env


@contextmanager
def running(command: list[str], health_url: str, env: dict, timeout: float = 30.0, log_path: Path | None = None):
    """Run a server process until the block ends. Its output goes to `log_path` (kept, for a
    test to read) or a temporary file, and is shown if the server does not come up."""
    log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_http(health_url, timeout=timeout, processes=[process], status=None)
        except Exception:
            log.seek(0)
            raise RuntimeError(log.read().decode(errors="replace")[-4000:]) from None
        yield process
    finally:
        stop([process])
        log.close()


@contextmanager
def daphne(log_path: Path | None = None, **env_extra):
    """A live daphne on a free port serving social.asgi; yields its address (host:port)."""
    port = free_port()
    health = f"http://127.0.0.1:{port}/api/health"
    with running(daphne_command(port), health, server_env(**env_extra), log_path=log_path):
        yield f"127.0.0.1:{port}"
