"""Request-level middleware: body size limits, private caching of personal answers, and one
log line and the metrics of each request."""

import logging
import re
import time
from urllib.parse import quote

from corsheaders.middleware import CorsMiddleware as _CorsMiddleware
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.utils.cache import patch_cache_control, patch_vary_headers

from social import logs, metrics
from social.errors import TOO_LARGE_MESSAGE, detail_response

logger = logging.getLogger("social.request")

# Where the API lives: its answers are JSON for clients that authenticate with tokens, never
# pages of the admin's.
API_PREFIX = "/api/"

MB = 1024 * 1024
# Routes that take uploads, and how large a whole body may be there. Everything else is bounded
# by DEFAULT_BODY_LIMIT; JSON/form fields are further bounded by DATA_UPLOAD_MAX_MEMORY_SIZE.
# The proxy config (deploy/nginx.conf.template) carries the same figures.
UPLOAD_BODY_LIMITS = (
    ("/api/auth/create", 105 * MB),  # 10 images of at most 10 MB, plus the form
    ("/api/posts/create", 105 * MB),
    ("/api/auth/current_user", 11 * MB),  # one avatar
    ("/api/chats/create", 11 * MB),  # one chat avatar
    ("/admin/", 105 * MB),
)
# Upload routes with an id in the path, matched whole (trailing slash optional), as the proxy's
# regex locations are.
UPLOAD_BODY_PATTERNS = (
    (re.compile(r"^/api/chats/[^/]+/messages/?$"), 41 * MB),  # 4 message photos of at most 10 MB, plus the form
    (re.compile(r"^/api/chats/[^/]+/?$"), 11 * MB),  # PATCH: one chat avatar
)
DEFAULT_BODY_LIMIT = 1 * MB


def body_limit_for(path: str) -> int:
    for prefix, limit in UPLOAD_BODY_LIMITS:
        if path.startswith(prefix):
            return limit
    for pattern, limit in UPLOAD_BODY_PATTERNS:
        if pattern.match(path):
            return limit
    return DEFAULT_BODY_LIMIT


class BodySizeLimitMiddleware:
    """Refuse a body larger than its route allows before anything reads it (JSON 413)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > body_limit_for(request.path):
            return detail_response(TOO_LARGE_MESSAGE, 413)
        return self.get_response(request)


class PrivateAnswersMiddleware:
    """An /api answer to a signed-in caller (or one that sets auth cookies: login, refresh) is
    that caller's own: `Cache-Control: private` keeps shared caches (a CDN, a company proxy)
    from serving it to someone else, and `Vary` names the headers that make it personal. DRF
    puts the user it authenticated (Bearer or cookie) on the Django request, read here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX):
            return response
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or response.cookies:
            patch_cache_control(response, private=True)
            patch_vary_headers(response, ("Authorization", "Cookie"))
        return response


class MessageMiddleware(_MessageMiddleware):
    """Django's messages (the admin's "saved" banners), not set up for /api/ requests: no API
    view adds or reads one, and each request paid for a cookie and a session storage built
    for nothing (~4% of an authenticated request's CPU, issue #26). Django's own
    process_response and `get_messages` already take a request without them."""

    def process_request(self, request):
        if not request.path.startswith(API_PREFIX):
            super().process_request(request)


class CorsMiddleware(_CorsMiddleware):
    """django-cors-headers' middleware, reading the Origin header from META: its
    `request.headers` builds a dict of every request header on each request only to find that
    most requests (same-origin, native clients) carry no Origin. Without one, its answer is the
    `Vary: origin` it adds on CORS paths, written here the same way; with one, its own code runs."""

    def add_response_headers(self, request, response):
        if request.META.get("HTTP_ORIGIN"):
            return super().add_response_headers(request, response)
        enabled = getattr(request, "_cors_enabled", None)
        if enabled is None:
            enabled = self.is_enabled(request)
        if enabled:
            patch_vary_headers(response, ("origin",))
        return response


class RequestLogMiddleware:
    """One line per request: method, path (never the query string: it may hold a token),
    status, duration, user id and request id. Cookies and headers are never logged.

    It also counts the request in the metrics (by route template, bounded cardinality) and
    carries the request id: the client's `X-Request-ID` when well formed (social.logs), else a
    new one, returned on every answer and set for every line logged meanwhile."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.metrics = settings.METRICS_ENABLED
        # The metrics' series by (route, method, status), as `labels()` hands them out: looked
        # up here without its lock and argument checks. Bounded as the series are.
        self.series: dict[tuple, tuple] = {}

    def __call__(self, request):
        started = time.perf_counter()
        request_id = logs.request_id_accept(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = logs.request_id_set(request_id)
        try:
            response = self.get_response(request)
        finally:
            logs.request_id_reset(token)
        duration = time.perf_counter() - started
        user = getattr(request, "user", None)
        user_id = str(user.pk) if user is not None and user.is_authenticated else "-"
        match = request.resolver_match
        # The route template, never the raw path: one series per route, whatever the ids.
        route = match.route if match is not None else "<unresolved>"
        logger.info(
            "method=%s path=%s status=%s duration_ms=%.1f user=%s request_id=%s",
            request.method,
            # Percent-encoded as on the wire: a space or a newline in a path cannot forge a field.
            quote(request.path, safe="/:@!$&'()*+,;=-._~"),
            response.status_code,
            duration * 1000,
            user_id,
            request_id,
            extra={
                "request_id": request_id,
                "user_id": user_id,
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 1),
            },
        )
        if self.metrics:
            method = request.method if request.method in _METHODS else "other"
            key = (route, method, response.status_code)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = (
                    metrics.HTTP_REQUESTS.labels(route, method, str(response.status_code)),
                    metrics.HTTP_DURATION.labels(route, method),
                )
            series[0].inc()
            series[1].observe(duration)
        response["X-Request-ID"] = request_id
        return response


# Any other method string a client sends is one label value, not a new series each.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
