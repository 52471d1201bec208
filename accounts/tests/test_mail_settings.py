"""EMAIL_URL configures Django's mail backend, read once at start (a fresh process per case)."""

import json
import os
import subprocess
import sys

import pytest

from testsupport.live import ROOT

PRINT_MAIL = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name, None) for name in (
    "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_SSL", "EMAIL_USE_TLS", "RESET_URL", "PASSWORD_RESET_TIMEOUT")}))
"""
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def mail_settings(**env) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if name not in ("EMAIL_URL", "RESET_URL")}
    clean.update(SECRET_KEY="x" * 50, DATABASE_URL="sqlite:///:memory:", REDIS_URL="", **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT_MAIL], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "url, expected",
    [
        ("", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        (
            "smtp://mailer:p%40ss@mail.example.com:2525",
            {"EMAIL_BACKEND": SMTP, "EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 2525},
        ),
        (
            "smtps://mailer:secret@mail.example.com",
            {"EMAIL_BACKEND": SMTP, "EMAIL_PORT": 465, "EMAIL_USE_SSL": True, "EMAIL_USE_TLS": False},
        ),
        ("smtp+tls://mail.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_HOST_USER": ""}),
    ],
)
def test_email_url_configures_the_mail_backend(url, expected):
    result = mail_settings(**({"EMAIL_URL": url} if url else {}))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values | expected == values
    if url.startswith("smtp://mailer"):
        assert (values["EMAIL_HOST_USER"], values["EMAIL_HOST_PASSWORD"]) == ("mailer", "p@ss")
    assert values["PASSWORD_RESET_TIMEOUT"] == 3600
    assert "{uid}" in values["RESET_URL"] and "{token}" in values["RESET_URL"]


@pytest.mark.parametrize(
    "env",
    [{"EMAIL_URL": "ftp://mail.example.com"}, {"RESET_URL": "https://example.com/reset?token={token}"}],
)
def test_a_bad_mail_setting_stops_the_process_at_start(env):
    result = mail_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


@pytest.mark.django_db
def test_the_lifecycle_operations_are_in_the_schema_once_each(anon_client):
    import yaml

    schema = yaml.safe_load(anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi").content)
    operations = {
        "/api/auth/password": {"post"},
        "/api/auth/password/reset": {"post"},
        "/api/auth/password/reset/confirm": {"post"},
        "/api/auth/sessions": {"get", "delete"},
        "/api/auth/sessions/{session_id}": {"delete"},
        "/api/auth/account/delete": {"post"},
        "/api/auth/export": {"get"},
    }
    for path, methods in operations.items():
        assert set(schema["paths"][path]) - {"parameters"} == methods, path
    assert "application/zip" in schema["paths"]["/api/auth/export"]["get"]["responses"]["200"]["content"]
    reset = schema["paths"]["/api/auth/password/reset"]["post"]
    assert "security" not in reset  # public: no credentials asked
