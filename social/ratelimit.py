"""Rate limits through the shared cache (Redis in production), so every process counts together.

A limit is `count/period` (`20/min`, `50/day`). A window opens with a caller's first request in
a scope and lasts one period; past `count` requests in it the caller is refused until it ends,
and told when (`Retry-After`). `hit` is the one function that talks to the cache (social.limits'
`limits_cache`: the shared cache, or this process's own count while Redis is down).

Two families use it, through the DRF throttles of social/throttles.py: per client IP before
sign-in (`AUTH_RATE_LIMIT`: login and token share a bucket, register has its own;
accounts/throttles.py) and per user on what can harvest or spam (`SOCIAL_RATE_LIMITS`,
CONTRACT-NOTES "Privacy"). settings.py imports this module to parse both: it must not import DRF,
whose throttle module reads DRF's settings while it is imported.
"""

import re
import time
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
SOCIAL_RATE_NAMES = (
    "friend_add",
    "chat_create",
    "post_create",
    "search",
    "report",
    "comment_create",
    "export",
    "chat_member_add",
    "block",
)
SOCIAL_RATE_DEFAULTS = (
    "friend_add=50/day,chat_create=30/hour,post_create=60/hour,search=120/min,report=30/hour,"
    "comment_create=120/hour,export=5/hour,chat_member_add=60/hour,block=100/hour"
)
OFF = "off"


@dataclass(frozen=True)
class Rate:
    count: int
    period: int  # seconds


def rate_parse(text: str) -> Rate:
    """`20/min` → Rate(20, 60). A bad value stops the process at start (ImproperlyConfigured)."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*([a-z]+)\s*", text)
    if not found or found.group(2) not in UNITS or int(found.group(1)) < 1:
        raise ImproperlyConfigured(f"A rate is N/unit (unit: {', '.join(UNITS)}), not {text!r}.")
    return Rate(int(found.group(1)), UNITS[found.group(2)])


def social_rates_parse(text: str) -> dict[str, Rate | None]:
    """`SOCIAL_RATE_LIMITS`: `name=N/unit` pairs separated by commas. Names left out keep their
    default, `name=off` lifts one limit, and `off` alone lifts them all (benchmarks, test
    stacks). An unknown name is a configuration error, not a silently ignored limit."""
    rates: dict[str, Rate | None] = {}
    if text.strip() == OFF:
        return dict.fromkeys(SOCIAL_RATE_NAMES)
    for source in (SOCIAL_RATE_DEFAULTS, text):
        for pair in filter(None, (part.strip() for part in source.split(","))):
            name, _, value = (piece.strip() for piece in pair.partition("="))
            if name not in SOCIAL_RATE_NAMES:
                raise ImproperlyConfigured(
                    f"SOCIAL_RATE_LIMITS: unknown limit {name!r} ({', '.join(SOCIAL_RATE_NAMES)})."
                )
            rates[name] = None if value == OFF else rate_parse(value)
    return rates


def hit(*, scope: str, ident: str, rate: Rate) -> float:
    """Count one request of `ident` in `scope`. 0 when it is allowed, else the seconds until
    its window ends. Two cache round trips in the steady state (add, incr)."""
    # Imported here: settings.py imports this module to parse rates, before caches exist.
    from social.limits import limits_cache as cache  # per process while Redis is down

    key = f"rate:{scope}:{ident}"
    now = time.time()
    # `add` opens the window only when none is open: concurrent first requests open one.
    if cache.add(key, 1, timeout=rate.period):
        cache.set(f"{key}:ends", now + rate.period, timeout=rate.period)
        return 0.0
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between add and incr: this request opens the next
        cache.set(key, 1, timeout=rate.period)
        cache.set(f"{key}:ends", now + rate.period, timeout=rate.period)
        return 0.0
    if count <= rate.count:
        return 0.0
    ends = cache.get(f"{key}:ends") or now + rate.period
    return max(1.0, ends - now)
