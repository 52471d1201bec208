import os
import subprocess
import sys

import pytest
from channels.layers import channel_layers
from django.test import override_settings

from social import health
from testsupport.live import ROOT


@pytest.mark.django_db
def test_health_answers_ok_when_every_part_answers(anon_client):
    response = anon_client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok", "storage": "ok"}


@pytest.mark.django_db
def test_health_with_trailing_slash_answers_without_redirect(anon_client):
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
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/api/health', HTTP_HOST='localhost'); print(r.status_code, r.json()['failing'])"
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
def test_health_result_is_cached_per_process(anon_client, django_assert_num_queries):
    anon_client.get("/api/health")
    with django_assert_num_queries(0):
        assert anon_client.get("/api/health").status_code == 200
