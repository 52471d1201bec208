"""A block over both sockets: a message in the pair's direct chat is refused with an error
frame (the socket stays open; nothing stored); their shared group chat goes on."""

import pytest
from channels.db import database_sync_to_async

from chats.models import Message
from chats.tests.support import open_socket
from chats.tests.test_user_socket import open_user_socket
from safety.tests.conftest import DIRECTIONS

pytestmark = [pytest.mark.django_db(transaction=True)]

REFUSED = "Действие невозможно: один из пользователей заблокировал другого."


async def chat_socket_send(pair, chat, text):
    """The contract's chat socket: the frame the sender gets back."""
    socket = await open_socket(chat, pair.viewer)
    await socket.send_json_to({"message": text})
    frame = await socket.receive_json_from(timeout=3)
    assert await socket.receive_nothing(timeout=0.2), "the socket stays open, nothing else sent"
    await socket.disconnect()
    return frame


async def user_socket_send(pair, chat, text):
    """The user socket: the error frame, or the stored message's event."""
    socket = await open_user_socket(pair.viewer)
    await socket.send_json_to({"type": "message.send", "chat_id": str(chat.pk), "message": text, "ref": "r1"})
    frame = await socket.receive_json_from(timeout=3)
    await socket.disconnect()
    return frame


SOCKETS = [chat_socket_send, user_socket_send]


def stored_text(frame: dict) -> str | None:
    """The text of the stored message a frame carries (the chat socket's message object, the
    user socket's `message.new`), None for anything else."""
    if frame.get("type") == "message.new":
        return frame["message"]["message"]
    return frame.get("message") if "id" in frame else None


def _stored(text) -> bool:
    return Message.objects.filter(text=text).exists()


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("send", SOCKETS, ids=[send.__name__ for send in SOCKETS])
async def test_a_block_closes_the_direct_chat_on_both_sockets(pair, send, direction):
    before = await send(pair, pair.direct_chat, "до блокировки")
    assert stored_text(before) == "до блокировки", before
    await database_sync_to_async(pair.block)(direction)

    after = await send(pair, pair.direct_chat, "после блокировки")

    if send is chat_socket_send:
        assert after == {"detail": REFUSED}
    else:
        assert after == {"type": "error", "detail": REFUSED, "ref": "r1"}
    assert not await database_sync_to_async(_stored)("после блокировки")


@pytest.mark.parametrize("send", SOCKETS, ids=[send.__name__ for send in SOCKETS])
async def test_a_shared_group_chat_goes_on_over_both_sockets(pair, send):
    await database_sync_to_async(pair.block)("viewer blocks")
    frame = await send(pair, pair.group_chat, "в общем чате")
    assert stored_text(frame) == "в общем чате", frame
    assert await database_sync_to_async(_stored)("в общем чате")
