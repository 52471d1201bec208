"""Settings switch between the embedded default and the real services, from the environment."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from testsupport.live import ROOT

PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "pool": "pool" in settings.DATABASES["default"].get("OPTIONS", {}),
    "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE"),
    "db_options": settings.DATABASES["default"].get("OPTIONS", {}).get("options", ""),
    "prepare_threshold": settings.DATABASES["default"].get("OPTIONS", {}).get("prepare_threshold", "absent"),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "layer_hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "layer_send_timeout": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("send_timeout"),
    "db_query_deadline": getattr(settings, "DB_QUERY_DEADLINE", None),
    "db_connect_timeout": settings.DATABASES["default"].get("OPTIONS", {}).get("connect_timeout"),
    "cache_options": settings.CACHES["default"].get("OPTIONS", {}),
    "s3_timeouts": [
        getattr(settings.STORAGES["default"].get("OPTIONS", {}).get("client_config"), name, None)
        for name in ("connect_timeout", "read_timeout")
    ],
    "cache": settings.CACHES["default"]["BACKEND"],
    "storage": settings.STORAGES["default"]["BACKEND"],
    "debug": settings.DEBUG,
    "language": settings.LANGUAGE_CODE,
}, default=repr))
"""

SERVICE_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "DEBUG",
    "SECRET_KEY",
    "DB_POOL",
)


def settings_in_subprocess(**env_vars) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "social.settings"
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_embedded_default_uses_sqlite_memory_layer_and_local_files():
    result = settings_in_subprocess(DEBUG="1")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["layer"] == "channels.layers.InMemoryChannelLayer"
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["storage"] == "django.core.files.storage.FileSystemStorage"
    assert values["debug"] is True
    assert values["language"] == "ru"


def test_services_switch_on_from_the_environment():
    result = settings_in_subprocess(
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/anything",
        REDIS_URL="redis://127.0.0.1:6379/3",
        AWS_STORAGE_BUCKET_NAME="bucket",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"] == "social.postgresql"  # Django's, with a cheaper health check
    assert values["pool"] is True and values["conn_max_age"] == 0
    assert "statement_timeout" in values["db_options"]
    assert values["layer"] == "social.layer.DeadlineRedisChannelLayer"
    assert 0 < values["layer_send_timeout"] <= 5  # every call but the blocking receive
    # Idle sockets survive only without redis-py 8's 5 s socket_timeout (PITFALLS).
    [host] = values["layer_hosts"]
    assert host["address"] == "redis://127.0.0.1:6379/3" and host["socket_timeout"] is None
    # Everything else a request can wait on is bounded, below gunicorn's 30 s worker timeout.
    assert 0 < host["socket_connect_timeout"] <= 5
    assert 0 < values["db_connect_timeout"] <= 5
    # A frozen server cannot time out its own statements: the client's deadline, just past them.
    assert int(values["db_options"].rsplit("=", 1)[1]) / 1000 < values["db_query_deadline"] <= 10
    assert 0 < values["cache_options"]["socket_timeout"] <= 5
    assert all(0 < seconds <= 5 for seconds in values["s3_timeouts"])
    assert values["cache"] == "social.cache.RedisCache"
    assert values["storage"] == "storages.backends.s3.S3Storage"
    assert values["debug"] is False


def test_db_pool_off_selects_persistent_connections():
    result = settings_in_subprocess(
        SECRET_KEY="x" * 50, DATABASE_URL="postgres://postgres@127.0.0.1:5432/anything", DB_POOL="0"
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["pool"] is False and values["conn_max_age"] > 0
    assert "statement_timeout" in values["db_options"]
    assert values["prepare_threshold"] == 0  # the hot queries are prepared (social/postgresql)


def test_prepared_statements_can_be_turned_off_for_a_pooler():
    result = settings_in_subprocess(
        SECRET_KEY="x" * 50, DATABASE_URL="postgres://postgres@127.0.0.1:5432/anything", DB_PREPARED_STATEMENTS="0"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["prepare_threshold"] is None  # psycopg then prepares nothing


def test_production_settings_refuse_to_start_without_secret_key():
    result = settings_in_subprocess()
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_the_suite_itself_runs_on_real_services():
    assert connection.vendor == "postgresql"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "social.layer.DeadlineRedisChannelLayer"
    assert settings.STORAGES["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
