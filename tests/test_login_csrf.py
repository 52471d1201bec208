"""Login CSRF (issue #19 item 8): a cross-site HTML form could sign a victim's browser into the
attacker's account, because login accepted form bodies. Register, login and token take JSON only:
the bodies an HTML form can send without a CORS preflight answer 415 and do nothing."""

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db

EVIL = {"HTTP_ORIGIN": "https://evil.example", "HTTP_REFERER": "https://evil.example/trap.html"}
FORM_BODIES = {
    "urlencoded": lambda fields: {
        "data": "&".join(f"{k}={v}" for k, v in fields.items()),
        "content_type": "application/x-www-form-urlencoded",
    },
    "multipart": lambda fields: {"data": fields},  # Django's test client: multipart/form-data
    "text/plain": lambda fields: {
        "data": "\n".join(f"{k}={v}" for k, v in fields.items()),
        "content_type": "text/plain",
    },
}


@pytest.mark.parametrize("kind", FORM_BODIES)
def test_a_cross_site_form_cannot_log_a_browser_in(kind, anon_client, user, password):
    response = anon_client.post(
        "/api/auth/login", **FORM_BODIES[kind]({"email": user.email, "password": password}), **EVIL
    )

    assert response.status_code == 415
    assert set(response.json()) == {"detail"}
    assert not response.cookies.get("access_token") and not response.cookies.get("refresh_token")


@pytest.mark.parametrize("kind", FORM_BODIES)
def test_a_form_cannot_mint_tokens_or_register(kind, anon_client, user, password):
    token = anon_client.post("/api/auth/token", **FORM_BODIES[kind]({"email": user.email, "password": password}))
    fields = {"username": "formuser", "email": "form@example.com", "password": "Dlinnyy-Parol-2026"}
    register = anon_client.post("/api/auth/register", **FORM_BODIES[kind](fields))

    assert (token.status_code, register.status_code) == (415, 415)
    assert "access" not in token.json()
    assert not User.objects.filter(email="form@example.com").exists()


def test_json_still_signs_in(anon_client, user, password):
    response = anon_client.post("/api/auth/login", {"email": user.email, "password": password}, format="json")

    assert response.status_code == 200
    assert response.cookies["access_token"].value


def test_the_schema_offers_json_only_and_documents_415(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/auth/login", "/api/auth/token", "/api/auth/register"):
        operation = schema["paths"][path]["post"]
        assert set(operation["requestBody"]["content"]) == {"application/json"}, path
        assert "415" in operation["responses"], path
