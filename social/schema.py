"""OpenAPI (drf-spectacular) additions: our two auth schemes and one path per route."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from social.exceptions import Unauthenticated


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from POST /api/auth/token (mobile and other non-browser clients).",
        }


class CookieScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.CookieAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "access_token",
            "description": "HttpOnly cookie set by POST /api/auth/login (browsers). Unsafe methods must "
            "also send the csrftoken cookie's value in the X-CSRFToken header, else 403.",
        }


def drop_trailing_slash_twins(endpoints, **kwargs):
    """Every route answers with and without a trailing slash (social.routes.route); document
    each once, without the slash."""
    return [endpoint for endpoint in endpoints if endpoint[0] == "/" or not endpoint[0].endswith("/")]


class _ErrorDetail(serializers.Serializer):
    detail = serializers.CharField()


# 400 bodies are `{"detail": "…"}` or `{"<field>": ["…", …]}`.
FIELD_ERRORS = {
    "type": "object",
    "description": '`{"detail": "…"}` or field errors `{"<field>": ["…"]}`',
    "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "array", "items": {}}, {"type": "object"}]},
}


def error_responses(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """The error answers that mean something particular for one view, documented with the one
    `{"detail"}` body of the exception handler. AutoSchema below documents the generic ones of
    every view (401, 403, 404, 400, 413, 429); a view names only what it adds or says better."""
    return {code: OpenApiResponse(_ErrorDetail, description=text) for code, text in described.items()}


class AutoSchema(BaseAutoSchema):
    """Documents the error answers every view can give, from what the view is: the exception
    handler (social/errors.py) gives them all the same bodies, so each view need not list them.

    Each operation offers one request media type: JSON, unless the view names multipart (where
    files go). The parsers still accept JSON, multipart and urlencoded alike, but a generated
    client (openapi-python-client) cannot express one component under several media types.

    Private `_get_response_bodies`, because drf-spectacular has no public hook for responses
    shared by every view (tfranzel/drf-spectacular#101, open) and a postprocessing hook sees
    the finished document, not each view's authenticators, parameters and throttles."""

    def map_parsers(self):
        return ["application/json"]

    def get_auth(self):
        # drf-spectacular writes `security: [{}]` ("auth optional") for AllowAny views; a view
        # that reads no credentials at all (register, login, token, refresh, logout, csrf,
        # health) has none, and a generator must not demand an authenticated client for it.
        if not self.view.get_authenticators():
            return []
        return super().get_auth()

    def _field_errors_ref(self) -> dict:
        """FIELD_ERRORS as one named component: inline, a generator writes a model per operation."""
        component = ResolvedComponent(
            name="FieldErrors", type=ResolvedComponent.SCHEMA, object="FieldErrors", schema=FIELD_ERRORS
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        detail = self.resolve_serializer(_ErrorDetail, direction).ref
        field_errors = self._field_errors_ref()

        def add(code: str, schema: dict, description: str) -> None:
            responses.setdefault(
                code, {"description": description, "content": {"application/json": {"schema": schema}}}
            )

        bad_request = responses.get("400")
        if bad_request and "$ref" not in bad_request.get("content", {}).get("application/json", {}).get("schema", {}):
            # A view that names its 400 by a description or a bare object: the body is still the
            # exception handler's, and a generated client needs its shape to read it.
            bad_request["content"] = {"application/json": {"schema": field_errors}}
        has_body = self.method in ("POST", "PUT", "PATCH")
        has_path_params = "{" in self.path
        has_query = bool(self._get_parameters()) and any(p.get("in") == "query" for p in self._get_parameters())
        if has_body or has_query or has_path_params:
            add("400", field_errors, "Некорректные данные")
        if self.view.get_authenticators():
            add("401", detail, Unauthenticated.default_message)
            add("403", detail, "Нет прав (или нет CSRF-токена при входе по cookie)")
        if has_path_params:
            add("404", detail, "Не найдено")
        if has_body:
            add("413", detail, "Слишком большой запрос")
        # get_throttles, not throttle_classes: a view may limit one method only (POST a
        # comment, add chat members); the view's request is the mock of this method.
        if self.view.get_throttles():
            add("429", detail, "Слишком много запросов")
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds until the next request is allowed.",
            }
        paginated = any(p.get("in") == "query" and p.get("name") == "cursor" for p in self._get_parameters())
        if paginated and "200" in responses:
            responses["200"].setdefault("headers", {})["Link"] = {
                "schema": {"type": "string"},
                "description": 'The next page: `<absolute URL with ?cursor=…>; rel="next"`; absent on the last page.',
            }
        return responses
