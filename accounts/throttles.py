from django.conf import settings

from social.client_ip import client_ip
from social.ratelimit import Rate, rate_parse
from social.throttles import RateThrottle


class _PerClientIP(RateThrottle):
    """Per client IP at `AUTH_RATE_LIMIT` (read on each request). The client IP honours
    NUM_PROXIES, so a client cannot dodge the limit with its own X-Forwarded-For; the count is
    per process while Redis is down (social/limits.py)."""

    def rate(self) -> Rate:
        return rate_parse(settings.AUTH_RATE_LIMIT)

    def ident(self, request) -> str:
        return client_ip(request)


class LoginThrottle(_PerClientIP):
    scope = "auth_login"  # login and token share this bucket


class RegisterThrottle(_PerClientIP):
    scope = "auth_register"


class PasswordResetThrottle(_PerClientIP):
    scope = "auth_password_reset"  # asking for a reset mail and confirming one
