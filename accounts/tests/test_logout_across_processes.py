"""Logout is seen by every server process at once: the ended session is in the database,
read with the user on every request."""

import subprocess
import sys

import pytest

from testsupport.live import ROOT, server_env

ASK_CURRENT_USER = """
import sys, django
django.setup()
from django.test import Client
response = Client().get("/api/auth/current_user", HTTP_HOST="localhost", HTTP_AUTHORIZATION="Bearer " + sys.argv[1])
print(response.status_code)
"""


def status_in_another_process(access: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", ASK_CURRENT_USER, access],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_after_logout_a_second_process_refuses_the_sessions_access_token(client_for, user):
    client = client_for(user)
    access = client.tokens.access
    assert status_in_another_process(access) == 200
    assert client.delete("/api/auth/logout").status_code == 200
    assert status_in_another_process(access) == 401
