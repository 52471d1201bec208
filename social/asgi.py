"""ASGI entry point: the whole API, HTTP and WebSocket. One daphne is a complete deployment."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from chats.daphne_close import allow_protocol_close_codes  # noqa: E402
from chats.middleware import TokenAuthMiddleware  # noqa: E402
from chats.routing import websocket_urlpatterns  # noqa: E402
from social.daphne_bodies import leave_request_bodies_to_django  # noqa: E402
from social.daphne_body_limit import enforce_body_limits  # noqa: E402
from social.gc_tuning import tune_for_server  # noqa: E402
from social.metrics import live_gauges_drop_at_exit, pool_sampler_start  # noqa: E402

# Body limits while the body streams in, chunked bodies included (see the module).
enforce_body_limits()

websocket_app = TokenAuthMiddleware(URLRouter(websocket_urlpatterns))
if settings.SENTRY_DSN:
    from social.sentry import asgi_wrap

    websocket_app = asgi_wrap(websocket_app)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_app})

leave_request_bodies_to_django()

# What an ASGI server process needs once: start-up objects out of every later collection and
# rarer collections (social/gc_tuning.py), and daphne able to close with 1009 (chats/daphne_close.py).
tune_for_server()
allow_protocol_close_codes()
# The psycopg pool's connections in use / waiting, into the metrics (daphne holds the pools);
# on a clean exit this process's open-socket and pool gauges leave the deployment's sum.
pool_sampler_start()
live_gauges_drop_at_exit()
