"""The user socket `/api/ws` with what main brought alongside it: notifications forwarded (and
counted), outages closing 4503, a password change keeping its own session's sockets, metrics."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from rest_framework.test import APIClient

from accounts.tests.factories import PASSWORD, UserFactory
from chats.consumers import CLOSE_SESSION_ENDED
from chats.tests.support import bearer_headers, new_session
from chats.tests.test_user_socket import open_user_socket
from chats.tests.test_websocket import close_code
from posts.tests.factories import PostFactory
from social import metrics
from social.asgi import application
from social.outages import CLOSE_TRY_AGAIN_LATER

pytestmark = [pytest.mark.django_db(transaction=True)]


def bearer(tokens) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")
    return client


async def test_a_like_over_rest_arrives_as_a_notification_frame_on_the_authors_user_socket():
    author, liker = await database_sync_to_async(UserFactory.create_batch)(2)
    post = await database_sync_to_async(PostFactory)(author=author)
    socket = await open_user_socket(author)
    delivered = metrics.NOTIFICATIONS_DELIVERED.labels("post.liked")._value.get()
    liker_tokens = await new_session(liker)

    def like():
        return bearer(liker_tokens).patch(f"/api/posts/{post.pk}/like/{liker.pk}").status_code

    assert await database_sync_to_async(like)() < 300
    frame = await socket.receive_json_from(timeout=3)
    assert frame["type"] == "notification" and frame["unread_count"] == 1
    assert frame["notification"]["type"] == "post.liked"
    assert frame["notification"]["post_id"] == str(post.pk)
    assert frame["notification"]["actor"]["id"] == str(liker.pk)
    assert metrics.NOTIFICATIONS_DELIVERED.labels("post.liked")._value.get() == delivered + 1
    await socket.disconnect()


async def test_a_password_change_closes_the_other_sessions_user_sockets_and_keeps_its_own():
    user = await database_sync_to_async(UserFactory)()
    other, own = await open_user_socket(user), await open_user_socket(user)

    def change():
        body = {"old_password": PASSWORD, "new_password": "Novyi-Parol-2026"}
        return bearer(own.tokens).post("/api/auth/password", body, format="json").status_code

    assert await database_sync_to_async(change)() == 200
    assert await close_code(other, timeout=3) == CLOSE_SESSION_ENDED
    assert await own.receive_nothing(timeout=0.5)
    await own.disconnect()


async def test_a_database_outage_at_the_handshake_closes_4503_not_an_http_error(monkeypatch):
    user = await database_sync_to_async(UserFactory)()
    tokens = await new_session(user)

    def unavailable(session_id):
        raise OperationalError("connection refused")

    monkeypatch.setattr("chats.user_consumer.session_is_ended", unavailable)
    socket = WebsocketCommunicator(application, "/api/ws", headers=bearer_headers(tokens))
    connected, _ = await socket.connect()
    assert connected  # accepted, so the client reads the close code
    assert await close_code(socket) == CLOSE_TRY_AGAIN_LATER


async def test_the_open_user_sockets_and_their_frames_are_counted():
    user = await database_sync_to_async(UserFactory)()
    gauge = metrics.WEBSOCKETS_OPEN.labels("user")
    frames_in, frames_out = metrics.WEBSOCKET_FRAMES.labels("in"), metrics.WEBSOCKET_FRAMES.labels("out")
    opened, received, sent = gauge._value.get(), frames_in._value.get(), frames_out._value.get()
    socket = await open_user_socket(user)  # `ready`: one frame out
    assert gauge._value.get() == opened + 1
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
    assert frames_in._value.get() == received + 1
    assert frames_out._value.get() == sent + 2
    await socket.disconnect()
    assert gauge._value.get() == opened
