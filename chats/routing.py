from django.urls import re_path

from chats.consumers import ChatConsumer, RefuseConsumer
from chats.daphne_close import allow_protocol_close_codes

# Imported by social.asgi only, i.e. in ASGI server processes (see the module's docstring).
allow_protocol_close_codes()

websocket_urlpatterns: list = [
    # Loose segments on purpose: a malformed id is refused by the consumer, not an app error.
    re_path(r"^api/chats/ws/(?P<chat_id>[^/]+)/(?P<client_id>[^/]+)/?$", ChatConsumer.as_asgi()),
    re_path(r"", RefuseConsumer.as_asgi()),
]
