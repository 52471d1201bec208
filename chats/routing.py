from django.urls import re_path

from chats.consumers import ChatConsumer, RefuseConsumer
from chats.user_consumer import UserConsumer

websocket_urlpatterns: list = [
    # Loose segments on purpose: a malformed id is refused by the consumer, not an app error.
    re_path(r"^api/chats/ws/(?P<chat_id>[^/]+)/(?P<client_id>[^/]+)/?$", ChatConsumer.as_asgi()),
    # The user socket (EXTENSIONS §1): everything of the user, from every chat.
    re_path(r"^api/ws/?$", UserConsumer.as_asgi()),
    re_path(r"", RefuseConsumer.as_asgi()),
]
