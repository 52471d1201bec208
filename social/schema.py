"""OpenAPI (drf-spectacular) additions: our two auth schemes and one path per route."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
