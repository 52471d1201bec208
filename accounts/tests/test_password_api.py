"""Password change and reset by mail (EXTENSIONS.md §6): through a real SMTP server."""

import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Novyi-Parol-2026"
RESET = "/api/auth/password/reset"
CONFIRM = "/api/auth/password/reset/confirm"


def me_status(tokens) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    return client.get("/api/auth/current_user").status_code


def refresh_status(tokens) -> int:
    return APIClient().post("/api/auth/token/refresh", {"refresh": tokens.refresh}, format="json").status_code


def login_status(email: str, password: str) -> int:
    return APIClient().post("/api/auth/token", {"email": email, "password": password}, format="json").status_code


def reset_link(message) -> tuple[str, str]:
    """(uid, token) from the link in a reset mail's plain text."""
    link = re.search(r"https?://\S+", message.get_body(("plain",)).get_content()).group(0)
    query = parse_qs(urlsplit(link).query)
    return query["uid"][0], query["token"][0]


# --- change -----------------------------------------------------------------------------------
def test_password_change_ends_every_other_session_and_keeps_this_one(client_for, user):
    this, other = client_for(user), client_for(user)

    response = this.post("/api/auth/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 200
    assert response.json() == {"detail": "Пароль изменён. Остальные сессии завершены."}
    assert me_status(this.tokens) == 200
    assert refresh_status(this.tokens) == 200
    assert me_status(other.tokens) == 401
    assert refresh_status(other.tokens) == 401
    assert login_status(user.email, PASSWORD) == 401
    assert login_status(user.email, NEW_PASSWORD) == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({"old_password": "wrong-Password-1", "new_password": NEW_PASSWORD}, "old_password"),
        ({"old_password": PASSWORD, "new_password": "123"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "password"}, "new_password"),
        ({"old_password": PASSWORD}, "new_password"),
        ({"new_password": NEW_PASSWORD}, "old_password"),
        ({"old_password": PASSWORD, "new_password": "x" * 129}, "new_password"),
    ],
)
def test_password_change_refuses_bad_input_with_a_field_error_and_changes_nothing(client_for, user, body, field):
    this, other = client_for(user), client_for(user)

    response = this.post("/api/auth/password", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert login_status(user.email, PASSWORD) == 200
    assert me_status(other.tokens) == 200


def test_password_change_needs_a_signed_in_user(anon_client):
    response = anon_client.post(
        "/api/auth/password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 401


# --- reset ------------------------------------------------------------------------------------
def test_reset_mails_a_russian_link_whose_token_sets_the_password_once(anon_client, client_for, user, smtp_inbox):
    session = client_for(user)

    response = anon_client.post(RESET, {"email": user.email.upper()}, format="json")

    assert response.status_code == 200
    [message] = smtp_inbox.to(user.email)
    assert message["Subject"] == "Сброс пароля"
    assert "пароль" in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    uid, token = reset_link(message)
    assert token in html

    confirmed = anon_client.post(CONFIRM, {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")

    assert confirmed.status_code == 200
    assert login_status(user.email, NEW_PASSWORD) == 200
    assert me_status(session.tokens) == 401  # every session ended
    again = anon_client.post(CONFIRM, {"uid": uid, "token": token, "new_password": "Tretiy-Parol-77"}, format="json")
    assert again.status_code == 400
    assert "token" in again.json()
    assert login_status(user.email, NEW_PASSWORD) == 200


def test_reset_answers_the_same_for_an_unknown_email_and_sends_nothing(anon_client, user, smtp_inbox):
    known = anon_client.post(RESET, {"email": user.email}, format="json")
    unknown = anon_client.post(RESET, {"email": "nobody@example.com"}, format="json")

    assert unknown.status_code == known.status_code == 200
    assert unknown.json() == known.json()
    assert [message["To"] for message in smtp_inbox.messages] == [user.email]


def test_reset_sends_one_mail_per_address_per_five_minutes_whoever_asks(user, smtp_inbox):
    first, second = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")

    for client in (first, second, first):
        assert client.post(RESET, {"email": user.email}, format="json").status_code == 200

    assert len(smtp_inbox.to(user.email)) == 1


def test_reset_is_rate_limited_per_client_ip(anon_client, settings, smtp_inbox):
    settings.AUTH_RATE_LIMIT = "3/min"
    statuses = [
        anon_client.post(RESET, {"email": f"u{number}@example.com"}, format="json").status_code for number in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_reset_never_logs_the_token(anon_client, user, smtp_inbox, caplog):
    with caplog.at_level(logging.DEBUG):
        anon_client.post(RESET, {"email": user.email}, format="json")
        uid, token = reset_link(smtp_inbox.to(user.email)[0])
        anon_client.post(CONFIRM, {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")
    ours = [record for record in caplog.records if not record.name.startswith("mail.log")]  # aiosmtpd's own
    assert ours, "the requests were logged"
    assert not [record for record in ours if token in record.getMessage()]


def _uid(user) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({}, "email"),
    ],
)
def test_reset_refuses_a_malformed_email(anon_client, body, field):
    response = anon_client.post(RESET, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "uid",
    ["", "!!!", "bm90LWEtdXVpZA", "%%%", "A" * 64, urlsafe_base64_encode(b"\xff\xfe"), "MTIz"],
)
def test_confirm_refuses_a_malformed_uid_with_a_400(anon_client, user, uid):
    token = default_token_generator.make_token(user)
    response = anon_client.post(CONFIRM, {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert "uid" in response.json()


def test_confirm_refuses_another_users_token(anon_client, user):
    other = UserFactory()
    token = default_token_generator.make_token(other)

    response = anon_client.post(
        CONFIRM, {"uid": _uid(user), "token": token, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert "token" in response.json()
    assert login_status(user.email, PASSWORD) == 200


def test_confirm_refuses_an_expired_token(anon_client, user, settings, monkeypatch):
    token = default_token_generator.make_token(user)
    # The generator reads the clock through its `_now`: a link older than the timeout.
    later = timezone.now().replace(tzinfo=None) + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 5)
    monkeypatch.setattr(type(default_token_generator), "_now", lambda self: later)

    response = anon_client.post(
        CONFIRM, {"uid": _uid(user), "token": token, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert "token" in response.json()


def test_confirm_refuses_a_weak_password_with_a_field_error(anon_client, user):
    token = default_token_generator.make_token(user)

    response = anon_client.post(CONFIRM, {"uid": _uid(user), "token": token, "new_password": "12345"}, format="json")

    assert response.status_code == 400
    assert "new_password" in response.json()
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
