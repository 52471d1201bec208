import os
import subprocess
import sys
import threading
from concurrent.futures import Future

import pytest
from channels.layers import channel_layers
from django.test import override_settings

from social import health
from testsupport.live import ROOT


def probe_until_ok(client, timeout: float = 10.0):
    """/api/health once every part has answered: a cold process's first checks (the first
    connections, the storage client) may take longer than the probe waits."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/api/health")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


@pytest.mark.django_db
def test_health_answers_ok_when_every_part_answers(anon_client):
    response = probe_until_ok(anon_client)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok", "storage": "ok"}


@pytest.mark.django_db
def test_health_with_trailing_slash_answers_without_redirect(anon_client):
    probe_until_ok(anon_client)
    assert anon_client.get("/api/health/").status_code == 200


@pytest.mark.django_db
def test_health_is_503_naming_redis_when_the_channel_layer_is_unreachable(anon_client):
    dead = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0", "socket_timeout": 1}]},
        }
    }
    channel_layers.backends.clear()
    try:
        with override_settings(CHANNEL_LAYERS=dead):
            response = anon_client.get("/api/health")
    finally:
        channel_layers.backends.clear()
        health.reset_cache()
    assert response.status_code == 503
    assert response.json()["failing"] == ["channel_layer"]
    assert response.json()["channel_layer"] == "unavailable"


def test_health_is_503_naming_the_database_when_it_is_unreachable():
    # A separate process whose DATABASE_URL points at a closed port: the real failure path.
    # A cold process's first storage check (the S3 client) may outlast the probe: ask until
    # the answers settle.
    script = (
        "import django, time; django.setup();"
        "from django.test import Client;"
        "from social import health\n"
        "for _ in range(20):\n"
        "    r = Client().get('/api/health', HTTP_HOST='localhost')\n"
        "    if r.json()['failing'] == ['database']: break\n"
        "    time.sleep(0.5); health.reset_cache()\n"
        "print(r.status_code, r.json()['failing'])"
    )
    env = dict(
        os.environ, DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing", DJANGO_SETTINGS_MODULE="social.settings"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "503 ['database']"


@pytest.mark.django_db
def test_health_result_is_cached_per_process(anon_client):
    probe_until_ok(anon_client)
    checks = dict(health._running)
    assert anon_client.get("/api/health").status_code == 200
    assert health._running == checks  # no check started again within HEALTH_TTL


def test_liveness_answers_without_asking_any_dependency(anon_client):
    # No django_db mark: a database query here would raise.
    response = anon_client.get("/api/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert anon_client.get("/api/health/live/").status_code == 200


@pytest.mark.django_db
def test_health_answers_within_a_second_naming_a_frozen_channel_layer(anon_client):
    import time

    from testsupport.faults import PrivateRedis

    with PrivateRedis() as redis:
        frozen = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [{"address": redis.url, "socket_timeout": None}]},
            }
        }
        channel_layers.backends.clear()
        try:
            with override_settings(CHANNEL_LAYERS=frozen):
                health.reset_cache()
                assert probe_until_ok(anon_client).status_code == 200
                redis.freeze()
                health.reset_cache()
                started = time.monotonic()
                response = anon_client.get("/api/health")
                elapsed = time.monotonic() - started
                # A second probe while the first check still hangs: no new thread, still fast.
                health.reset_cache()
                again = anon_client.get("/api/health")
                redis.resume()
        finally:
            channel_layers.backends.clear()
            health.reset_cache()
    assert elapsed < 1.0
    assert response.status_code == 503
    assert response.json()["failing"] == ["channel_layer"]
    assert response.json()["channel_layer"] == "timeout"
    assert again.status_code == 503


class _DoneAtOnce:
    """An executor whose checks are over before `submit` returns: the moment a fast check ends
    while `health._started` is still setting up its callback."""

    def submit(self, function, *args):
        future = Future()
        future.set_result(function(*args))
        return future


def test_a_check_over_before_its_callback_is_added_records_its_state_without_hanging(monkeypatch):
    health.reset_cache()
    monkeypatch.setitem(health.CHECKS, "storage", lambda: None)
    monkeypatch.setitem(health._executors, "storage", _DoneAtOnce())
    monkeypatch.delitem(health._running, "storage", raising=False)
    started = threading.Thread(target=health._started, args=("storage",), daemon=True)
    started.start()
    started.join(timeout=5)
    assert not started.is_alive(), "the probe hung on its own lock"
    assert health._results["storage"][1] == health.OK
