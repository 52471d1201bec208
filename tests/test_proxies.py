"""NUM_PROXIES alone drives the proxy and the app (issue #19 item 6): the client IP of rate
limits, logs and sockets (social/client_ip.py) and the scheme behind a TLS proxy in front of nginx.

The attack: behind a TLS proxy, nginx replaced X-Forwarded-For and X-Forwarded-Proto, so every
client shared one rate-limit bucket and SECURE_SSL_REDIRECT=1 redirected HTTPS requests forever."""

import pytest
import requests
from django.test import override_settings

from scripts.serve import Shape, free_port
from social.client_ip import client_ip_from, scope_client_ip
from tests.test_serve_shape import post_from
from testsupport import live

# --- the one reading of the client IP ------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "remote_addr", "client"),
    [
        (0, "6.6.6.6", "203.0.113.1", "203.0.113.1"),  # no proxy: the header is the client's word
        (1, "203.0.113.7", "127.0.0.1", "203.0.113.7"),  # nginx replaced the header
        (1, "6.6.6.6, 203.0.113.7", "127.0.0.1", "203.0.113.7"),  # a forged hop before it
        (2, "203.0.113.7, 10.0.0.2", "127.0.0.1", "203.0.113.7"),  # TLS proxy, then nginx appended
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "127.0.0.1", "203.0.113.7"),
        (2, "10.0.0.2", "127.0.0.1", "10.0.0.2"),  # fewer hops than proxies: the first one
        (1, None, "127.0.0.1", "127.0.0.1"),
        (1, " , ", "127.0.0.1", "127.0.0.1"),
        (1, None, None, ""),
    ],
)
def test_client_ip_is_num_proxies_hops_from_the_end(num_proxies, forwarded_for, remote_addr, client):
    with override_settings(NUM_PROXIES=num_proxies):
        assert client_ip_from(forwarded_for=forwarded_for, remote_addr=remote_addr) == client


def test_a_socket_handshake_reads_the_same_client_ip():
    scope = {
        "type": "websocket",
        "client": ["127.0.0.1", 51000],
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7"), (b"x-forwarded-for", b"10.0.0.2")],
    }
    with override_settings(NUM_PROXIES=2):
        assert scope_client_ip(scope) == "203.0.113.7"
    with override_settings(NUM_PROXIES=0):
        assert scope_client_ip(scope) == "127.0.0.1"


# --- both shapes, live -------------------------------------------------------------------------


def shape_env(num_proxies: int, **extra) -> dict:
    return live.server_env(COOKIE_SECURE=0, NUM_PROXIES=num_proxies, AUTH_RATE_LIMIT="3/min", **extra)


def wrong_login(port: int, headers: dict, source_ip: str = "127.0.0.1") -> int:
    user_email = "nobody-here@example.com"
    return post_from(source_ip, port, "/api/auth/login", {"email": user_email, "password": "x"}, headers)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_nginx_alone_trusts_nothing_a_client_forwards():
    with Shape(free_port(), env=shape_env(1, SECURE_HSTS_SECONDS=3600), workers=1) as shape:
        base = f"http://127.0.0.1:{shape.port}"
        # A client claiming HTTPS over plain HTTP is not believed: nginx set the scheme it
        # served, so the app sends no HSTS (it does only to requests it holds secure).
        forged = requests.get(f"{base}/api/auth/csrf", headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert forged.status_code == 200 and "Strict-Transport-Security" not in forged.headers
        # A forged X-Forwarded-For is replaced: one client, one bucket, whatever it claims.
        statuses = [wrong_login(shape.port, {"X-Forwarded-For": f"10.1.1.{n}"}, "127.0.0.2") for n in range(4)]
        assert statuses == [404, 404, 404, 429]
        assert wrong_login(shape.port, {}, "127.0.0.3") == 404  # another client behind nginx


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_behind_a_tls_proxy_nginx_appends_the_address_and_passes_the_scheme():
    with Shape(free_port(), env=shape_env(2, SECURE_SSL_REDIRECT=1), workers=1) as shape:
        base = f"http://127.0.0.1:{shape.port}"
        # The TLS proxy says HTTPS: served (with HSTS), not redirected again and again.
        tls = {"X-Forwarded-Proto": "https"}
        served = requests.get(f"{base}/api/auth/csrf", headers=tls, allow_redirects=False, timeout=10)
        assert served.status_code == 200 and "csrfToken" in served.json()
        assert served.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        plain = requests.get(f"{base}/api/auth/csrf", allow_redirects=False, timeout=10)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
        # Each client the TLS proxy forwards has its own bucket; a hop forged before it is ignored.
        first = [wrong_login(shape.port, {**tls, "X-Forwarded-For": f"6.6.6.{n}, 198.51.100.7"}) for n in range(4)]
        assert first == [404, 404, 404, 429]
        assert wrong_login(shape.port, {**tls, "X-Forwarded-For": "198.51.100.8"}) == 404
        # Health probes ask over plain HTTP from the inside: never redirected.
        assert requests.get(f"{base}/api/health", allow_redirects=False, timeout=10).json()["status"] == "ok"


def test_compose_gives_one_num_proxies_to_the_proxy_and_the_app(tmp_path):
    import yaml

    from tests.test_compose import compose_config

    rendered = compose_config(tmp_path, SECRET_KEY="a-key", S3_SECRET="an-s3-password", NUM_PROXIES="2")
    services = yaml.safe_load(rendered.stdout)["services"]

    assert {services[name]["environment"]["NUM_PROXIES"] for name in ("proxy", "api", "ws")} == {"2"}
    assert "$NUM_PROXIES" in services["proxy"]["command"][-1]  # envsubst fills the template's
