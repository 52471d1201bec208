"""ASGI middleware that authenticates WebSocket handshakes and fills `scope["user"]`.

Accepted credentials, first match wins: `Authorization: Bearer <access>`, `?token=<access>`,
then the access cookie. A cookie rides along with any cross-site request a browser makes, so a
cookie-authenticated handshake must come from an allowed Origin: the socket's own origin or one
listed in CSRF_TRUSTED_ORIGINS, the rule Django's CSRF check applies to a request's Origin
(CONTRACT-NOTES "Chats"). Header and query-token clients (mobile apps) send no Origin and need
none. The session id of the token goes to `scope["session_id"]`; a dependency outage while
checking the token sets `scope["outage"]`.
"""

from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

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
    # Django's own parser, as request.COOKIES (the REST cookie auth) and Channels use: the stdlib
    # SimpleCookie gives up on a whole header over one cookie it dislikes (`a[b]=1`, a JSON value
    # an analytics script set), which would turn socket auth off while REST accepts the cookie.
    cookie = parse_cookie(headers.get(b"cookie", b"").decode("latin-1")).get(settings.AUTH_COOKIE_ACCESS)
    if cookie:
        return cookie, "cookie"
    return None, None


def _is_secure(scope, headers: dict[bytes, bytes]) -> bool:
    """Whether the browser reached us over TLS. Behind a proxy the handshake arrives as plain ws,
    so the proxy's word counts, and only when a proxy is trusted: Django's
    SECURE_PROXY_SSL_HEADER when set, else X-Forwarded-Proto when NUM_PROXIES says a proxy
    stands in front (deploy/nginx.conf.template sets it)."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        wsgi_name = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        value = headers.get(wsgi_name, b"").decode("latin-1")
        return value.split(",")[0].strip() == secure_value
    if settings.NUM_PROXIES > 0 and b"x-forwarded-proto" in headers:
        return headers[b"x-forwarded-proto"].decode("latin-1").split(",")[0].strip() == "https"
    return scope.get("scheme") in ("wss", "https")


def own_origin(scope) -> str | None:
    """`scheme://host[:port]` of the handshake itself, or None when its Host is not one we serve
    (as `request.get_host()` refuses a Host outside ALLOWED_HOSTS)."""
    headers = _headers(scope)
    host = headers.get(b"host", b"").decode("latin-1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return f"{'https' if _is_secure(scope, headers) else 'http'}://{host}"


def origin_allowed(scope) -> bool:
    """The Origin is the socket's own origin (scheme, host and port: another service on another
    port of the same host is another origin) or listed in CSRF_TRUSTED_ORIGINS (exactly, or a
    `https://*.example.com` wildcard, as Django's CsrfViewMiddleware reads it)."""
    origin = _headers(scope).get(b"origin", b"").decode("latin-1")
    if not origin or origin == "null":
        return False
    if origin == own_origin(scope) or origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = urlsplit(origin)
    wildcards = (urlsplit(trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS if "*" in trusted)
    return any(
        parsed.scheme == trusted.scheme and is_same_domain(parsed.netloc, trusted.netloc.lstrip("*"))
        for trusted in wildcards
    )


class TokenAuthMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        scope["user"] = AnonymousUser()
        scope["session_id"] = None
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
        return await self.app(scope, receive, send)
