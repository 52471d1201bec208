"""The OpenAPI document is public and says what the code does."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_docs_are_public(anon_client):
    assert anon_client.get("/api/docs/").status_code == 200


def test_both_auth_schemes_are_documented(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["cookieAuth"] == {**schemes["cookieAuth"], "in": "cookie", "name": "access_token"}


def test_every_contract_path_is_documented_once(schema):
    paths = set(schema["paths"])
    for path in (
        "/api/auth/current_user",
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/create",
        "/api/posts/all",
        "/api/posts/{post_id}/like/{user_id}",
        "/api/chats/create",
        "/api/chats/{chat_id}/messages/{offset}",
        "/api/users/{user_id}/chats",
        "/api/users/{user_id}/posts",
        "/api/users/friends/all",
        "/api/users/{user_id}/friends/{friend_id}",
        "/api/users/{user_id}/friends/add/{friend_id}",
        "/api/users/{user_id}/friends/remove/{friend_id}",
    ):
        assert path in paths
    assert not any(path.endswith("/") for path in paths)


def test_paginated_lists_document_the_link_header_and_errors(schema):
    feed = schema["paths"]["/api/posts/all"]["get"]
    assert "Link" in feed["responses"]["200"]["headers"]
    assert {"400", "401"} <= set(feed["responses"])
    login = schema["paths"]["/api/auth/login"]["post"]
    assert {"200", "400", "401", "404", "413", "429"} <= set(login["responses"])
    assert "Retry-After" in login["responses"]["429"]["headers"]


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def _has_binary(schema, component: dict) -> bool:
    for field in component.get("properties", {}).values():
        field = field.get("items", field)
        if field.get("format") == "binary":
            return True
    return False


def test_every_operation_offers_one_request_media_type(schema):
    """A generated client (openapi-python-client) cannot express one component under several
    media types: each body is JSON, or multipart where files go."""
    components = schema["components"]["schemas"]
    for name, operation in _operations(schema):
        content = operation.get("requestBody", {}).get("content")
        if content is None:
            continue
        assert len(content) == 1, (name, list(content))
        media_type, body = next(iter(content.items()))
        component = components[body["schema"]["$ref"].rsplit("/", 1)[1]]
        expected = "multipart/form-data" if _has_binary(schema, component) else "application/json"
        assert media_type == expected, name


def test_files_go_as_multipart_and_chat_create_as_json(schema):
    media = {name: next(iter(op["requestBody"]["content"])) for name, op in _operations(schema) if "requestBody" in op}
    assert media["POST /api/auth/create"] == media["POST /api/posts/create"] == "multipart/form-data"
    assert media["PATCH /api/auth/current_user"] == "multipart/form-data"
    for name in ("POST /api/auth/login", "POST /api/auth/token", "POST /api/auth/register", "POST /api/chats/create"):
        assert media[name] == "application/json", name
    # A message's photos and a chat's avatar (the JSON bodies of both are named in their descriptions).
    assert media["POST /api/chats/{chat_id}/messages"] == media["PATCH /api/chats/{chat_id}"] == "multipart/form-data"
    assert media["POST /api/chats/{chat_id}/members"] == "application/json"


def test_every_400_has_a_body_schema(schema):
    field_errors = schema["components"]["schemas"]["FieldErrors"]
    assert field_errors["additionalProperties"]
    for name, operation in _operations(schema):
        if "400" in operation["responses"]:
            body = operation["responses"]["400"]["content"]["application/json"]["schema"]
            # FieldErrors, or the view's own named body (friends add: DetailOutput for "self").
            assert body["$ref"].startswith("#/components/schemas/"), name
    feed_400 = schema["paths"]["/api/posts/all"]["get"]["responses"]["400"]
    assert feed_400["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/FieldErrors"}


# Fields an answer may leave out: `failing` is present only in a 503 of the health check.
MAY_BE_ABSENT = {("Health", "failing")}


def test_every_always_present_field_of_an_answer_is_required(schema):
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request") or component.get("type") != "object":
            continue
        for field in set(component.get("properties", {})) - set(component.get("required", [])):
            assert (name, field) in MAY_BE_ABSENT, f"{name}.{field} is always present but not required"
    assert "created_at" in schema["components"]["schemas"]["MessageOutput"]["required"]


@pytest.mark.parametrize("media", ["json", "multipart", "urlencoded"])
def test_the_server_still_takes_every_media_type_it_took(anon_client, user, media):
    """The schema names one media type per operation; the parsers keep the others. (Register,
    login and token take JSON only since #19 item 8, login CSRF: tests/test_login_csrf.py.)"""
    from urllib.parse import urlencode

    from accounts.services import session_start

    body = {"refresh": session_start(user=user).refresh}
    if media == "urlencoded":
        response = anon_client.post(
            "/api/auth/token/refresh", urlencode(body), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = anon_client.post("/api/auth/token/refresh", body, format=media)
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_public_operations_demand_no_credentials(schema):
    """`security: [{}]` made generators demand an authenticated client for register and login."""
    for path in ("/api/auth/register", "/api/auth/login", "/api/auth/token", "/api/auth/token/refresh"):
        assert "security" not in schema["paths"][path]["post"], path
    assert "security" not in schema["paths"]["/api/auth/logout"]["delete"]
    assert schema["paths"]["/api/posts/all"]["get"]["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]


def test_docs_load_swagger_ui_from_this_app_under_a_strict_csp(anon_client):
    """No CDN: the docs work offline, and no inline script is needed (strict CSP)."""
    import re

    page = anon_client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/") and not asset.startswith("//") for asset in assets), assets
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert not re.search(r"<script>", html)  # every script is a file of this origin
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    script = anon_client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema" in script.content
