"""GET /api/chats/<id> and GET /api/chats/<id>/members (EXTENSIONS §2)."""

import pytest

from accounts.tests.factories import UserFactory
from chats import services

pytestmark = [pytest.mark.django_db]


def test_the_detail_is_the_list_object_with_read_markers(api, make_chat, user, other_user):
    chat = make_chat(user, other_user, title="двое")
    message = services.message_send(chat=chat, author=other_user, text="x")
    body = api.get(f"/api/chats/{chat.pk}").json()
    listed = api.get("/api/chats").json()[0]
    assert {key: value for key, value in body.items() if key != "read_markers"} == listed
    assert body["read_markers"] == [{"user_id": str(other_user.pk), "message_id": message.pk}]


def test_read_markers_are_empty_over_the_receipts_limit(api, make_chat, user, settings):
    settings.READ_RECEIPTS_MAX_MEMBERS = 2
    chat = make_chat(user, *UserFactory.create_batch(2))
    services.message_send(chat=chat, author=user, text="x")
    assert api.get(f"/api/chats/{chat.pk}").json()["read_markers"] == []


def test_the_detail_and_members_are_for_members_only(api, make_chat, other_user):
    foreign = make_chat(other_user, UserFactory())
    unknown = "00000000-0000-0000-0000-000000000000"
    for path in ("", "/members"):
        assert api.get(f"/api/chats/{foreign.pk}{path}").status_code == 403
        assert api.get(f"/api/chats/{unknown}{path}").status_code == 404


def test_members_page_in_joining_order_with_a_link(api, make_chat, user):
    others = UserFactory.create_batch(4)
    chat = make_chat(user, *others, title="пятеро")
    seen, url = [], f"/api/chats/{chat.pk}/members?limit=2"
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += [member["id"] for member in response.json()]
        link = response.headers.get("Link")
        url = link[link.index("/api/") : link.index(">")] if link else None
    assert seen == [str(member.pk) for member in (user, *others)]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "cursor=garbage"])
def test_bad_member_paging_is_a_400(api, make_chat, user, other_user, query):
    chat = make_chat(user, other_user)
    assert api.get(f"/api/chats/{chat.pk}/members?{query}").status_code == 400


@pytest.mark.parametrize("members", [3, 30])
def test_the_detail_costs_the_same_queries_whatever_the_size(
    client_for, make_chat, user, members, django_assert_num_queries
):
    others = UserFactory.create_batch(members)
    chat = make_chat(user, *others)
    for other in others:
        services.message_send(chat=chat, author=other, text="x")
    client = client_for(user)
    # Authentication, membership, the row, embedded members, last message, markers.
    with django_assert_num_queries(6):
        assert client.get(f"/api/chats/{chat.pk}").status_code == 200


def test_read_markers_leave_out_members_who_do_not_share_receipts(api, client_for, make_chat, user, other_user):
    carol = UserFactory()
    chat = make_chat(user, other_user, carol, title="трое")
    services.message_send(chat=chat, author=other_user, text="x")
    last = services.message_send(chat=chat, author=carol, text="y")
    for member in (user, other_user):
        services.chat_read(chat=chat, reader=member, message_id=last.pk)
    shown = {row["user_id"] for row in api.get(f"/api/chats/{chat.pk}").json()["read_markers"]}
    assert shown == {str(user.pk), str(other_user.pk), str(carol.pk)}

    for member in (other_user, user):
        changed = client_for(member).patch("/api/auth/settings", {"share_read_receipts": False}, format="json")
        assert changed.status_code == 200
    body = api.get(f"/api/chats/{chat.pk}").json()
    assert body["read_markers"] == [{"user_id": str(carol.pk), "message_id": last.pk}]
    # The caller's own marker stays theirs to read.
    assert (body["last_read_message_id"], body["unread_count"]) == (last.pk, 0)
