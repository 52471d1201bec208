"""The contract's auth endpoints as CONTRACT-NOTES "Authentication" decides them."""

import time
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.services import session_start
from accounts.tests.factories import PASSWORD, UserFactory
from testsupport.images import image_upload

CREDENTIALS = {"detail": "Не удалось подтвердить учетные данные"}
STRONG = "Slozhniy-Parol-2026"

pytestmark = pytest.mark.django_db


def register(client, **fields):
    body = {"username": "masha", "email": "masha@example.com", "password": STRONG, **fields}
    return client.post("/api/auth/register", body, format="json")


def login(client, email, password=PASSWORD, path="/api/auth/login", **extra):
    return client.post(path, {"email": email, "password": password}, format="json", **extra)


def cookie_client(user) -> tuple[APIClient, str]:
    """A browser-like client (CSRF enforced) signed in through the login endpoint."""
    client = APIClient(enforce_csrf_checks=True)
    response = login(client, user.email)
    assert response.status_code == 200
    return client, client.cookies["csrftoken"].value


# --- register ---------------------------------------------------------------------------------


def test_register_answers_201_with_the_contract_body(anon_client):
    response = register(anon_client)
    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(username="masha")
    assert body == {
        "message": "Вы успешно зарегистрировались!",
        "new_user": {"id": str(user.id), "username": "masha", "email": "masha@example.com", "avatar": None},
    }
    assert STRONG not in response.content.decode()
    assert user.password.startswith("argon2$")


@pytest.mark.parametrize(
    "existing, fields, field",
    [
        ({"username": "Masha"}, {"username": "mAsHa"}, "username"),
        ({"email": "MASHA@example.com"}, {"email": "masha@EXAMPLE.com"}, "email"),
    ],
)
def test_register_refuses_a_taken_username_or_email_in_any_case(anon_client, existing, fields, field):
    UserFactory(**existing)
    response = register(anon_client, **fields)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"password": "123"}, "password"),
        ({"password": "masha@example.com"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"username": ""}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"username": "bad name!"}, "username"),
        ({"password": "p" * 129}, "password"),
    ],
)
def test_register_refuses_invalid_fields_with_field_errors(anon_client, fields, field):
    response = register(anon_client, **fields)
    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.exists()


