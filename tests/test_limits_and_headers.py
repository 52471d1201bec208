"""Limits on what a client sends, CORS and security headers."""

import json

import pytest
from django.test import override_settings

from social.middleware import DEFAULT_BODY_LIMIT, body_limit_for

pytestmark = pytest.mark.django_db

TOO_LARGE = {"detail": "Слишком большой запрос."}


def test_a_body_over_the_routes_limit_is_413_json_before_it_is_read(api):
    body = json.dumps({"username": "x" * (DEFAULT_BODY_LIMIT + 10)})
    response = api.generic("POST", "/api/auth/login", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def test_a_json_body_over_the_field_data_limit_is_413_json(anon_client):
    # Under the route's body limit (1 MB) but over DATA_UPLOAD_MAX_MEMORY_SIZE (256 KB).
    body = json.dumps({"email": "a@example.com", "password": "p" * (300 * 1024)})
    response = anon_client.generic("POST", "/api/auth/login", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def test_upload_routes_allow_photos_and_other_routes_do_not():
    assert body_limit_for("/api/posts/create") > 100 * 1024 * 1024
    assert body_limit_for("/api/auth/create/") > 100 * 1024 * 1024
    assert body_limit_for("/api/auth/current_user") > 10 * 1024 * 1024
    assert body_limit_for("/api/auth/login") == DEFAULT_BODY_LIMIT
    chat = "/api/chats/0b7d4b2e-8a43-4f7a-9a51-3c1f0c2d9e10"
    # A message's photos (4 of 10 MB), a chat's avatar; the chat's other routes take JSON only.
    assert body_limit_for(f"{chat}/messages") == body_limit_for(f"{chat}/messages/") == 41 * 1024 * 1024
    assert body_limit_for(chat) == body_limit_for(f"{chat}/") == 11 * 1024 * 1024
    for path in (f"{chat}/read", f"{chat}/members", f"{chat}/messages/0", "/api/chats"):
        assert body_limit_for(path) == DEFAULT_BODY_LIMIT, path


def test_too_many_form_fields_is_413_json(api, user):
    fields = "&".join(f"f{n}=1" for n in range(1500))
    response = api.generic("PATCH", "/api/auth/current_user", fields, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
def test_cors_allows_credentials_for_configured_origins_only(anon_client):
    allowed = anon_client.options(
        "/api/auth/login", HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    other = anon_client.options(
        "/api/auth/login", HTTP_ORIGIN="https://evil.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert "Access-Control-Allow-Origin" not in other


def test_security_headers_are_set(anon_client):
    response = anon_client.get("/api/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]


def test_json_answers_keep_russian_text_unescaped(anon_client):
    response = anon_client.get("/api/auth/current_user")
    assert "Не удалось подтвердить учетные данные".encode() in response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
def test_api_answers_vary_on_origin_and_allow_only_configured_origins(api):
    plain = api.get("/api/auth/current_user")
    assert plain.status_code == 200
    assert "origin" in plain["Vary"]
    assert "Access-Control-Allow-Origin" not in plain
    allowed = api.get("/api/auth/current_user", HTTP_ORIGIN="https://app.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert "origin" in allowed["Vary"]
    other = api.get("/api/auth/current_user", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in other
    assert "origin" in other["Vary"]
    # Outside the API's paths CORS adds nothing, as before.
    assert "origin" not in api.get("/admin/login/", HTTP_ORIGIN="https://app.example.com").get("Vary", "")
