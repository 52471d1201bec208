"""Every client reads the API's error language: JSON `{"detail"}` or field errors, in Russian,
whatever it sends (no cookies, odd bodies, long URLs) and whichever process answers it."""

import uuid

import pytest
import requests
from rest_framework.test import APIClient

from accounts.services import session_start
from accounts.tests.factories import PASSWORD, UserFactory
from scripts.serve import Shape, free_port
from testsupport import live

pytestmark = pytest.mark.django_db

NOT_FOUND = {"detail": "Не найдено."}
MALFORMED = {"detail": "Некорректный JSON или форма."}
LOGGED_OUT = {"detail": "Вы успешно вышли из аккаунта"}


@pytest.fixture
def bearer(user) -> APIClient:
    """A Bearer client with no cookies, checked for CSRF the way a real request is."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(user=user).access}")
    return client


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/nope", "/api/posts/not-a-uuid", "/api/posts/not-a-uuid/like/nope", "/api/x/"])
def test_an_unsafe_request_to_an_unknown_path_or_malformed_id_is_a_json_404_not_a_csrf_403(bearer, method, path):
    response = getattr(bearer, method)(path)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# Every JSON body endpoint, signed in or not: 50,000 `[` fit in the 256 KB body limit.
DEEP_JSON_ENDPOINTS = [
    ("post", "/api/auth/register", False),
    ("post", "/api/auth/login", False),
    ("post", "/api/auth/token", False),
    ("post", "/api/auth/token/refresh", False),
    ("post", "/api/chats/create", True),
    ("post", "/api/posts/create", True),
    ("patch", "/api/auth/current_user", True),
]


@pytest.mark.parametrize(("method", "path", "signed_in"), DEEP_JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [b"[" * 50_000, b'{"a":' * 50_000])
def test_json_nested_too_deep_is_a_400_not_a_500(bearer, anon_client, method, path, signed_in, body):
    client = bearer if signed_in else anon_client
    response = client.generic(method.upper(), path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == MALFORMED


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer\tx"])
def test_logout_with_a_bare_or_malformed_bearer_header_answers_200(anon_client, header):
    """Logout answers 200 (clearing cookies) when it cannot identify a session (CONTRACT-NOTES)."""
    response = anon_client.delete("/api/auth/logout", HTTP_AUTHORIZATION=header)
    assert response.status_code == 200
    assert response.json() == LOGGED_OUT


def test_a_malformed_member_id_is_told_in_russian(api):
    response = api.post("/api/chats/create", {"users": ["not-a-uuid"]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"users": {"0": ["Некорректный идентификатор пользователя."]}}


def test_answers_to_a_signed_in_caller_are_private(bearer, client_for, user):
    for response in (bearer.get("/api/auth/current_user"), bearer.get("/api/posts/all")):
        assert response.status_code == 200
        assert "private" in response["Cache-Control"]
        assert {"Authorization", "Cookie"} <= {part.strip() for part in response["Vary"].split(",")}


def test_the_login_answer_is_private_and_public_ones_are_not(anon_client, user):
    login = anon_client.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert login.status_code == 200
    assert "private" in login["Cache-Control"]
    health = anon_client.get("/api/health")
    assert "private" not in health.get("Cache-Control", "")


# --- live servers: what the processes in front of Django answer ------------------------------------
@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", [b"--xyz--\r\n", b"--xyz--", b"--xyz\r\n\r\n--xyz--\r\n"])
def test_daphne_leaves_an_empty_multipart_body_to_the_api(body):
    """Twisted answered these itself: 400, empty body, no Content-Type."""
    with live.daphne() as address:
        response = requests.post(
            f"http://{address}/api/auth/token/refresh",
            data=body,
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
            timeout=10,
        )
    # An empty body means "refresh from the cookie", and there is none.
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Не удалось подтвердить учетные данные"}


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_production_shape_answers_long_urls_and_headers_in_json():
    user = UserFactory()
    headers = {"Authorization": f"Bearer {session_start(user=user).access}"}
    with Shape(free_port(), env=live.server_env(COOKIE_SECURE=0), workers=1) as shape:
        base = f"http://127.0.0.1:{shape.port}/api/posts/all?limit=5&x="
        # Past gunicorn's default request line (4094) but within nginx's buffer: the app answers.
        within = requests.get(base + "a" * 6000, headers=headers, timeout=10)
        assert within.status_code == 200, within.text[:200]
        assert within.headers["Content-Type"].startswith("application/json")
        # Past nginx's buffer: the proxy answers, in JSON.
        for length in (9000, 70_000):
            response = requests.get(base + "a" * length, headers=headers, timeout=10)
            assert response.status_code == 414
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.json() == {"detail": "Слишком длинный адрес запроса."}
        # A header past the same buffer (a grown cookie jar): nginx's 400, in JSON.
        too_large = requests.get(base, headers={**headers, "Cookie": "a=" + "b" * 10_000}, timeout=10)
        assert too_large.status_code == 400
        assert too_large.json() == {"detail": "Слишком большие заголовки запроса."}


# --- Russian throughout --------------------------------------------------------------------------
def _drf_messages():
    """Every error message DRF's fields and exceptions can put in an answer, as (where, msgid)."""
    import inspect

    from rest_framework import exceptions, fields, serializers

    classes = {cls for module in (fields, serializers) for _, cls in inspect.getmembers(module, inspect.isclass)}
    for cls in sorted(classes, key=lambda c: c.__name__):
        for key, message in vars(cls).get("default_error_messages", {}).items():
            yield f"{cls.__name__}.{key}", message
    for _, cls in inspect.getmembers(exceptions, inspect.isclass):
        if isinstance(getattr(cls, "default_detail", None), str | type(exceptions._(""))):
            yield cls.__name__, cls.default_detail
    yield "Throttled.singular", exceptions.Throttled.extra_detail_singular
    yield "Throttled.plural", exceptions.Throttled.extra_detail_plural


