import logging
import os
import subprocess
import sys

import pytest

from testsupport.live import ROOT


def env_example() -> dict:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_check_deploy_reports_nothing_with_the_production_values_of_env_example():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "DATABASE", "REDIS"))}
    env.update(env_example())
    env.pop("STATIC_MANIFEST", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


@pytest.mark.django_db
def test_request_logs_carry_no_token_cookie_or_password(client_for, user, caplog, password):
    client = client_for(user)
    access = client.tokens.access
    with caplog.at_level(logging.DEBUG):
        client.get(f"/api/auth/current_user?token={access}")
        client.cookies["access_token"] = access
        client.post("/api/auth/login", {"email": user.email, "password": password}, format="json")
        client.post("/api/auth/token", {"email": user.email, "password": password}, format="json")
    text = caplog.text
    assert "path=/api/auth/current_user " in text  # the request line is there…
    assert access not in text  # …without the token in any form
    assert password not in text
    assert client.tokens.refresh not in text
