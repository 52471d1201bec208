"""One error language for everything under /api: `{"detail": ...}` or `{"field": [...]}`."""

import logging
import sys

from django.core import exceptions as django_exceptions
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from social.exceptions import (
    CSRF_MESSAGE,
    DomainError,
    Forbidden,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
)
from social.outages import is_outage, log_outage, retry_after

logger = logging.getLogger(__name__)

CREDENTIALS_MESSAGE = Unauthenticated.default_message
NOT_FOUND_MESSAGE = "Не найдено."
SERVER_ERROR_MESSAGE = "Внутренняя ошибка сервера."
TOO_LARGE_MESSAGE = PayloadTooLarge.default_message


def _as_drf(exc):
    """Translate domain and Django exceptions into DRF ones; DRF ones pass through."""
    if isinstance(exc, DomainError):
        error = drf_exceptions.APIException(exc.message)
        error.status_code = exc.status_code
        return error
    if isinstance(exc, django_exceptions.ValidationError):
        if hasattr(exc, "error_dict"):
            return drf_exceptions.ValidationError(exc.message_dict)
        return drf_exceptions.ValidationError({"detail": exc.messages})
    if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent)):
        error = drf_exceptions.APIException(TOO_LARGE_MESSAGE)
        error.status_code = 413
        return error
    if isinstance(exc, django_exceptions.ObjectDoesNotExist):
        return drf_exceptions.NotFound(NOT_FOUND_MESSAGE)
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        # The contract gives one message for every authentication failure.
        # (simplejwt's InvalidToken subclasses AuthenticationFailed with a dict detail.)
        if isinstance(exc, drf_exceptions.NotAuthenticated):
            return drf_exceptions.NotAuthenticated(CREDENTIALS_MESSAGE)
        return drf_exceptions.AuthenticationFailed(CREDENTIALS_MESSAGE)
    if isinstance(exc, drf_exceptions.ParseError):
        return drf_exceptions.ParseError("Некорректный JSON или форма.")
    return exc


def exception_handler(exc, context):
    if is_outage(exc):
        log_outage(exc, context["request"].path if context.get("request") else "a view")
        return outage_response(exc.message if isinstance(exc, DomainError) else None)
    translated = _as_drf(exc)
    if translated is not exc and getattr(exc, "auth_header", None):
        # DRF put the WWW-Authenticate value on the original exception; a 401 must carry it.
        translated.auth_header = exc.auth_header
    response = drf_exception_handler(translated, context)
    if response is None:
        return None  # a real server error: Django's handler500 answers it (JSON, see below)
    if isinstance(response.data, list):
        response.data = {"detail": response.data}
    return response


def detail_response(message: str, status: int) -> JsonResponse:
    """`{"detail": message}` as UTF-8 JSON, for answers given outside DRF."""
    return JsonResponse({"detail": message}, status=status, json_dumps_params={"ensure_ascii": False})


def json_404(request, exception=None):
    return detail_response(NOT_FOUND_MESSAGE, 404)


def outage_response(message: str | None = None) -> JsonResponse:
    """A dependency did not answer: JSON 503 and when to try again."""
    response = detail_response(message or ServiceUnavailable.default_message, 503)
    response["Retry-After"] = retry_after()
    return response


def json_500(request):
    # Django calls this inside its `except` around the failed request (a view, or a middleware
    # such as the session's), so the exception is at hand: an outage anywhere is a 503.
    error = sys.exc_info()[1]
    if error is not None and is_outage(error):
        log_outage(error, request.path)
        return outage_response()
    return detail_response(SERVER_ERROR_MESSAGE, 500)


def json_400(request, exception=None):
    return detail_response(DomainError.default_message, 400)


def json_403(request, exception=None):
    return detail_response(Forbidden.default_message, 403)


def csrf_failure(request, reason=""):
    return detail_response(CSRF_MESSAGE, 403)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Catch-all for unknown /api paths (and malformed ids, which match no route). It answers
    JSON itself rather than raising Http404, so that even with DEBUG on (where Django shows
    its HTML 404 page instead of handler404) nothing under /api is HTML. CSRF-exempt: it
    changes nothing, and a Bearer client's POST to an unknown path must read 404, not a CSRF
    403 (the API's views are exempt through DRF; this one is a plain Django view)."""
    return json_404(request)
