from rest_framework.throttling import SimpleRateThrottle

from social import metrics


class _PerClientIP(SimpleRateThrottle):
    """Per client IP through the shared cache. `get_ident` honours REST_FRAMEWORK's
    NUM_PROXIES, so a client cannot dodge the limit with its own X-Forwarded-For."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def throttle_failure(self):
        metrics.RATE_LIMIT_REFUSALS.labels(self.scope).inc()
        return super().throttle_failure()


class LoginThrottle(_PerClientIP):
    scope = "auth_login"  # login and token share this bucket


class RegisterThrottle(_PerClientIP):
    scope = "auth_register"
