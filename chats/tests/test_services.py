"""Services: the rules REST and WebSocket share."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from chats import services
from chats.models import Chat


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creates_of_one_direct_chat_make_a_single_chat():
    alice, bob = UserFactory.create_batch(2)
    barrier = threading.Barrier(2)
    results = []

    def create(creator, other):
        try:
            barrier.wait()
            results.append(services.chat_create(creator=creator, user_ids=[other.pk]))
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=pair) for pair in ((alice, bob), (bob, alice))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert results[0][0].pk == results[1][0].pk
    assert sorted(created for _, created in results) == [False, True]
    assert Chat.objects.count() == 1


@pytest.mark.django_db
def test_a_default_title_longer_than_255_characters_is_cut():
    creator = UserFactory()
    others = [UserFactory(username=f"очень-длинное-имя-{i:03d}") for i in range(20)]
    chat, _ = services.chat_create(creator=creator, user_ids=[u.pk for u in others])
    assert len(chat.title) == 255
    assert chat.title.endswith("…")


@pytest.mark.django_db
def test_last_message_at_follows_the_newest_message_and_never_goes_back(make_chat):
    alice, bob = UserFactory.create_batch(2)
    chat = make_chat(alice, bob)
    message = services.message_send(chat=chat, author=alice, text="one")
    chat.refresh_from_db()
    assert chat.last_message_at == message.created_at
    # A later commit of an earlier-stamped message does not move it back.
    Chat.objects.filter(pk=chat.pk).update(last_message_at=message.created_at + timedelta(minutes=1))
    services.message_send(chat=chat, author=bob, text="two")
    chat.refresh_from_db()
    assert chat.last_message_at == message.created_at + timedelta(minutes=1)


@pytest.mark.django_db
@pytest.mark.parametrize("others", [2, 30])  # group chats (a direct one checks blocks too)
def test_a_message_costs_the_same_statements_whatever_the_number_of_members(
    make_chat, django_assert_num_queries, others
):
    # Every message a socket stores pays each of them as a round trip: the chat's counters
    # (their UPDATE is the chat's row lock), the message, the sender's read marker, the members
    # the event goes to; and here the test transaction's savepoint and its release.
    author, *rest = UserFactory.create_batch(1 + others)
    chat = make_chat(author, *rest)
    with django_assert_num_queries(6):
        message = services.message_send(chat=chat, author=author, text="раз")
    chat.refresh_from_db()
    assert (chat.messages_count, chat.last_message_at) == (1, message.created_at)


@pytest.mark.django_db
def test_after_a_member_leaves_a_direct_chat_the_pair_gets_a_fresh_one(make_chat):
    alice, bob = UserFactory.create_batch(2)
    first = make_chat(alice, bob)
    services.chat_member_remove(chat=first, user=bob)
    second, created = services.chat_create(creator=alice, user_ids=[bob.pk])
    assert created
    assert second.pk != first.pk
    assert set(second.users.all()) == {alice, bob}


@pytest.mark.django_db
def test_deleting_a_user_takes_their_messages_out_of_every_chats_counter(make_chat):
    from accounts.services import user_delete

    alice, bob, carol = UserFactory.create_batch(3)
    pair, trio = make_chat(alice, bob), make_chat(alice, bob, carol, title="трое")
    for chat, author in [(pair, alice), (pair, bob), (pair, bob), (trio, bob), (trio, carol)]:
        services.message_send(chat=chat, author=author, text="привет")

    user_delete(user=bob)

    for chat in Chat.objects.filter(pk__in=[pair.pk, trio.pk]):
        assert chat.messages_count == chat.messages.count() == 1
