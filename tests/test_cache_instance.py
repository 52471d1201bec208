"""The cache on its own bounded Redis, apart from the channel layer's (#19 item 12)."""

import json
import os
import subprocess
import sys

import yaml

from testsupport.live import ROOT

PRINT_REDIS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "cache": settings.CACHES["default"]["LOCATION"],
    "layer": settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"],
}))
"""


def redis_settings(**env_vars) -> dict:
    env = {key: value for key, value in os.environ.items() if "REDIS_URL" not in key}
    env.update(DJANGO_SETTINGS_MODULE="social.settings", SECRET_KEY="x" * 50, **env_vars)
    result = subprocess.run(
        [sys.executable, "-c", PRINT_REDIS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_cache_redis_url_moves_the_cache_and_leaves_the_channel_layer():
    values = redis_settings(REDIS_URL="redis://layer:6379/0", CACHE_REDIS_URL="redis://cache:6379/0")
    assert values == {"cache": "redis://cache:6379/0", "layer": "redis://layer:6379/0"}


def test_without_cache_redis_url_one_redis_serves_both():
    values = redis_settings(REDIS_URL="redis://127.0.0.1:6379/1")
    assert values == {"cache": "redis://127.0.0.1:6379/1", "layer": "redis://127.0.0.1:6379/1"}


def _command(service) -> str:
    command = service["command"]  # a string or, as docker-compose renders it, a list
    return " ".join(command) if isinstance(command, list) else command


def test_compose_runs_a_bounded_lru_cache_apart_from_a_never_evicting_layer():
    env = {**os.environ, "SECRET_KEY": "x" * 50, "S3_SECRET": "y" * 20}
    rendered = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    compose = yaml.safe_load(rendered.stdout)
    services = compose["services"]

    for app in ("api", "ws", "migrate"):
        environment = services[app]["environment"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["CACHE_REDIS_URL"] == "redis://cache:6379/0"
    layer, cache = (_command(services[name]) for name in ("redis", "cache"))
    assert "--maxmemory-policy noeviction" in layer and "--maxmemory " not in layer
    assert "--maxmemory 256mb" in cache and "--maxmemory-policy allkeys-lru" in cache
