"""ASGI middleware that authenticates WebSocket handshakes and fills `scope["user"]`.

Accepted credentials, first match wins: `Authorization: Bearer <access>`, `?token=<access>`,
then the access cookie. A cookie rides along with any cross-site request a browser makes, so a
cookie-authenticated handshake must come from an allowed Origin (a host in ALLOWED_HOSTS or an
origin in CSRF_TRUSTED_ORIGINS); header and query-token clients (mobile apps) send no Origin
and need none. The session id of the token goes to `scope["session_id"]`; a dependency outage
while checking the token sets `scope["outage"]`.
"""

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from accounts.authentication import user_from_access_token
from accounts.services import SESSION_CLAIM
from social.outages import is_outage, log_outage


def _headers(scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def credentials_from_scope(scope) -> tuple[str | None, str | None]:
    """(raw access token, how it came: "header" | "token" | "cookie") or (None, None)."""
    headers = _headers(scope)
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "header"
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token") and query["token"][0]:
        return query["token"][0], "token"
    cookie_header = headers.get(b"cookie", b"").decode("latin-1")
    if cookie_header:
        cookies = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except Exception:  # a malformed Cookie header is the client's problem: no cookie auth
            return None, None
        morsel = cookies.get(settings.AUTH_COOKIE_ACCESS)
        if morsel and morsel.value:
            return morsel.value, "cookie"
    return None, None


def origin_allowed(scope) -> bool:
    origin = _headers(scope).get(b"origin", b"").decode("latin-1")
    if not origin:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = urlsplit(origin).netloc
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


class TokenAuthMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        scope["user"] = AnonymousUser()
        scope["session_id"] = None
        scope["auth_via"] = None
        raw, via = credentials_from_scope(scope)
        scope["outage"] = False
        if raw and (via != "cookie" or origin_allowed(scope)):
            try:
                result = await database_sync_to_async(user_from_access_token)(raw)
            except Exception as error:
                if not is_outage(error):
                    raise
                # The token could not be checked (database or cache down): the consumer
                # accepts and closes 4503 ("try again later"), never an HTTP 500 handshake.
                log_outage(error, "the socket handshake")
                scope["outage"] = True
                result = None
            if result is not None:
                user, token = result
                scope["user"] = user
                scope["session_id"] = token.get(SESSION_CLAIM)
                scope["auth_via"] = via
        return await self.app(scope, receive, send)