def test_every_drf_error_message_reads_in_russian():
    from django.utils import translation

    with translation.override("ru"):
        english = [where for where, message in _drf_messages() if str(message) == message._args[0]]
    assert not english, english


def test_the_message_catalogue_is_compiled():
    """locale/ru/LC_MESSAGES/django.mo says what the .po says (msgfmt after every edit)."""
    import gettext
    import re

    from django.conf import settings

    folder = settings.BASE_DIR / "locale" / "ru" / "LC_MESSAGES"
    compiled = gettext.GNUTranslations((folder / "django.mo").open("rb"))
    entries = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', (folder / "django.po").read_text(), re.MULTILINE)
    assert len(entries) >= 15
    for msgid, msgstr in entries:
        assert compiled.gettext(msgid.replace('\\"', '"')) == msgstr.replace('\\"', '"'), msgid


def test_a_rate_limited_answer_is_all_russian(anon_client, user):
    import re

    from django.conf import settings

    limit = int(settings.AUTH_RATE_LIMIT.split("/")[0])
    for _ in range(limit + 1):
        response = anon_client.post("/api/auth/token", {"email": user.email, "password": "wrong"}, format="json")
    assert response.status_code == 429
    detail = response.json()["detail"]
    assert "Повторите через" in detail and not re.search(r"[A-Za-z]", detail), detail


def test_too_many_members_and_a_non_string_are_told_in_russian(api):
    too_many = api.post("/api/chats/create", {"users": [str(uuid.uuid4()) for _ in range(1001)]}, format="json")
    assert too_many.status_code == 400
    assert too_many.json() == {"users": ["Убедитесь, что в списке не больше 1000 элементов."]}
    not_a_string = api.post("/api/chats/create", {"users": [str(uuid.uuid4())], "title": ["x"]}, format="json")
    assert not_a_string.status_code == 400
    assert not_a_string.json() == {"title": ["Требуется строка."]}
