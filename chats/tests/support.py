"""Helpers of the WebSocket tests: handshakes against `social.asgi.application`."""

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.services import TokenPair, session_start
from social.asgi import application


def ws_path(chat, user) -> str:
    return f"/api/chats/ws/{chat.pk}/{user.pk}"


async def new_session(user) -> TokenPair:
    return await database_sync_to_async(session_start)(user=user)


def bearer_headers(tokens: TokenPair) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {tokens.access}".encode())]


async def open_socket(chat, user, tokens: TokenPair | None = None) -> WebsocketCommunicator:
    """A connected communicator of `user` in `chat`, Bearer-authenticated (a new session)."""
    tokens = tokens or await new_session(user)
    socket = WebsocketCommunicator(application, ws_path(chat, user), headers=bearer_headers(tokens))
    connected, code = await socket.connect()
    assert connected, f"handshake refused with {code}"
    socket.tokens = tokens
    return socket


async def refused(path: str, headers=None) -> bool:
    """True when the handshake is closed before any accept."""
    socket = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await socket.connect()
    if connected:
        await socket.disconnect()
    return not connected
