"""`make serve` sends what the README says with DEBUG off (issue #19 item 14): Secure cookies,
and HSTS wherever TLS is in front. It used to force COOKIE_SECURE=0, and HSTS went out only
with SECURE_SSL_REDIRECT."""

import subprocess

import pytest
import requests

from accounts.tests.factories import PASSWORD, UserFactory
from scripts.serve import Shape, free_port
from testsupport import live
from testsupport.live import ROOT


def test_make_serve_leaves_the_cookie_flags_to_the_settings():
    env = {key: value for key, value in live.server_env().items() if key != "COOKIE_SECURE"}
    commands = subprocess.run(["make", "-n", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert commands.returncode == 0, commands.stderr
    assert "scripts.serve" in commands.stdout
    assert "COOKIE_SECURE" not in commands.stdout


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_production_shape_sets_secure_cookies_and_hsts_behind_tls():
    user = UserFactory()
    env = {key: value for key, value in live.server_env(DEBUG=0, NUM_PROXIES=2).items() if key != "COOKIE_SECURE"}
    with Shape(free_port(), env=env, workers=1) as shape:
        base = f"http://127.0.0.1:{shape.port}"
        credentials = {"email": user.email, "password": PASSWORD}
        behind_tls = requests.post(
            f"{base}/api/auth/login", json=credentials, headers={"X-Forwarded-Proto": "https"}, timeout=10
        )
        plain = requests.get(f"{base}/api/auth/csrf", timeout=10)

    assert behind_tls.status_code == 200
    cookies = {line.split("=", 1)[0]: line for line in behind_tls.raw.headers.getlist("Set-Cookie")}
    assert {"access_token", "refresh_token", "csrftoken"} <= set(cookies)
    assert all("Secure" in cookies[name] for name in ("access_token", "refresh_token", "csrftoken"))
    assert behind_tls.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Plain HTTP never gets HSTS (a browser would ignore it, and it says nothing true).
    assert "Strict-Transport-Security" not in plain.headers
