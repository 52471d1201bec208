"""Emails are private (CONTRACT-NOTES "Privacy", issue #19 item 1): the attack was a signed-in
account paging `GET /api/users` for ids, then reading their emails from a chat it created with
them, from a one-sided friend add, or from the likers of a post."""

import pytest
from channels.db import database_sync_to_async

from accounts.tests.factories import UserFactory
from chats.models import Chat
from chats.services import chat_create, message_send
from chats.tests.support import open_socket
from posts.tests.factories import LikeFactory, PostFactory

pytestmark = pytest.mark.django_db

USER_KEYS = {"id", "username", "email", "avatar"}


def emails_in(users: list[dict]) -> set[str]:
    assert all(set(user) == USER_KEYS for user in users)  # the contract's keys stay
    return {user["email"] for user in users}


def test_a_chat_created_with_harvested_ids_answers_no_email(api, user):
    victims = UserFactory.create_batch(3)

    response = api.post("/api/chats/create", {"users": [str(v.id) for v in victims]}, format="json")

    assert response.status_code == 201
    # Embedded members carry "" for every viewer, the creator's own too (one shared encoding).
    assert emails_in(response.json()["users"]) == {""}


def test_the_chat_list_and_its_history_answer_no_email(api, user, client_for):
    other = UserFactory()
    chat_id = api.post("/api/chats/create", {"users": [str(other.id)]}, format="json").json()["id"]
    message_send(chat=Chat.objects.get(pk=chat_id), author=other, text="привет")

    chats = api.get(f"/api/users/{user.id}/chats").json()
    history = api.get(f"/api/chats/{chat_id}/messages/0").json()

    assert emails_in(chats[0]["users"]) == {""}
    assert emails_in([message["user"] for message in history]) == {""}


def test_a_one_sided_friend_add_answers_no_email_in_the_friends_list(api, user):
    victim = UserFactory()
    assert api.post(f"/api/users/{user.id}/friends/add/{victim.id}").status_code == 200

    friends = api.get("/api/users/friends/all").json()

    assert [friend["id"] for friend in friends] == [str(victim.id)]
    assert emails_in(friends) == {""}


def test_likers_of_a_post_carry_no_email_but_the_callers_own_answers_keep_it(api, user):
    post = PostFactory()
    liker = UserFactory()
    LikeFactory(post=post, user=liker)
    LikeFactory(post=post, user=user)

    embedded = api.get(f"/api/posts/{post.id}").json()["likes"]
    listed = api.get(f"/api/posts/{post.id}/likes").json()

    assert emails_in(embedded) == {""}
    # The likers page is an answer to its caller: their own row is about them, the others are not.
    assert {row["id"]: row["email"] for row in listed} == {str(liker.id): "", str(user.id): user.email}
    assert api.get("/api/auth/current_user").json()["email"] == user.email


def test_register_and_login_answer_the_callers_own_email(anon_client, password):
    body = {"username": "masha", "email": "masha@example.com", "password": "Dlinnyy-Parol-2026"}
    registered = anon_client.post("/api/auth/register", body, format="json")
    logged_in = anon_client.post(
        "/api/auth/login", {"email": body["email"], "password": body["password"]}, format="json"
    )

    assert registered.json()["new_user"]["email"] == "masha@example.com"
    assert logged_in.json()["user"]["email"] == "masha@example.com"


def test_friends_visibility_shows_the_friends_list_emails_only(api, user, settings):
    settings.USER_EMAIL_VISIBILITY = "friends"
    friend = UserFactory()
    api.post(f"/api/users/{user.id}/friends/add/{friend.id}")
    chat = api.post("/api/chats/create", {"users": [str(friend.id)]}, format="json").json()

    assert emails_in(api.get("/api/users/friends/all").json()) == {friend.email}
    assert emails_in(chat["users"]) == {""}


@pytest.mark.parametrize("visibility", ["self", "friends", "everyone"])
def test_the_messengers_chat_list_shows_emails_only_under_everyone(api, user, settings, visibility):
    settings.USER_EMAIL_VISIBILITY = visibility
    other = UserFactory()
    chat_id = api.post("/api/chats/create", {"users": [str(other.id)]}, format="json").json()["id"]
    message_send(chat=Chat.objects.get(pk=chat_id), author=other, text="привет")

    (chat,) = api.get("/api/chats").json()

    expected = {user.email, other.email} if visibility == "everyone" else {""}
    assert emails_in(chat["users"]) == expected
    assert chat["last_message"]["user"]["email"] == (other.email if visibility == "everyone" else "")


def test_everyone_visibility_is_the_contract_read_literally(api, user, settings):
    settings.USER_EMAIL_VISIBILITY = "everyone"
    other = UserFactory()

    chat = api.post("/api/chats/create", {"users": [str(other.id)]}, format="json").json()

    assert emails_in(chat["users"]) == {user.email, other.email}


@pytest.mark.django_db(transaction=True)
async def test_socket_frames_carry_no_email(settings):
    alice, bob = await database_sync_to_async(UserFactory.create_batch)(2)
    chat, _ = await database_sync_to_async(chat_create)(creator=alice, user_ids=[bob.pk])
    sender, receiver = await open_socket(chat, alice), await open_socket(chat, bob)
    await sender.send_json_to({"message": "адрес?"})

    frame = await receiver.receive_json_from(timeout=3)

    assert frame["user"]["id"] == str(alice.pk)
    assert emails_in([frame["user"]]) == {""}
    await sender.disconnect()
    await receiver.disconnect()
