"""The OpenAPI schema documents `POST /api/reports` exactly as it answers."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def ref(schema, body) -> dict:
    return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]


def test_the_reports_path(schema):
    operation = schema["paths"]["/api/reports"]
    assert list(operation) == ["post"]
    post = operation["post"]
    assert list(post["requestBody"]["content"]) == ["application/json"]
    body = ref(schema, post["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["required"]) == {"target", "id", "reason"}
    assert set(body["properties"]) == {"target", "id", "reason", "text"}
    assert ref(schema, body["properties"]["target"])["enum"] == ["post", "comment", "message", "user"]
    assert ref(schema, body["properties"]["reason"])["enum"] == ["spam", "abuse", "nudity", "violence", "other"]
    assert body["properties"]["id"]["oneOf"] == [
        {"type": "string", "format": "uuid"},
        {"type": "integer", "minimum": 1},
    ]
    assert body["properties"]["text"]["maxLength"] == 1000
    created = ref(schema, post["responses"]["201"]["content"]["application/json"]["schema"])
    assert created["required"] == ["id", "status"]
    assert created["properties"]["id"] == {"type": "integer"}
    assert ref(schema, created["properties"]["status"])["enum"] == ["open"]
    assert {"201", "400", "401", "404", "409", "429"} <= set(post["responses"])
    assert "Retry-After" in post["responses"]["429"]["headers"]
    for status in ("404", "409"):
        detail = ref(schema, post["responses"][status]["content"]["application/json"]["schema"])
        assert detail["required"] == ["detail"]
