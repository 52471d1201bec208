"""DRF throttles on social.ratelimit: a refused request becomes 429 `{"detail"}` with
`Retry-After` (DRF's Throttled, through social.errors)."""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from social import metrics
from social.ratelimit import SOCIAL_RATE_NAMES, Rate, hit


class RateThrottle(BaseThrottle):
    """A DRF throttle on `hit`: a refused request becomes 429 `{"detail"}` with `Retry-After`
    (DRF's Throttled through social.errors). Subclasses say whose requests are counted."""

    scope = ""

    def rate(self) -> Rate | None:
        raise NotImplementedError

    def ident(self, request) -> str:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = self.rate()
        self.seconds_left = 0.0 if rate is None else hit(scope=self.scope, ident=self.ident(request), rate=rate)
        if self.seconds_left:
            metrics.RATE_LIMIT_REFUSALS.labels(self.scope).inc()  # scopes: a fixed set of names
            return False
        return True

    def wait(self) -> float:
        return self.seconds_left


class PerUserThrottle(RateThrottle):
    """Per signed-in user at the `SOCIAL_RATE_LIMITS` rate of `scope` (read on each request)."""

    def rate(self) -> Rate | None:
        return settings.SOCIAL_RATE_LIMITS.get(self.scope)

    def ident(self, request) -> str:
        return str(request.user.pk)


def per_user(scope: str) -> type[PerUserThrottle]:
    """The throttle class of one `SOCIAL_RATE_LIMITS` name, for a view's `throttle_classes`."""
    if scope not in SOCIAL_RATE_NAMES:
        raise ValueError(scope)
    return type(f"PerUser_{scope}", (PerUserThrottle,), {"scope": scope})
