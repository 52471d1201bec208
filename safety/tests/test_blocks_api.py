"""`POST/DELETE /api/users/<id>/block` and `GET /api/users/blocked` (EXTENSIONS.md §5)."""

import uuid

import pytest
import yaml

from accounts.services import user_deactivate
from accounts.tests.factories import UserFactory
from safety.models import Block
from safety.services import SELF_BLOCK, SELF_UNBLOCK, block_create

pytestmark = pytest.mark.django_db

AUTH = 1  # BearerAuthentication loads the caller


def block_url(user) -> str:
    return f"/api/users/{user.pk}/block"


# --- block and unblock ----------------------------------------------------------------------------
def test_blocking_answers_true_and_is_idempotent(api, user, other_user):
    for _ in range(2):
        response = api.post(block_url(other_user))
        assert response.status_code == 200
        assert response.json() == {"blocked": True}
    assert list(Block.objects.values_list("blocker_id", "blocked_id")) == [(user.pk, other_user.pk)]


def test_unblocking_answers_false_and_is_idempotent(api, user, other_user):
    api.post(block_url(other_user))
    for _ in range(2):
        response = api.delete(block_url(other_user))
        assert response.status_code == 200
        assert response.json() == {"blocked": False}
    assert not Block.objects.exists()


def test_unblocking_never_lifts_the_other_users_block(api, user, other_user):
    block_create(blocker=other_user, blocked=user)
    assert api.delete(block_url(other_user)).json() == {"blocked": False}
    assert Block.objects.filter(blocker=other_user, blocked=user).exists()


def test_the_trailing_slash_answers_the_same(api, other_user):
    assert api.post(block_url(other_user) + "/").json() == {"blocked": True}
    assert api.delete(block_url(other_user) + "/").json() == {"blocked": False}


@pytest.mark.parametrize("method, message", [("post", SELF_BLOCK), ("delete", SELF_UNBLOCK)])
def test_blocking_yourself_is_a_400(api, user, method, message):
    response = getattr(api, method)(block_url(user))
    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert not Block.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_an_unknown_user_is_a_404(api, method):
    response = getattr(api, method)(f"/api/users/{uuid.uuid4()}/block")
    assert response.status_code == 404
    assert response.json() == {"detail": "Пользователь не найден."}


@pytest.mark.parametrize("method", ["post", "delete"])
def test_an_inactive_user_is_a_404(api, other_user, method):
    user_deactivate(user=other_user)
    response = getattr(api, method)(block_url(other_user))
    assert response.status_code == 404
    assert not Block.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_a_malformed_id_is_a_json_404(api, method):
    response = getattr(api, method)("/api/users/not-a-uuid/block")
    assert response.status_code == 404
    assert response.json() == {"detail": "Не найдено."}


SIGNED_IN_ONLY = [("post", "/api/users/{id}/block"), ("delete", "/api/users/{id}/block"), ("get", "/api/users/blocked")]


@pytest.mark.parametrize("method, url", SIGNED_IN_ONLY)
def test_signed_out_callers_get_the_401(anon_client, other_user, method, url):
    response = getattr(anon_client, method)(url.format(id=other_user.pk))
    assert response.status_code == 401
    assert response.json() == {"detail": "Не удалось подтвердить учетные данные"}
    assert not Block.objects.exists()


def test_a_cookie_authenticated_block_needs_the_csrf_token(other_user, user, password):
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    login = browser.post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    assert login.status_code == 200
    response = browser.post(block_url(other_user))
    assert response.status_code == 403
    assert not Block.objects.exists()
    response = browser.post(block_url(other_user), HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert response.json() == {"blocked": True}


# --- the list of blocked users --------------------------------------------------------------------
def test_the_list_holds_the_callers_blocks_newest_first_as_author_objects(api, user):
    first, second, blocked_me = UserFactory.create_batch(3)
    block_create(blocker=user, blocked=first)
    block_create(blocker=user, blocked=second)
    block_create(blocker=blocked_me, blocked=user)
    response = api.get("/api/users/blocked")
    assert response.status_code == 200
    assert response.json() == [
        {"id": str(second.pk), "username": second.username, "avatar": None},
        {"id": str(first.pk), "username": first.username, "avatar": None},
    ]
    assert "Link" not in response


def test_the_list_leaves_out_deactivated_users(api, user, other_user):
    block_create(blocker=user, blocked=other_user)
    user_deactivate(user=other_user)
    assert api.get("/api/users/blocked").json() == []


def test_the_list_is_paged_by_cursor(api, user):
    blocked = UserFactory.create_batch(5)
    for person in blocked:
        block_create(blocker=user, blocked=person)
    seen = []
    url = "/api/users/blocked?limit=2"
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += [row["id"] for row in response.json()]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert seen == [str(person.pk) for person in reversed(blocked)]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=garbage"])
def test_bad_page_parameters_are_a_400(api, query):
    response = api.get(f"/api/users/blocked?{query}")
    assert response.status_code == 400
    assert set(response.json()) <= {"limit", "cursor"}


@pytest.mark.parametrize("size", [2, 30])
def test_the_list_costs_the_same_queries_at_any_size(api, user, django_assert_num_queries, size):
    for person in UserFactory.create_batch(size):
        block_create(blocker=user, blocked=person)
    with django_assert_num_queries(AUTH + 1):
        response = api.get("/api/users/blocked?limit=100")
    assert len(response.json()) == size


# --- the schema -----------------------------------------------------------------------------------
def test_the_schema_documents_the_block_paths_exactly(anon_client):
    schema = yaml.safe_load(anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi").content)
    block = schema["paths"]["/api/users/{user_id}/block"]
    assert set(block) == {"post", "delete", "parameters"} or set(block) == {"post", "delete"}
    for method in ("post", "delete"):
        operation = block[method]
        assert "requestBody" not in operation
        assert {"200", "400", "401", "404"} <= set(operation["responses"])
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        answer = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        assert answer["properties"] == {"blocked": {"type": "boolean"}}
        assert answer["required"] == ["blocked"]
    listed = schema["paths"]["/api/users/blocked"]["get"]
    items = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert items["type"] == "array"
    author = schema["components"]["schemas"][items["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(author["properties"]) == {"id", "username", "avatar"}
    assert {"limit", "cursor"} <= {p["name"] for p in listed["parameters"]}
