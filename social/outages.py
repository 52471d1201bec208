"""A dependency outage, told apart from a bug: one definition for REST and sockets.

The database, Redis (cache and channel layer) or the storage refusing, timing out or dropping
a connection is not the client's fault and not ours to hide behind a 500: REST answers a JSON
503 with `Retry-After`, a socket closes 4503 ("try again later", EXTENSIONS.md §1) or answers
an error frame. Anything else stays a 500.
"""

import logging

import redis.exceptions
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import InterfaceError, OperationalError

from social.exceptions import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 4503

# psycopg's connection failures and timeouts arrive as Django's OperationalError (server gone,
# connect timeout, statement timeout, pool timeout) or InterfaceError (connection already closed).
_OUTAGES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BotoCoreError,
    ConnectionError,
    TimeoutError,
)


def is_outage(error: BaseException) -> bool:
    """Is `error` (or what caused it) a dependency that failed to answer?"""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, (ServiceUnavailable, *_OUTAGES)):
            return True
        if isinstance(error, ClientError):
            # A 5xx from the store (SlowDown, InternalError, ServiceUnavailable) is an outage.
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                return True
        if isinstance(error, DomainError):
            return error.status_code == 503
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def retry_after() -> str:
    return str(settings.OUTAGE_RETRY_AFTER)


def log_outage(error: BaseException, where: str) -> None:
    # One line, no traceback: an outage is expected operations, not a bug to debug.
    logger.warning("dependency unavailable in %s: %s: %s", where, type(error).__name__, error)
