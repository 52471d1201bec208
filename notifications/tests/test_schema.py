"""The OpenAPI schema documents the comments and notifications paths exactly as they answer."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def ref(schema, body) -> dict:
    name = body["$ref"].rsplit("/", 1)[1]
    return schema["components"]["schemas"][name]


def json_body(schema, operation, status) -> dict:
    body = operation["responses"][status]["content"]["application/json"]["schema"]
    return ref(schema, body["items"]) if body.get("type") == "array" else ref(schema, body)


def test_comment_paths(schema):
    comments = schema["paths"]["/api/posts/{post_id}/comments"]
    created = json_body(schema, comments["post"], "201")
    assert set(created["required"]) == {"id", "post_id", "text", "created_at", "user"}
    assert set(ref(schema, created["properties"]["user"])["properties"]) == {"id", "username", "avatar"}
    request = ref(schema, comments["post"]["requestBody"]["content"]["application/json"]["schema"])
    assert request["properties"]["text"] == {"type": "string", "minLength": 1, "maxLength": 2000}
    assert list(comments["post"]["requestBody"]["content"]) == ["application/json"]
    assert json_body(schema, comments["get"], "200") == created
    assert {"limit", "cursor"} <= {p["name"] for p in comments["get"]["parameters"]}
    delete = schema["paths"]["/api/posts/{post_id}/comments/{comment_id}"]["delete"]
    assert {"204", "403", "404"} <= set(delete["responses"])
    post = ref(
        schema,
        schema["paths"]["/api/posts/all"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["items"],
    )
    assert "comments_count" in post["required"]


def test_notification_paths(schema):
    listed = schema["paths"]["/api/notifications"]["get"]
    notification = json_body(schema, listed, "200")
    assert set(notification["required"]) == {
        "id",
        "type",
        "created_at",
        "read",
        "actor",
        "post_id",
        "comment_id",
        "chat_id",
        "text",
    }
    assert ref(schema, notification["properties"]["type"])["enum"] == [
        "friend.added",
        "post.liked",
        "post.commented",
        "chat.added",
    ]
    for field in ("post_id", "comment_id", "chat_id", "text"):
        assert notification["properties"][field]["nullable"] is True
    assert {"unread", "limit", "cursor"} == {p["name"] for p in listed["parameters"]}
    count = json_body(schema, schema["paths"]["/api/notifications/unread_count"]["get"], "200")
    assert count["required"] == ["unread_count"]
    read = schema["paths"]["/api/notifications/read"]["post"]
    assert json_body(schema, read, "200") == count
    body = ref(schema, read["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) == {"ids", "all"}
