"""Presence costs O(1) Redis round trips per change, whatever the number of friends or sockets
(EXTENSIONS.md §2). Counted at redis-py's one funnel for commands, on the real Redis."""

import pytest
import redis
from django.utils import timezone

from accounts.tests.factories import UserFactory
from friends import presence
from friends.services import friendship_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_commands(monkeypatch):
    """A list that records the name of every command the process sends to Redis (sync client)."""
    sent = []
    send = redis.Redis.execute_command

    def counting(self, *args, **options):
        sent.append(args[0])
        return send(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    return sent


def online(users):
    presence.presence_keep(user_ids=[user.pk for user in users])


@pytest.mark.parametrize("friends", [1, 40])
def test_announcing_costs_one_round_trip_and_fixed_queries_whatever_the_friends(
    friends, redis_commands, django_assert_num_queries
):
    user, *others = UserFactory.create_batch(1 + friends)
    for other in others:
        friendship_add(user=user, friend=other)
    online(others[::2])
    redis_commands.clear()
    # last_seen, the user's setting, the friends
    with django_assert_num_queries(3):
        presence.presence_announce(user_id=user.pk, online=False, last_seen=timezone.now())
    assert redis_commands == ["EVAL"]


@pytest.mark.parametrize("users", [1, 300])
def test_a_refresh_of_every_user_of_a_process_is_one_round_trip(users, redis_commands):
    people = UserFactory.build_batch(users)  # ids only: presence never reads the rows
    presence.presence_keep(user_ids=[user.pk for user in people])
    presence.presence_sweep()
    assert redis_commands == ["EVAL", "EVAL"]


def test_connect_and_disconnect_are_one_round_trip_each(redis_commands):
    user = UserFactory()
    assert presence.presence_keep(user_ids=[user.pk]) == [str(user.pk)]
    assert presence.presence_keep(user_ids=[user.pk]) == []  # already online: nothing to announce
    presence.presence_touch(user_id=user.pk)
    assert presence.presence_close(user_id=user.pk) is True
    assert presence.presence_close(user_id=user.pk) is False  # only one caller announces it
    assert redis_commands == ["EVAL"] * 5
