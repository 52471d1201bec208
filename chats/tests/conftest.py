"""Fixtures of the chats tests."""

import pytest

from chats import services


@pytest.fixture
def make_chat(db):
    """make_chat(creator, *others, title=None) -> Chat, created through `chat_create`."""

    def make(creator, *others, title=None):
        chat, _ = services.chat_create(creator=creator, user_ids=[u.pk for u in others], title=title)
        return chat

    return make
