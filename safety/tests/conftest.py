"""Fixtures of the safety tests: two users who know each other well, then a block."""

from dataclasses import dataclass

import pytest

from accounts.tests.factories import UserFactory
from chats.services import chat_create
from friends.services import friendship_add
from posts.tests.factories import PostFactory
from safety.services import block_create


@dataclass
class Pair:
    """`viewer` and `other` (friends, with a direct chat and a group chat with `third`), each
    with a signed-in client; `post` is `other`'s."""

    viewer: object
    other: object
    third: object
    viewer_api: object
    other_api: object
    post: object
    direct_chat: object
    group_chat: object

    def block(self, direction: str) -> None:
        """`viewer` blocks `other`, or `other` blocks `viewer`: either must separate them."""
        if direction == "viewer blocks":
            block_create(blocker=self.viewer, blocked=self.other)
        else:
            block_create(blocker=self.other, blocked=self.viewer)


@pytest.fixture
def pair(db, client_for) -> Pair:
    viewer = UserFactory(username="viewer_user")
    other = UserFactory(username="other_person")
    third = UserFactory()
    friendship_add(user=viewer, friend=other)
    direct_chat, _ = chat_create(creator=viewer, user_ids=[other.pk])
    group_chat, _ = chat_create(creator=third, user_ids=[viewer.pk, other.pk], title="трое")
    return Pair(
        viewer=viewer,
        other=other,
        third=third,
        viewer_api=client_for(viewer),
        other_api=client_for(other),
        post=PostFactory(author=other),
        direct_chat=direct_chat,
        group_chat=group_chat,
    )


DIRECTIONS = ["viewer blocks", "other blocks"]
