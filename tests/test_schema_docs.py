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
