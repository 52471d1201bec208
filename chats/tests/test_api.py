"""REST: create a chat, read its history, list the caller's chats."""

import uuid

import pytest

from accounts.tests.factories import UserFactory
from chats import services
from chats.models import Chat, ChatMember, Message
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db

CHAT_OBJECT_EXTRA_KEYS = {
    *("owner_id", "is_direct", "members_count", "created_at", "last_message"),
    *("unread_count", "last_read_message_id"),
}


def create(client, users, **extra):
    return client.post("/api/chats/create", {"users": [str(u) for u in users], **extra}, format="json")


def add_messages(chat, authors, count):
    """`count` messages in `chat`, authors taking turns; returns them oldest first."""
    return Message.objects.bulk_create(
        Message(chat=chat, user=authors[i % len(authors)], text=f"m{i}") for i in range(count)
    )


# --- create ------------------------------------------------------------------------------------
def test_create_answers_201_with_the_caller_and_the_others_as_members(api, user, other_user):
    third = UserFactory()
    response = create(api, [other_user.pk, third.pk], title="Проект")
    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Проект"
    assert body["avatar"] is None
    assert [u["id"] for u in body["users"]] == [str(user.pk), str(other_user.pk), str(third.pk)]
    assert set(body["users"][0]) == {"id", "username", "email", "avatar"}
    assert Chat.objects.get(pk=body["id"]).users.count() == 3


def test_create_without_title_names_the_chat_after_the_other_members(api, other_user):
    third = UserFactory()
    response = create(api, [other_user.pk, third.pk])
    assert response.status_code == 201
    assert response.json()["title"] == f"{other_user.username}, {third.username}"


def test_creating_an_existing_untitled_direct_chat_answers_that_chat_with_200(api, client_for, user, other_user):
    first = create(api, [other_user.pk])
    assert first.status_code == 201
    again = create(api, [other_user.pk])
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    # The other side creating it finds the same chat.
    reverse = create(client_for(other_user), [user.pk])
    assert reverse.status_code == 200
    assert reverse.json()["id"] == first.json()["id"]
    assert Chat.objects.count() == 1


def test_a_titled_two_person_chat_is_always_a_new_chat(api, other_user):
    first = create(api, [other_user.pk], title="Работа")
    second = create(api, [other_user.pk], title="Работа")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


def test_listing_the_caller_and_duplicates_in_users_is_harmless(api, user, other_user):
    response = create(api, [user.pk, other_user.pk, other_user.pk])
    assert response.status_code == 201
    assert len(response.json()["users"]) == 2


