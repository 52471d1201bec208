"""The Django admin of chats: pages stay cheap with many messages, deletions reach sockets."""

import re

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from chats import services
from chats.models import ChatMember, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def busy_chat(make_chat):
    alice, bob = UserFactory.create_batch(2)
    chat = make_chat(alice, bob, title="болтливый")
    return chat, alice, bob


def add_messages(chat, author, count):
    Message.objects.bulk_create(Message(chat=chat, user=author, text="x" * 200) for _ in range(count))


@pytest.mark.parametrize("messages", [5, 400])
def test_the_message_list_costs_the_same_whatever_the_number_of_messages(
    staff_client, busy_chat, django_assert_num_queries, messages
):
    chat, alice, _ = busy_chat
    add_messages(chat, alice, messages)
    # session, user, the table's estimated size, the exact count (small tables only: above
    # 10,000 rows the estimate stands), the page with chat and author joined
    with django_assert_num_queries(5):
        response = staff_client.get("/admin/chats/message/")
    assert response.status_code == 200
    assert "x" * 79 + "…" in response.content.decode()


def test_the_message_list_searches_by_exact_chat_id(staff_client, busy_chat, make_chat):
    chat, alice, bob = busy_chat
    services.message_send(chat=chat, author=alice, text="здесь")
    services.message_send(chat=make_chat(alice, UserFactory()), author=alice, text="не здесь")
    response = staff_client.get("/admin/chats/message/", {"q": str(chat.pk)})
    assert response.status_code == 200
    assert "здесь" in response.content.decode()
    assert "не здесь" not in response.content.decode()
    assert staff_client.get("/admin/chats/message/", {"q": "not a uuid"}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/admin/chats/chat/",
        "/admin/chats/chatmember/",
        "/admin/chats/chat/{chat}/change/",
        "/admin/chats/message/{message}/change/",
        "/admin/chats/chatmember/{member}/change/",
    ],
)
def test_admin_pages_open_without_listing_every_user_or_message(staff_client, busy_chat, url):
    chat, alice, _ = busy_chat
    message = services.message_send(chat=chat, author=alice, text="hi")
    member = ChatMember.objects.filter(chat=chat).first()
    UserFactory.create_batch(30)
    response = staff_client.get(url.format(chat=chat.pk, message=message.pk, member=member.pk))
    assert response.status_code == 200
    # raw id widgets: no <option> per user or message
    assert response.content.decode().count("<option") < 30


def test_deleting_a_message_in_the_admin_deletes_it_through_the_service(staff_client, busy_chat):
    chat, alice, _ = busy_chat
    message = services.message_send(chat=chat, author=alice, text="спам")
    response = staff_client.post(f"/admin/chats/message/{message.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Message.objects.filter(pk=message.pk).exists()


def test_removing_a_member_in_the_chat_admin_removes_the_membership(staff_client, busy_chat):
    chat, alice, bob = busy_chat
    memberships = list(ChatMember.objects.filter(chat=chat).order_by("id"))
    data = {
        "title": chat.title,
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, membership in enumerate(memberships):
        data.update(
            {
                f"memberships-{i}-id": str(membership.pk),
                f"memberships-{i}-chat": str(chat.pk),
                f"memberships-{i}-user": str(membership.user_id),
                f"memberships-{i}-joined_at_0": membership.joined_at.strftime("%d.%m.%Y"),
                f"memberships-{i}-joined_at_1": membership.joined_at.strftime("%H:%M:%S"),
            }
        )
    data["memberships-1-DELETE"] = "on"
    response = staff_client.post(f"/admin/chats/chat/{chat.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(ChatMember.objects.filter(chat=chat).values_list("user_id", flat=True)) == [alice.pk]


def test_a_message_page_shows_its_photos_and_a_chat_page_the_members_read_markers(staff_client, busy_chat):
    from rest_framework.test import APIClient

    from accounts.services import session_start
    from testsupport.images import image_upload

    chat, alice, bob = busy_chat
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(user=alice).access}")
    sent = api.post(f"/api/chats/{chat.pk}/messages", {"images": [image_upload()]}, format="multipart").json()
    message = Message.objects.get(pk=sent["id"])
    listed = staff_client.get("/admin/chats/message/").content.decode()
    assert '<td class="field-photos">1</td>' in listed
    page = staff_client.get(f"/admin/chats/message/{message.pk}/change/").content.decode()
    assert page.count("<img ") == 1 and message.images[0] in page
    chat_page = staff_client.get(f"/admin/chats/chat/{chat.pk}/change/").content.decode()
    # The sender's read marker stands at their message (sending reads); the other's is empty.
    cells = re.findall(r'class="field-last_read_message_id">\s*<p>(.*?)</p>', chat_page)
    assert cells[:2] == [str(message.pk), "-"]  # then the inline's empty template row


def test_deleting_a_chat_in_the_admin_deletes_its_messages_photos(
    staff_client, busy_chat, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    from chats.models import Chat
    from testsupport.images import image_upload

    chat, alice, _ = busy_chat
    message = services.message_send(chat=chat, author=alice, text="", images=[image_upload()])
    assert default_storage.exists(message.images[0])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/chats/chat/{chat.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Chat.objects.filter(pk=chat.pk).exists()
    assert not default_storage.exists(message.images[0])
