"""The caller's privacy settings: `GET/PATCH /api/auth/settings` (EXTENSIONS.md §8)."""

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db
DEFAULTS = {"share_presence": True, "share_read_receipts": True, "chat_invites": "everyone"}


def test_a_new_user_shares_everything_and_takes_invites_from_everyone(api):
    response = api.get("/api/auth/settings")
    assert response.status_code == 200
    assert response.json() == DEFAULTS


@pytest.mark.parametrize(
    "change",
    [
        {"share_presence": False},
        {"share_read_receipts": False},
        {"chat_invites": "friends"},
        {"share_presence": False, "share_read_receipts": False, "chat_invites": "friends"},
    ],
)
def test_patch_stores_what_it_names_and_answers_the_whole_object(api, user, change):
    response = api.patch("/api/auth/settings/", change, format="json")
    assert response.status_code == 200
    assert response.json() == {**DEFAULTS, **change}
    stored = User.objects.values("share_presence", "share_read_receipts", "chat_invites").get(pk=user.pk)
    assert stored == {**DEFAULTS, **change}
    assert api.get("/api/auth/settings").json() == {**DEFAULTS, **change}


def test_patch_of_nothing_known_changes_nothing(api):
    response = api.patch("/api/auth/settings", {"is_staff": True}, format="json")
    assert response.status_code == 200
    assert response.json() == DEFAULTS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"share_presence": "false"}, "share_presence"),
        ({"share_presence": 0}, "share_presence"),
        ({"share_presence": None}, "share_presence"),
        ({"share_read_receipts": "yes"}, "share_read_receipts"),
        ({"chat_invites": "nobody"}, "chat_invites"),
        ({"chat_invites": ["friends"]}, "chat_invites"),
        ({"chat_invites": None}, "chat_invites"),
    ],
)
def test_bad_values_are_field_errors_and_nothing_changes(api, user, body, field):
    valid = {"share_presence": False} if field != "share_presence" else {"share_read_receipts": False}
    response = api.patch("/api/auth/settings", {**valid, **body}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert all(isinstance(text, str) for text in response.json()[field])
    stored = User.objects.values("share_presence", "share_read_receipts", "chat_invites").get(pk=user.pk)
    assert stored == DEFAULTS


def test_a_body_that_is_not_an_object_is_a_400(api):
    response = api.patch("/api/auth/settings", [1, 2], format="json")
    assert response.status_code == 400


def test_settings_need_a_signed_in_caller(anon_client):
    for method in ("get", "patch"):
        response = getattr(anon_client, method)("/api/auth/settings", {}, format="json")
        assert response.status_code == 401
        assert response.json() == {"detail": "Не удалось подтвердить учетные данные"}


def test_a_cookie_patch_needs_the_csrf_token(user, password):
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    login = browser.post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    assert login.status_code == 200
    refused = browser.patch("/api/auth/settings", {"share_presence": False}, format="json")
    assert refused.status_code == 403
    token = browser.cookies["csrftoken"].value
    allowed = browser.patch("/api/auth/settings", {"share_presence": False}, format="json", HTTP_X_CSRFTOKEN=token)
    assert allowed.status_code == 200
    assert allowed.json()["share_presence"] is False