def test_create_with_multipart_stores_the_avatar_and_answers_its_absolute_url(api, other_user):
    response = api.post(
        "/api/chats/create/",
        {"users": [str(other_user.pk)], "title": "С картинкой", "avatar": image_upload()},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["avatar"].startswith("http")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"users": []}, "users"),
        ({}, "users"),
        ({"users": ["not-a-uuid"]}, "users"),
        ({"users": "abc"}, "users"),
        ({"users": [str(uuid.uuid4())]}, "users"),
        ({"users": [str(uuid.uuid4()) for _ in range(500)]}, "users"),
        ({"users": "OTHER", "title": "x" * 256}, "title"),
    ],
)
def test_create_with_invalid_input_answers_400_naming_the_field(api, other_user, payload, field):
    if payload.get("users") == "OTHER":
        payload = {**payload, "users": [str(other_user.pk)]}
    response = api.post("/api/chats/create", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Chat.objects.count() == 0


def test_create_with_only_the_caller_answers_400(api, user):
    response = create(api, [user.pk])
    assert response.status_code == 400
    assert response.json() == {"users": [services.NO_OTHER_MEMBER]}


def test_create_with_an_inactive_user_answers_400(api):
    inactive = UserFactory(is_active=False)
    response = create(api, [inactive.pk])
    assert response.status_code == 400
    assert str(inactive.pk) in response.json()["users"][0]


def test_create_with_a_broken_avatar_answers_400_on_avatar(api, other_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    broken = SimpleUploadedFile("a.jpg", b"not an image", content_type="image/jpeg")
    response = api.post("/api/chats/create", {"users": [str(other_user.pk)], "avatar": broken}, format="multipart")
    assert response.status_code == 400
    assert "avatar" in response.json()


def test_create_needs_authentication(anon_client, other_user):
    response = create(anon_client, [other_user.pk])
    assert response.status_code == 401
    assert response.json() == {"detail": "Не удалось подтвердить учетные данные"}


# --- history -------------------------------------------------------------------------------------
def test_history_is_newest_first_with_the_contract_fields(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    first = services.message_send(chat=chat, author=user, text="привет")
    second = services.message_send(chat=chat, author=other_user, text="здравствуй")
    response = api.get(f"/api/chats/{chat.pk}/messages/0")
    assert response.status_code == 200
    body = response.json()
    assert [m["id"] for m in body] == [second.pk, first.pk]
    assert body[0]["message"] == "здравствуй"
    assert body[0]["user"]["id"] == str(other_user.pk)
    # The contract's four keys plus EXTENSIONS §1's additive chat_id.
    assert set(body[0]) == {"id", "message", "created_at", "user", "chat_id", "edited_at", "reply_to", "images"}
    assert body[0]["chat_id"] == str(chat.pk)
    assert body[0]["created_at"].endswith("Z")


def test_history_pages_by_offset_from_the_newest(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    messages = add_messages(chat, [user, other_user], 120)
    newest_first = [m.pk for m in reversed(messages)]
    page = api.get(f"/api/chats/{chat.pk}/messages/0").json()
    assert [m["id"] for m in page] == newest_first[:50]
    page = api.get(f"/api/chats/{chat.pk}/messages/50/").json()
    assert [m["id"] for m in page] == newest_first[50:100]
    page = api.get(f"/api/chats/{chat.pk}/messages/100?limit=100").json()
    assert [m["id"] for m in page] == newest_first[100:]
    assert api.get(f"/api/chats/{chat.pk}/messages/500").json() == []


def test_history_pages_by_before_and_ignores_the_offset(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    messages = add_messages(chat, [user], 30)
    newest_first = [m.pk for m in reversed(messages)]
    page = api.get(f"/api/chats/{chat.pk}/messages/7?before={newest_first[9]}&limit=5").json()
    assert [m["id"] for m in page] == newest_first[10:15]


def test_history_offset_up_to_10000_is_allowed_and_above_is_400(api, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    assert api.get(f"/api/chats/{chat.pk}/messages/10000").status_code == 200
    response = api.get(f"/api/chats/{chat.pk}/messages/10001")
    assert response.status_code == 400
    assert "offset" in response.json()


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "before=0", "before=x"])
def test_history_with_an_out_of_range_parameter_answers_400(api, make_chat, user, other_user, query):
    chat = make_chat(user, other_user)
    assert api.get(f"/api/chats/{chat.pk}/messages/0?{query}").status_code == 400


def test_history_is_for_members_only(client_for, make_chat, user, other_user):
    chat = make_chat(user, other_user)
    stranger = client_for(UserFactory())
    response = stranger.get(f"/api/chats/{chat.pk}/messages/0")
    assert response.status_code == 403
    assert "detail" in response.json()


def test_history_of_an_unknown_or_malformed_chat_is_404(api):
    assert api.get(f"/api/chats/{uuid.uuid4()}/messages/0").status_code == 404
    response = api.get("/api/chats/not-a-uuid/messages/0")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_history_of_a_removed_member_is_403(api, make_chat, user, other_user):
    chat = make_chat(user, other_user, UserFactory())
    services.chat_member_remove(chat=chat, user=user)
    assert api.get(f"/api/chats/{chat.pk}/messages/0").status_code == 403


# --- the caller's chats --------------------------------------------------------------------------
def test_user_chats_lists_the_callers_chats_most_recently_active_first(api, make_chat, user, other_user):
    quiet = make_chat(user, other_user, title="тихий")
    busy = make_chat(user, UserFactory(), title="шумный")
    make_chat(other_user, UserFactory(), title="чужой")
    services.message_send(chat=busy, author=user, text="…")
    response = api.get(f"/api/users/{user.pk}/chats")
    assert response.status_code == 200
    body = response.json()
    assert [c["id"] for c in body] == [str(busy.pk), str(quiet.pk)]
    # The contract's keys, plus EXTENSIONS §2's chat object's (additive).
    assert set(body[0]) == {"id", "title", "avatar", "users", *CHAT_OBJECT_EXTRA_KEYS}
    assert body[0]["last_message"]["message"] == "…"
    assert body[0]["unread_count"] == 0
    assert [u["id"] for u in body[1]["users"]] == [str(user.pk), str(other_user.pk)]


def test_user_chats_of_another_user_is_403(api, other_user):
    response = api.get(f"/api/users/{other_user.pk}/chats/")
    assert response.status_code == 403
    assert "detail" in response.json()


def test_user_chats_is_empty_for_a_user_without_chats(api, user):
    assert api.get(f"/api/users/{user.pk}/chats").json() == []


# --- query counts ---------------------------------------------------------------------------------
# Every authenticated request costs one query for the user (BearerAuthentication.get_user),
# unless its view runs the check in its own statement (SessionCheckInView: a Bearer GET).
@pytest.mark.parametrize(("chats", "members"), [(1, 2), (8, 6)])
def test_user_chats_costs_one_query_whatever_the_number_of_chats(
    api, make_chat, user, django_assert_num_queries, chats, members
):
    for _ in range(chats):
        chat = make_chat(user, *UserFactory.create_batch(members - 1), title="t")
        services.message_send(chat=chat, author=user, text="x")
    # the chat list's statement with the user's check, every member embedded
    # (a cookie caller: DRF's user check, then the same statement without it; two sizes in
    # test_list_session_check.py)
    with django_assert_num_queries(1):
        response = api.get(f"/api/users/{user.pk}/chats")
    assert len(response.json()) == chats
    assert all(len(chat["users"]) == members for chat in response.json())


@pytest.mark.parametrize("messages", [3, 180])
def test_history_page_costs_two_queries_whatever_the_chat_size(
    api, make_chat, user, django_assert_num_queries, messages
):
    others = UserFactory.create_batch(4)
    chat = make_chat(user, *others)
    add_messages(chat, [user, *others], messages)
    # the chat and the membership beside the user's check (a Bearer GET), the page with authors
    with django_assert_num_queries(2):
        response = api.get(f"/api/chats/{chat.pk}/messages/0")
    assert len(response.json()) == min(messages, 50)
    with django_assert_num_queries(2):
        response = api.get(f"/api/chats/{chat.pk}/messages/0?before={response.json()[-1]['id']}")
    assert len(response.json()) == max(0, min(messages - 50, 50))


def test_create_costs_a_fixed_number_of_queries_whatever_the_number_of_members(api, django_assert_num_queries):
    for size in (2, 40):
        others = UserFactory.create_batch(size)
        # user, the members, admission (the block check; who takes invites from friends only:
        # nobody here), savepoint, chat, memberships (one bulk insert), the members' chat.added
        # notifications (one insert, the actor, their unread counts), the chat.created frame's
        # chat (with its counts, then its embedded members; no message yet), release, the
        # answer's 2
        with django_assert_num_queries(15):
            response = create(api, [u.pk for u in others], title="группа")
        assert response.status_code == 201
        assert ChatMember.objects.filter(chat_id=response.json()["id"]).count() == size + 1
