from django.urls import re_path

from chats.consumers import ChatConsumer, RefuseConsumer

websocket_urlpatterns: list = [
    # Loose segments on purpose: a malformed id is refused by the consumer, not an app error.
    re_path(r"^api/chats/ws/(?P<chat_id>[^/]+)/(?P<client_id>[^/]+)/?$", ChatConsumer.as_asgi()),
    re_path(r"", RefuseConsumer.as_asgi()),
]
