"""The embedded default (`make run`: one daphne on SQLite) under a few concurrent writers."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from chaos.conftest import signed_up
from scripts.processes import daphne_command, free_port
from scripts.serve import ROOT
from testsupport.live import running

pytestmark = pytest.mark.chaos

WRITERS = 4
TOGGLES = 40


def embedded_env(tmp_path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        {
            "DEBUG": "1",  # as `make run`: its HTML debug page is what "database is locked" showed
            "SECRET_KEY": "chaos-sqlite",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "AUTH_RATE_LIMIT": "10000/min",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def test_concurrent_likes_on_sqlite_never_answer_database_is_locked(tmp_path):
    env = embedded_env(tmp_path)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, timeout=180
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(daphne_command(port), f"{base}/api/health/live", env):
        users = [signed_up(base) for _ in range(WRITERS)]
        posts = []
        for user in users:
            created = requests.post(
                f"{base}/api/posts/create",
                data={"author": user["id"], "description": "sqlite"},
                headers=user["headers"],
                timeout=30,
            )
            assert created.status_code == 201, created.text[:500]
            posts.append(created.json()["id"])

        def writer(user) -> list[int]:
            statuses = []
            with requests.Session() as session:
                for n in range(TOGGLES):
                    post = posts[n % len(posts)]
                    response = session.patch(
                        f"{base}/api/posts/{post}/like/{user['id']}", headers=user["headers"], timeout=60
                    )
                    statuses.append(response.status_code)
                    if response.status_code != 200:
                        statuses.append(response.text[:200])
            return statuses

        with ThreadPoolExecutor(WRITERS) as pool:
            results = [status for statuses in pool.map(writer, users) for status in statuses]
    assert results.count(200) == WRITERS * TOGGLES, [status for status in results if status != 200][:6]
