import pytest

from accounts.tests.factories import UserFactory
from friends.services import friendship_add


@pytest.fixture
def befriend(db):
    """befriend(a, b): make a and b friends through the real service (both rows)."""

    def make(user, friend):
        return friendship_add(user=user, friend=friend)

    return make


@pytest.fixture
def make_user(db):
    """make_user(**fields) -> a saved user (UserFactory)."""
    return UserFactory
