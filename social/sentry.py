"""Errors to Sentry (sentry-sdk with its Django and Channels integrations).

Imported by the settings only when SENTRY_DSN is set: without it nothing is sent and
sentry_sdk is never imported. Each event carries the request id of the request (or socket
event) it happened in, the id the client got in `X-Request-ID` and every log line shows.
"""

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration

from social.logs import request_id_current


def _with_request_id(event, hint):
    request_id = request_id_current()
    if request_id != "-":
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def asgi_wrap(application):
    """Errors of the WebSocket consumers to Sentry too: the Django integration patches only
    Channels 2's HTTP handler, so Channels 4's consumers need sentry-sdk's ASGI middleware."""
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    return SentryAsgiMiddleware(application)


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    # Personal data (emails, cookies, addresses) is never sent.
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        before_send=_with_request_id,
    )
