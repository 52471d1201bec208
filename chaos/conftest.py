"""Fault tests (`make chaos`): the production shape against a PostgreSQL cluster, a Redis and an
S3 server of the run's own (testsupport.faults), which the tests stop, freeze and restart.

One set of private services and one shape serve the whole run; every test leaves them running
and answering (the `healthy` fixture checks before and after), so the tests stay independent.
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

from scripts.processes import free_port
from scripts.serve import ROOT, Shape
from testsupport.faults import PrivatePostgres, PrivateRedis, PrivateS3

PASSWORD = "Slozhniy-Parol-2026"


@pytest.fixture(scope="session")
def deps():
    with PrivatePostgres() as pg, PrivateRedis() as redis, PrivateS3() as s3:
        yield {"pg": pg, "redis": redis, "s3": s3}


def app_env(deps, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": deps["pg"].url,
            "REDIS_URL": deps["redis"].url,
            **deps["s3"].env,
            "COOKIE_SECURE": "0",
            "LOG_LEVEL": "WARNING",
            "AUTH_RATE_LIMIT": "10000/min",
            # test_pools opens 200 sockets of one user against the channel layer's pool: over
            # main's per-user socket cap (#19, tested in chats/tests) they would close 4429.
            "WS_MAX_SOCKETS_PER_USER": "1000",
            # The production queue; its worker is started by the tests that need it.
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "STORAGE_DELETE_RETRY_SECONDS": "4",
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def tasks_worker(deps, log_path) -> subprocess.Popen:
    """The django-tasks worker (`manage.py db_worker`) on the private services, polling every
    0.3 s, its output written to `log_path` (the tests read from it what the tasks did). The
    caller stops it (terminate, then wait)."""
    with open(log_path, "wb") as log:  # the worker holds its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "0.3", "--no-startup-delay"],
            cwd=ROOT,
            env=app_env(deps),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def manage(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def migrated(deps):
    result = manage(app_env(deps), "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    return deps


@pytest.fixture(scope="session")
def stack(migrated):
    """nginx → gunicorn ×2 + daphne on the private services."""
    # Kept after the run (the path is printed on failure): what the servers logged.
    log_path = os.environ.get("CHAOS_SHAPE_LOG", os.path.join(tempfile.gettempdir(), "chaos-shape.log"))
    log = open(log_path, "wb")
    with Shape(free_port(), env=app_env(migrated), workers=2, log=log) as shape:
        shape.base = f"http://127.0.0.1:{shape.port}"
        shape.log_path = log_path
        yield shape
    log.close()


def wait_healthy(base: str, timeout: float = 30.0) -> float:
    """Seconds until /api/health answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if requests.get(f"{base}/api/health", timeout=3).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base} not healthy within {timeout}s")


@pytest.fixture
def healthy(stack, deps):
    """Every private service running and unfrozen, before and after the test."""
    for service in deps.values():
        if service.frozen:
            service.resume()
    wait_healthy(stack.base)
    yield stack
    for service in deps.values():
        if service.frozen:
            service.resume()
        if service.process.poll() is not None:
            service.start()
    wait_healthy(stack.base)


def signed_up(base: str) -> dict:
    """A new user: {"id", "access", "headers"}."""
    name = "u" + uuid.uuid4().hex[:12]
    email = f"{name}@example.com"
    created = requests.post(
        f"{base}/api/auth/register", json={"username": name, "email": email, "password": PASSWORD}, timeout=10
    )
    assert created.status_code == 201, created.text
    tokens = requests.post(f"{base}/api/auth/token", json={"email": email, "password": PASSWORD}, timeout=10)
    assert tokens.status_code == 200, tokens.text
    access = tokens.json()["access"]
    return {
        "id": created.json()["new_user"]["id"],
        "access": access,
        "headers": {"Authorization": f"Bearer {access}"},
    }


def chat_between(base: str, owner: dict, other: dict) -> str:
    response = requests.post(
        f"{base}/api/chats/create", json={"users": [other["id"]]}, headers=owner["headers"], timeout=10
    )
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]
