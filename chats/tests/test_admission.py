"""Who may be put in a chat: chat_invites="friends" (a chat create or member add that would put
such a user with a non-friend → 403, EXTENSIONS.md §8) and blocks (§5), decided for both paths by
`chats.admission.chat_admission_check`."""

import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory
from chats.admission import FRIENDS_ONLY, chat_admission_check
from chats.models import Chat, ChatMember
from friends.services import friendship_add
from safety.services import block_create
from social.exceptions import Blocked

pytestmark = pytest.mark.django_db


def friends_only(*users):
    User.objects.filter(pk__in=[user.pk for user in users]).update(chat_invites="friends")


def create(api, *users, title=None):
    body = {"users": [str(user.pk) for user in users], **({"title": title} if title else {})}
    return api.post("/api/chats/create", body, format="json")


def test_a_friends_only_user_cannot_be_put_in_a_chat_by_a_stranger(api, other_user):
    friends_only(other_user)
    response = create(api, other_user)
    assert response.status_code == 403
    assert response.json() == {"detail": FRIENDS_ONLY.format(username=other_user.username)}
    assert not Chat.objects.exists()


def test_a_friend_may_put_them_in_a_chat(api, user, other_user):
    friends_only(other_user)
    friendship_add(user=user, friend=other_user)
    assert create(api, other_user).status_code == 201


def test_in_a_group_they_must_be_friends_with_every_other_member(api, user, other_user):
    carol = UserFactory()
    friends_only(carol)
    friendship_add(user=user, friend=carol)
    response = create(api, other_user, carol, title="группа")
    assert response.status_code == 403
    assert response.json() == {"detail": FRIENDS_ONLY.format(username=carol.username)}
    friendship_add(user=other_user, friend=carol)
    assert create(api, other_user, carol, title="группа").status_code == 201


def test_the_creators_own_setting_does_not_stop_them(api, user, other_user):
    friends_only(user)
    assert create(api, other_user).status_code == 201


def test_an_existing_direct_chat_is_still_answered(api, user, other_user):
    assert create(api, other_user).status_code == 201
    friends_only(other_user)
    again = create(api, other_user)
    assert again.status_code == 200
    assert Chat.objects.count() == 1


def test_everyone_is_the_default_and_lets_strangers_invite(api, other_user):
    assert User.objects.get(pk=other_user.pk).chat_invites == "everyone"
    assert create(api, other_user).status_code == 201


@pytest.mark.parametrize("size", [2, 30])
def test_the_check_costs_three_queries_whatever_the_number_of_users(django_assert_num_queries, user, size):
    others = UserFactory.create_batch(size)
    friends_only(*others)
    for other in others:
        friendship_add(user=user, friend=other)
        for another in others:
            if another.pk != other.pk and another.pk > other.pk:
                friendship_add(user=other, friend=another)
    # the block rule, who takes invites from friends only, their friendships
    with django_assert_num_queries(3):
        chat_admission_check(inviter=user, user_ids=[other.pk for other in others])
    with django_assert_num_queries(2):
        chat_admission_check(inviter=others[0], user_ids=[user.pk])


# --- member add (POST /api/chats/<id>/members) goes through the same check -------------------------
def add(api, chat_id, *users):
    return api.post(f"/api/chats/{chat_id}/members", {"users": [str(user.pk) for user in users]}, format="json")


def test_member_add_refuses_a_friends_only_stranger_and_takes_a_friend(api, user):
    chat_id = create(api, UserFactory(), title="группа").json()["id"]
    stranger, friend = UserFactory(), UserFactory()
    friends_only(stranger, friend)
    friendship_add(user=user, friend=friend)

    refused = add(api, chat_id, stranger)
    assert refused.status_code == 403
    assert refused.json() == {"detail": FRIENDS_ONLY.format(username=stranger.username)}
    assert add(api, chat_id, friend).status_code == 200
    assert ChatMember.objects.filter(chat_id=chat_id, user=friend).exists()
    assert not ChatMember.objects.filter(chat_id=chat_id, user=stranger).exists()


def test_member_add_refuses_a_user_separated_by_a_block_from_any_member(api, user):
    member = UserFactory()
    chat_id = create(api, member, title="группа").json()["id"]
    newcomer = UserFactory()
    block_create(blocker=newcomer, blocked=member)  # the block is between the newcomer and a member

    refused = add(api, chat_id, newcomer)
    assert refused.status_code == 403
    assert refused.json() == {"detail": Blocked.default_message}
    assert not ChatMember.objects.filter(chat_id=chat_id, user=newcomer).exists()
