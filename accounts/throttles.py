from rest_framework.throttling import SimpleRateThrottle

from social.limits import limits_cache


class _PerClientIP(SimpleRateThrottle):
    """Per client IP through the shared cache (per process while it is down: social/limits.py).
    `get_ident` honours REST_FRAMEWORK's NUM_PROXIES, so a client cannot dodge the limit with
    its own X-Forwarded-For."""

    cache = limits_cache

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginThrottle(_PerClientIP):
    scope = "auth_login"  # login and token share this bucket


class RegisterThrottle(_PerClientIP):
    scope = "auth_register"
