"""The sockets' send (`services.message_send_as_member`): on PostgreSQL one written-out statement
stores a text message from a member; it must check, store, count, mark and announce what the
ORM path (`chat_for_member` + `message_send_once`) does, and fall back to it for the rest."""

import json

import pytest
import redis
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.tests.factories import UserFactory
from chats import services
from chats.models import Chat, ChatMember, Message
from safety.services import block_create
from social import fanout
from social.exceptions import Blocked, Forbidden, NotFound


@pytest.fixture
def published():
    """published() -> the fan-out events published since the fixture subscribed, in order."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    pubsub.subscribe(fanout.channel_name())
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"

    def read() -> list[dict]:
        events = []
        while (message := pubsub.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                events.append(json.loads(message["data"]))
        return events

    yield read
    pubsub.close()
    client.close()


def stored_payload(message_id: int) -> dict:
    """The message object as the ORM path builds it (MessageOutput through message_payload)."""
    message = Message.objects.select_related("user", "reply_to__user").get(pk=message_id)
    return services.message_payload(message)


def marker(chat, user):
    return ChatMember.objects.values_list("last_read_message_id", flat=True).get(chat=chat, user=user)


# Committed for real, as a socket's send is (autocommit: the statement commits by itself).
@pytest.mark.django_db(transaction=True)
def test_a_members_text_is_stored_counted_marked_and_announced_in_two_statements(
    make_chat, published, django_assert_num_queries
):
    alice, bob, carol = UserFactory.create_batch(3)
    chat = make_chat(alice, bob, carol, title="трое")
    published()

    # Before: seven (the membership check, BEGIN, three writes, the members, COMMIT).
    with django_assert_num_queries(2):
        sent = services.message_send_as_member(
            chat_id=chat.pk, author=alice, text="привет", origin="socket-1", client_ref="ref-1"
        )

    message = Message.objects.get()
    assert (message.pk, message.user_id, message.text, message.client_ref) == (sent["id"], alice.pk, "привет", "ref-1")
    assert (message.images, message.reply_to_id, message.edited_at) == ([], None, None)
    # The object the ORM path builds, to the byte.
    assert json.dumps(sent, ensure_ascii=False) == json.dumps(stored_payload(message.pk), ensure_ascii=False)
    chat.refresh_from_db()
    assert (chat.messages_count, chat.last_message_at) == (1, message.created_at)
    assert (marker(chat, alice), marker(chat, bob), marker(chat, carol)) == (message.pk, None, None)
    [event] = published()
    assert sorted(event["user_ids"]) == sorted(str(user.pk) for user in (alice, bob, carol))
    assert event["chat_id"] == str(chat.pk)
    assert event["origin"] == "socket-1"
    assert event["chat_frame"] == sent
    assert event["user_frame"] == {
        "type": "message.new",
        "chat_id": str(chat.pk),
        "message": sent,
        "client_ref": "ref-1",
    }


@pytest.mark.django_db(transaction=True)
def test_the_written_out_send_announces_what_message_send_once_announces(make_chat, published):
    alice, bob = UserFactory.create_batch(2)
    chat = make_chat(alice, bob, title="двое")
    published()
    orm = services.message_send_once(chat=chat, author=alice, text="раз", origin="o", client_ref="a")[0]
    [orm_event] = published()
    sent = services.message_send_as_member(chat_id=chat.pk, author=alice, text="два", origin="o", client_ref="b")
    [event] = published()

    def shape(event, message_id, text, ref):
        # What differs between the two sends by construction: the id, the text, the time, the ref.
        frame = {**event["chat_frame"], "id": message_id, "message": text, "created_at": "-"}
        return {
            **event,
            "chat_frame": frame,
            "user_frame": {**event["user_frame"], "message": frame, "client_ref": ref},
        }

    assert shape(event, 0, "", "") == shape(orm_event, 0, "", "")
    assert sent["id"] > orm.pk
    assert marker(chat, alice) == sent["id"]
    chat.refresh_from_db()
    assert chat.messages_count == 2


@pytest.mark.django_db(transaction=True)
def test_a_resent_client_ref_answers_the_earlier_message_and_stores_nothing(make_chat, published):
    alice, bob = UserFactory.create_batch(2)
    chat = make_chat(alice, bob, title="двое")
    first = services.message_send_as_member(chat_id=chat.pk, author=alice, text="раз", client_ref="same")
    published()

    again = services.message_send_as_member(chat_id=chat.pk, author=alice, text="раз", client_ref="same")

    assert again == first
    assert Message.objects.count() == 1
    chat.refresh_from_db()
    assert chat.messages_count == 1
    # Only the author's user sockets get it again.
    [event] = published()
    assert event["user_ids"] == [str(alice.pk)]
    assert event["chat_frame"] is None
    # Another member's same ref is their own.
    services.message_send_as_member(chat_id=chat.pk, author=bob, text="два", client_ref="same")
    assert Message.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("who", "chat_id", "text", "error"),
    [
        ("stranger", "chat", "привет", Forbidden),
        # The membership is said before the text: a chat socket closes 4403 for it.
        ("stranger", "chat", "   ", Forbidden),
        ("member", "chat", "   ", ValidationError),
        ("member", "chat", "я" * (services.MAX_MESSAGE_LENGTH + 1), ValidationError),
        ("member", "00000000-0000-0000-0000-000000000000", "привет", NotFound),
        ("member", "not-a-uuid", "привет", NotFound),
    ],
)
def test_a_send_that_may_not_store_raises_the_orm_paths_error_and_stores_nothing(make_chat, who, chat_id, text, error):
    alice, bob, stranger = UserFactory.create_batch(3)
    chat = make_chat(alice, bob, title="двое")
    author = stranger if who == "stranger" else alice
    with pytest.raises(error):
        services.message_send_as_member(chat_id=chat.pk if chat_id == "chat" else chat_id, author=author, text=text)
    assert not Message.objects.exists()
    chat.refresh_from_db()
    assert (chat.messages_count, chat.last_message_at) == (0, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("blocker", ["author", "other"])
def test_a_block_in_a_direct_chat_stops_the_written_out_send(make_chat, blocker):
    alice, bob = UserFactory.create_batch(2)
    chat = make_chat(alice, bob)
    assert chat.direct_key is not None
    services.message_send_as_member(chat_id=chat.pk, author=alice, text="до")
    if blocker == "author":
        block_create(blocker=alice, blocked=bob)
    else:
        block_create(blocker=bob, blocked=alice)
    with pytest.raises(Blocked):
        services.message_send_as_member(chat_id=chat.pk, author=alice, text="после")
    assert list(Message.objects.values_list("text", flat=True)) == ["до"]
    assert Chat.objects.get(pk=chat.pk).messages_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_block_outside_the_pair_does_not_stop_a_direct_chat(make_chat, django_assert_num_queries):
    alice, bob, carol = UserFactory.create_batch(3)
    chat = make_chat(alice, bob)
    block_create(blocker=alice, blocked=carol)
    block_create(blocker=carol, blocked=bob)
    with django_assert_num_queries(2):
        services.message_send_as_member(chat_id=chat.pk, author=bob, text="привет")
    assert Message.objects.get().user_id == bob.pk


@pytest.mark.django_db
def test_inside_a_callers_transaction_the_event_waits_for_its_commit(
    make_chat, published, django_capture_on_commit_callbacks
):
    alice, bob = UserFactory.create_batch(2)
    chat = make_chat(alice, bob, title="двое")
    published()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sent = services.message_send_as_member(chat_id=chat.pk, author=alice, text="привет")
        assert published() == []
    assert len(callbacks) == 1
    [event] = published()
    assert event["chat_frame"] == sent


@pytest.mark.django_db(transaction=True)
def test_a_reply_goes_through_the_orm_path_with_its_quote(make_chat):
    alice, bob = UserFactory.create_batch(2)
    chat = make_chat(alice, bob, title="двое")
    quoted = services.message_send_as_member(chat_id=chat.pk, author=bob, text="вопрос")
    sent = services.message_send_as_member(chat_id=chat.pk, author=alice, text="ответ", reply_to=quoted["id"])
    assert sent["reply_to"] == {
        "id": quoted["id"],
        "message": "вопрос",
        "user": {"id": str(bob.pk), "username": bob.username},
    }
    assert sent == stored_payload(sent["id"])
    assert marker(chat, alice) == sent["id"]