def test_register_with_a_token_that_fails_verification_is_403(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    response = register(anon_client)
    assert response.status_code == 403
    assert response.json() == CREDENTIALS


def test_register_and_login_ignore_a_stale_auth_cookie(anon_client, user):
    anon_client.cookies[settings.AUTH_COOKIE_ACCESS] = "stale.garbage.cookie"
    anon_client.cookies[settings.AUTH_COOKIE_REFRESH] = "stale"
    assert register(anon_client).status_code == 201
    assert login(anon_client, user.email).status_code == 200


def test_register_non_json_body_is_400_json(anon_client):
    response = anon_client.post("/api/auth/register", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


# --- login -------------------------------------------------------------------------------------


def test_login_sets_httponly_cookies_and_keeps_tokens_out_of_the_body(anon_client, user):
    response = login(anon_client, user.email.upper())
    assert response.status_code == 200
    assert response.json() == {
        "detail": "Вы успешно вошли в аккаунт!",
        "user": {"id": str(user.id), "username": user.username, "email": user.email, "avatar": None},
    }
    for name in (settings.AUTH_COOKIE_ACCESS, settings.AUTH_COOKIE_REFRESH):
        cookie = response.cookies[name]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert cookie.value not in response.content.decode()
    assert "csrftoken" in response.cookies


def test_login_with_an_unknown_email_is_404(anon_client):
    response = login(anon_client, "nobody@example.com")
    assert response.status_code == 404
    assert response.json() == {"detail": "Пользователь с таким именем не найден!"}


def test_login_with_a_wrong_password_is_401(anon_client, user):
    response = login(anon_client, user.email, "wrong-password")
    assert response.status_code == 401
    assert response.json() == {"detail": "Проверьте введеные данные!"}


def test_login_of_an_inactive_user_is_refused_like_a_wrong_password(anon_client):
    inactive = UserFactory(is_active=False)
    response = login(anon_client, inactive.email)
    assert response.status_code == 401
    assert response.json() == {"detail": "Проверьте введеные данные!"}


@pytest.mark.parametrize("body", [{}, {"email": "a@example.com"}, {"email": 5, "password": []}])
def test_login_with_missing_fields_is_400(anon_client, body):
    response = anon_client.post("/api/auth/login", body, format="json")
    assert response.status_code == 400


# --- current user ----------------------------------------------------------------------------------


def test_current_user_with_a_bearer_token(api, user):
    response = api.get("/api/auth/current_user")
    assert response.status_code == 200
    assert response.json() == {"id": str(user.id), "username": user.username, "email": user.email, "avatar": None}


def test_current_user_with_the_login_cookie(user):
    client, _ = cookie_client(user)
    response = client.get("/api/auth/current_user")
    assert response.status_code == 200
    assert response.json()["id"] == str(user.id)


@pytest.mark.parametrize("header", [None, "Bearer garbage", "Bearer", "Token abc"])
def test_current_user_without_valid_credentials_is_401(anon_client, header):
    if header:
        anon_client.credentials(HTTP_AUTHORIZATION=header)
    response = anon_client.get("/api/auth/current_user")
    assert response.status_code == 401
    assert response.json() == CREDENTIALS
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_patch_current_user_changes_username_and_ignores_other_fields(api, user):
    response = api.patch(
        "/api/auth/current_user",
        {"username": "newname", "email": "hacker@example.com", "is_staff": True, "password": "x"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["username"] == "newname"
    user.refresh_from_db()
    assert user.username == "newname"
    assert user.email != "hacker@example.com"
    assert user.is_staff is False
    assert user.check_password(PASSWORD)


def test_patch_current_user_avatar_is_stored_in_s3_and_served(api, user):
    response = api.patch("/api/auth/current_user", {"avatar": image_upload("me.png", "PNG")}, format="multipart")
    assert response.status_code == 200
    url = response.json()["avatar"]
    assert url.startswith("http://127.0.0.1:")
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content[:8] == b"\x89PNG\r\n\x1a\n"
    user.refresh_from_db()
    assert "me" not in user.avatar.name  # the client's file name never names the object


def test_patch_current_user_refuses_a_non_image_avatar(api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("avatar.png", b"not an image at all", content_type="image/png")
    response = api.patch("/api/auth/current_user", {"avatar": fake}, format="multipart")
    assert response.status_code == 400
    assert "avatar.png" in response.json()["avatar"][0]


def test_patch_current_user_refuses_a_taken_username(api):
    UserFactory(username="Taken")
    response = api.patch("/api/auth/current_user", {"username": "taken"}, format="json")
    assert response.status_code == 400
    assert "username" in response.json()


# --- CSRF on cookie auth -------------------------------------------------------------------------


def test_cookie_authenticated_unsafe_request_without_csrf_header_is_403(user):
    client, _ = cookie_client(user)
    response = client.patch("/api/auth/current_user", {"username": "changed"}, format="json")
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.username != "changed"


def test_cookie_authenticated_unsafe_request_with_csrf_header_passes(user):
    client, csrf = cookie_client(user)
    response = client.patch("/api/auth/current_user", {"username": "changed"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200


def test_bearer_requests_need_no_csrf(user):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(user=user).access}")
    assert client.patch("/api/auth/current_user", {"username": "viaheader"}, format="json").status_code == 200


def test_csrf_endpoint_sets_and_returns_a_token(anon_client):
    response = anon_client.get("/api/auth/csrf")
    assert response.status_code == 200
    assert response.json()["csrfToken"]
    assert "csrftoken" in response.cookies


# --- tokens and refresh ------------------------------------------------------------------------


def test_token_endpoint_gives_a_pair_usable_as_bearer(anon_client, user):
    response = login(anon_client, user.email, path="/api/auth/token")
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert anon_client.get("/api/auth/current_user").status_code == 200


def test_token_endpoint_errors_match_login(anon_client, user):
    assert login(anon_client, "none@example.com", path="/api/auth/token").status_code == 404
    assert login(anon_client, user.email, "bad", path="/api/auth/token").status_code == 401


def test_refresh_by_body_rotates_and_the_old_refresh_is_refused(anon_client, user):
    pair = login(anon_client, user.email, path="/api/auth/token").json()
    response = anon_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == {"access", "refresh"} and fresh["refresh"] != pair["refresh"]
    again = anon_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json() == CREDENTIALS
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    assert anon_client.get("/api/auth/current_user").status_code == 200


def test_refresh_by_cookie_with_an_empty_body_renews_both_cookies(user):
    client, _ = cookie_client(user)
    old_access = client.cookies[settings.AUTH_COOKIE_ACCESS].value
    old_refresh = client.cookies[settings.AUTH_COOKIE_REFRESH].value
    response = client.post("/api/auth/token/refresh", {}, format="json")
    assert response.status_code == 200
    assert response.json() == {}
    assert response.cookies[settings.AUTH_COOKIE_REFRESH].value != old_refresh
    assert response.cookies[settings.AUTH_COOKIE_ACCESS].value != old_access
    assert client.get("/api/auth/current_user").status_code == 200


def test_refresh_with_nothing_or_garbage_is_401(anon_client):
    assert anon_client.post("/api/auth/token/refresh", {}, format="json").status_code == 401
    response = anon_client.post("/api/auth/token/refresh", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401
    assert response.json() == CREDENTIALS


# --- logout ------------------------------------------------------------------------------------


def test_logout_refuses_every_token_of_the_session_afterwards(anon_client, user):
    pair = login(anon_client, user.email, path="/api/auth/token").json()
    refreshed = anon_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json").json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
    response = anon_client.delete("/api/auth/logout")
    assert response.status_code == 200
    assert response.json() == {"detail": "Вы успешно вышли из аккаунта"}
    for access in (pair["access"], refreshed["access"]):  # also the one minted before the refresh
        anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert anon_client.get("/api/auth/current_user").status_code == 401
    anon_client.credentials()
    assert (
        anon_client.post("/api/auth/token/refresh", {"refresh": refreshed["refresh"]}, format="json").status_code == 401
    )


def test_logout_ends_only_that_session(client_for, user):
    first, second = client_for(user), client_for(user)
    assert first.delete("/api/auth/logout").status_code == 200
    assert first.get("/api/auth/current_user").status_code == 401
    assert second.get("/api/auth/current_user").status_code == 200


def test_cookie_logout_clears_cookies_and_needs_csrf(user):
    client, csrf = cookie_client(user)
    assert client.delete("/api/auth/logout").status_code == 403
    response = client.delete("/api/auth/logout", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert response.cookies[settings.AUTH_COOKIE_ACCESS].value == ""
    assert response.cookies[settings.AUTH_COOKIE_REFRESH].value == ""
    assert client.get("/api/auth/current_user").status_code == 401


def test_logout_without_credentials_still_answers_200(anon_client):
    response = anon_client.delete("/api/auth/logout")
    assert response.status_code == 200
    assert response.json() == {"detail": "Вы успешно вышли из аккаунта"}


def test_a_deactivated_user_is_refused_with_a_live_token(api, user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = api.get("/api/auth/current_user")
    assert response.status_code == 401
    assert response.json() == CREDENTIALS


def test_a_token_accepted_before_is_refused_once_its_user_is_deactivated(api, user):
    # The first request leaves the token verified in this process (accounts.authentication).
    assert api.get("/api/auth/current_user").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = api.get("/api/auth/current_user")

    assert response.status_code == 401 and response.json() == CREDENTIALS


def test_a_token_accepted_before_is_refused_once_it_expires(anon_client, user):
    token = AccessToken(session_start(user=user).access)
    token.set_exp(lifetime=timedelta(seconds=1))
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon_client.get("/api/auth/current_user").status_code == 200

    time.sleep(max(token["exp"] - time.time(), 0) + 0.1)
    response = anon_client.get("/api/auth/current_user")

    assert response.status_code == 401 and response.json() == CREDENTIALS


def test_a_copy_of_an_accepted_token_with_another_signature_is_refused(api, user):
    assert api.get("/api/auth/current_user").status_code == 200
    header, payload, signature = api.tokens.access.split(".")
    other = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.{other}")

    response = api.get("/api/auth/current_user")

    assert response.status_code == 401 and response.json() == CREDENTIALS


def test_a_copy_of_an_accepted_token_with_other_claims_is_refused(api, user, other_user):
    # Another user's id under the accepted token's signature: the payload is part of what the
    # signature covers, so the bytes differ and are verified afresh.
    assert api.get("/api/auth/current_user").status_code == 200
    header, _, signature = api.tokens.access.split(".")
    forged = AccessToken(api.tokens.access)
    forged[settings.SIMPLE_JWT["USER_ID_CLAIM"]] = str(other_user.pk)
    _, payload, _ = str(forged).split(".")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.{signature}")

    response = api.get("/api/auth/current_user")

    assert response.status_code == 401 and response.json() == CREDENTIALS


def test_a_sockets_token_is_checked_but_not_kept(user):
    # A socket authenticates once: its token is not held in the process's verified tokens.
    from accounts import authentication

    raw = session_start(user=user).access
    assert authentication.user_from_access_token(raw)[0] == user
    assert raw.encode() not in authentication._VERIFIED
    assert authentication.user_from_access_token(raw[:-2] + ("AA" if raw[-2:] != "AA" else "BA")) is None


def test_a_deleted_users_token_is_refused(api, user):
    user.delete()

    response = api.get("/api/auth/current_user")

    assert response.status_code == 401 and response.json() == CREDENTIALS


@pytest.mark.parametrize("user_id", ["not-a-uuid", "", None, "missing"])
def test_a_signed_token_without_a_usable_user_id_is_refused(anon_client, user_id):
    # Signed with our key (as a leaked key or a bug would allow): still a 401, never a 500.
    token = AccessToken()
    if user_id != "missing":
        token[settings.SIMPLE_JWT["USER_ID_CLAIM"]] = user_id

    response = anon_client.get("/api/auth/current_user", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401 and response.json() == CREDENTIALS


# --- rate limits -------------------------------------------------------------------------------


def test_login_rate_limit_answers_429_with_retry_after(anon_client, user):
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    for _ in range(limit):
        login(anon_client, user.email, "wrong")
    response = login(anon_client, user.email)
    assert response.status_code == 429
    assert "detail" in response.json()
    assert int(response["Retry-After"]) > 0


def test_login_and_token_share_one_bucket(anon_client, user):
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    for _ in range(limit):
        login(anon_client, user.email, "wrong", path="/api/auth/token")
    assert login(anon_client, user.email).status_code == 429


def test_a_forged_x_forwarded_for_does_not_reset_the_limit(anon_client, user):
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    for n in range(limit):
        login(anon_client, user.email, "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    assert login(anon_client, user.email, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_behind_one_proxy_the_client_ip_is_the_one_the_proxy_saw(anon_client, user):
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    with override_settings(NUM_PROXIES=1):
        for _ in range(limit):
            # The client forges a first hop; the proxy appends the address it really saw.
            login(anon_client, user.email, "wrong", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
        assert login(anon_client, user.email, HTTP_X_FORWARDED_FOR="5.6.7.8, 203.0.113.7").status_code == 429
        assert login(anon_client, user.email, HTTP_X_FORWARDED_FOR="203.0.113.7, 203.0.113.8").status_code == 200


def test_register_has_its_own_bucket(anon_client, user):
    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    for _ in range(limit):
        login(anon_client, user.email, "wrong")
    assert register(anon_client).status_code == 201


def test_deactivation_logs_out_everywhere_even_after_reactivation(client_for, user):
    from accounts.services import user_deactivate, user_reactivate

    client = client_for(user)
    refresh = client.tokens.refresh
    user_deactivate(user=user)
    assert client.get("/api/auth/current_user").status_code == 401
    user_reactivate(user=user)
    # Active again, but the tokens of before stay refused: the user must sign in anew.
    assert client.get("/api/auth/current_user").status_code == 401
    assert APIClient().post("/api/auth/token/refresh", {"refresh": refresh}, format="json").status_code == 401


def test_after_reactivation_a_new_session_is_accepted(user):
    from accounts.models import UserSessionsEnd
    from accounts.services import user_deactivate, user_reactivate

    user_deactivate(user=user)
    user_reactivate(user=user)
    # A token of the same second as the end is refused too (`iat` has whole seconds): put the
    # end a minute back rather than sleep.
    UserSessionsEnd.objects.filter(user=user).update(ended_at=timezone.now() - timedelta(minutes=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(user=user).access}")
    assert client.get("/api/auth/current_user").status_code == 200


def test_an_ended_session_stays_ended_when_the_cache_is_emptied(client_for, user):
    """Ended sessions live in the database, not in Redis: a Redis restart or flush must not
    bring a logged-out token back."""
    client = client_for(user)
    assert client.delete("/api/auth/logout").status_code == 200
    cache.clear()
    assert client.get("/api/auth/current_user").status_code == 401


def test_ended_sessions_are_pruned_once_no_token_of_theirs_can_be_presented(client_for, user):
    from accounts.models import EndedSession

    EndedSession.objects.create(session_id="long-gone", expires_at=timezone.now() - timedelta(seconds=1))
    EndedSession.objects.create(session_id="still-valid", expires_at=timezone.now() + timedelta(days=1))
    assert client_for(user).delete("/api/auth/logout").status_code == 200
    kept = set(EndedSession.objects.values_list("session_id", flat=True))
    assert "long-gone" not in kept
    assert "still-valid" in kept and len(kept) == 2  # and the session just ended
