"""The auth cookies of web clients: HttpOnly, SameSite=Lax, Secure per COOKIE_SECURE."""

from django.conf import settings
from django.middleware.csrf import get_token

from accounts.services import TokenPair

REFRESH_COOKIE_PATH = "/api/auth/"  # the refresh token is only ever sent to the auth endpoints


def set_auth_cookies(request, response, tokens: TokenPair) -> None:
    common = {"httponly": True, "samesite": "Lax", "secure": settings.COOKIE_SECURE}
    response.set_cookie(
        settings.AUTH_COOKIE_ACCESS,
        tokens.access,
        max_age=int(settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
        path="/",
        **common,
    )
    response.set_cookie(
        settings.AUTH_COOKIE_REFRESH,
        tokens.refresh,
        max_age=int(settings.REFRESH_TOKEN_LIFETIME.total_seconds()),
        path=REFRESH_COOKIE_PATH,
        **common,
    )
    get_token(getattr(request, "_request", request))  # CsrfViewMiddleware sets the csrftoken cookie on this response


def clear_auth_cookies(response) -> None:
    response.delete_cookie(settings.AUTH_COOKIE_ACCESS, path="/", samesite="Lax")
    response.delete_cookie(settings.AUTH_COOKIE_REFRESH, path=REFRESH_COOKIE_PATH, samesite="Lax")
