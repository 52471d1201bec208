"""The chat list checks a Bearer token's user in its page statement
(accounts.authentication.SessionCheckInView, issue #26), as the feed does: every token the other
endpoints refuse, it refuses with the same 401, before its own 400s; every caller they accept
gets the page and headers as before."""

import uuid

import pytest
from django.db import connection
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH
from rest_framework.test import APIClient

from accounts import services
from accounts.tests.factories import PASSWORD, UserFactory
from chats import selectors
from chats import services as chat_services
from chats.serializers import UserChatOutput, chat_list_items
from social.db import sql_compacted
from testsupport.session_check import (
    PAGE_HEADERS,
    UNPARSED_CURSOR,
    answers_alike,
    bearer_client,
    cookie_client,
    refused_token,
    refused_tokens,
    walk_alike,
)

pytestmark = pytest.mark.django_db

LIST = "/api/chats"


@pytest.mark.parametrize("refuse", refused_tokens)
def test_the_list_refuses_every_token_the_other_endpoints_refuse(make_chat, user, other_user, refuse):
    make_chat(user, other_user)
    tokens = services.session_start(user=user)
    assert bearer_client(tokens.access).get(LIST).status_code == 200
    refuse(user, tokens)

    listed, elsewhere = answers_alike(bearer_client(tokens.access), LIST)

    assert listed[0] == 401 and listed == elsewhere


@pytest.mark.parametrize("query", ["?limit=1000", "?limit=x", "?cursor=garbage", UNPARSED_CURSOR])
def test_a_refused_token_is_a_401_before_a_bad_list_request(user, query):
    listed, elsewhere = answers_alike(bearer_client(refused_token(user)), LIST + query)

    assert listed == elsewhere and listed[0] == 401


@pytest.mark.parametrize("query", ["?limit=1000", "?cursor=garbage", UNPARSED_CURSOR])
def test_an_accepted_token_with_a_bad_list_request_is_a_400(api, query):
    response = api.get(LIST + query)

    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "private"


@pytest.mark.parametrize("query", ["?limit=2", "?limit=1", "?limit=100"])
def test_a_bearer_and_a_cookie_caller_get_the_same_pages_and_headers(make_chat, user, other_user, query):
    for n in range(3):
        chat = make_chat(user, other_user, UserFactory(), title=f"чат {n}")
        if n:
            chat_services.message_send(chat=chat, author=other_user, text=f"привет {n}")
    token = bearer_client(services.session_start(user=user).access)

    pages = walk_alike(token, cookie_client(user), LIST + query)

    assert len(pages) == -(-3 // int(query.split("=")[1]))


def test_an_empty_list_is_an_empty_page(user):
    response = bearer_client(services.session_start(user=user).access).get(LIST)

    assert response.status_code == 200 and response.json() == [] and "Link" not in response.headers


def test_the_list_is_the_tokens_users(make_chat, user, other_user):
    make_chat(other_user, UserFactory(), title="не мой")

    assert bearer_client(services.session_start(user=user).access).get(LIST).json() == []
    titles = [chat["title"] for chat in bearer_client(services.session_start(user=other_user).access).get(LIST).json()]
    assert titles == ["не мой"]


def test_the_checked_list_statement_keeps_one_plan(make_chat, user, other_user):
    # A plan per execution would cost more than the statement saved (issue #26).
    for n in range(25):
        make_chat(user, other_user, title=f"чат {n}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chats_chat")
        cursor.execute("ANALYZE chats_chatmember")
    client = bearer_client(services.session_start(user=user).access)
    next_page = client.get(LIST).headers["Link"].split("<", 1)[1].split(">", 1)[0]
    for _ in range(8):  # PostgreSQL weighs a generic plan after five custom ones
        for path in (LIST, next_page):
            assert client.get(path).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%) AS viewer%FROM chats_chat c%"],
        )
        plans = cursor.fetchall()

    assert len(plans) == 2
    assert all(generic >= 3 and custom <= 5 for generic, custom in plans), plans


def test_the_list_statements_fit_psycopgs_converted_statements_cache():
    # A longer text has its placeholders converted on every execution (social.db.sql_compact; all
    # the prepared texts: tests/test_prepared_texts.py).
    for sql in (
        selectors._CHAT_LIST_FIRST,
        selectors._CHAT_LIST_NEXT,
        selectors._SESSION_CHAT_LIST_FIRST,
        selectors._SESSION_CHAT_LIST_NEXT,
    ):
        assert len(sql_compacted(sql).encode()) <= MAX_CACHED_STATEMENT_LENGTH


# --- The same check in the contract's `user_chats` and a chat's history ---------------------------
# `user_chats` runs the chat list's statement (every member embedded), the history its first
# statement (the chat and the membership), each with the user's row, as the list does.
def _user_chats(user) -> str:
    return f"/api/users/{user.pk}/chats"


def _history(chat, query="") -> str:
    return f"/api/chats/{chat.pk}/messages/0{query}"


@pytest.mark.parametrize("refuse", refused_tokens)
@pytest.mark.parametrize("read", ["user_chats", "history"])
def test_the_chat_reads_refuse_every_token_the_other_endpoints_refuse(make_chat, user, other_user, refuse, read):
    chat = make_chat(user, other_user)
    chat_services.message_send(chat=chat, author=other_user, text="привет")
    path = _user_chats(user) if read == "user_chats" else _history(chat)
    tokens = services.session_start(user=user)
    assert bearer_client(tokens.access).get(path).status_code == 200
    refuse(user, tokens)

    answered, elsewhere = answers_alike(bearer_client(tokens.access), path)

    assert answered[0] == 401 and answered == elsewhere


def _refusals_before(make_chat, user, other_user) -> list[str]:
    mine, theirs = make_chat(user, other_user), make_chat(other_user, UserFactory())
    return [
        _user_chats(other_user),  # acting as another user: 403
        _history(theirs),  # not a member: 403
        f"/api/chats/{uuid.uuid4()}/messages/0",  # no such chat: 404
        _history(mine, "?limit=1000"),  # 400
        f"/api/chats/{mine.pk}/messages/{10**6}",  # 400
    ]


def test_a_refused_token_is_a_401_before_the_chat_reads_own_errors(make_chat, user, other_user):
    paths = _refusals_before(make_chat, user, other_user)
    refused = bearer_client(refused_token(user))

    for path in paths:
        answered, elsewhere = answers_alike(refused, path)
        assert answered == elsewhere and answered[0] == 401, path


def _same_answers(token, cookie, path) -> int:
    by_token, by_cookie = token.get(path), cookie.get(path)  # the cookie: DRF's own authentication
    assert by_token.status_code == by_cookie.status_code, path
    assert by_token.content == by_cookie.content, path
    for header in PAGE_HEADERS:
        assert by_token.headers.get(header) == by_cookie.headers.get(header), (path, header)
    return by_token.status_code


def test_an_accepted_token_gets_the_chat_reads_own_errors_as_a_cookie_caller(make_chat, user, other_user):
    paths = _refusals_before(make_chat, user, other_user)
    token, cookie = bearer_client(services.session_start(user=user).access), cookie_client(user)

    assert [_same_answers(token, cookie, path) for path in paths] == [403, 403, 404, 400, 400]


def test_a_bearer_and_a_cookie_caller_get_the_same_chats_and_history(make_chat, user, other_user, settings):
    settings.CHAT_MEMBERS_EMBEDDED = 2  # the chat list's bound: `user_chats` lists every member
    chats = [make_chat(user, other_user, *UserFactory.create_batch(n + 1), title=f"чат {n}") for n in range(3)]
    chats.append(make_chat(user, UserFactory()))  # untitled, direct
    first = chat_services.message_send(chat=chats[0], author=other_user, text="первое")
    for n in range(4):
        chat_services.message_send(chat=chats[0], author=user if n % 2 else other_user, text=f"сообщение {n}")
    chat_services.message_send(chat=chats[1], author=user, text="ещё")
    quoted = chat_services.message_send(chat=chats[1], author=other_user, text="вопрос")
    chat_services.message_send(chat=chats[1], author=user, text="ответ", reply_to=quoted.pk)
    leaving = chats[2].memberships.order_by("-id").first().user
    chat_services.message_send(chat=chats[2], author=leaving, text="от ушедшего")
    services.account_delete(user=leaving, password=PASSWORD)  # its messages hidden at once
    token, cookie = bearer_client(services.session_start(user=user).access), cookie_client(user)

    paths = [
        _user_chats(user),
        _history(chats[0]),
        _history(chats[0], "?limit=2"),
        _history(chats[0], f"?before={first.pk + 3}"),
        _history(chats[0], f"?after={first.pk}&limit=2"),  # with a Link header
        _history(chats[2]),  # no messages
        f"/api/chats/{chats[0].pk}/messages/2/",
    ]
    assert {_same_answers(token, cookie, path) for path in paths} == {200}
    listed = token.get(_user_chats(user)).json()
    assert [len(chat["users"]) for chat in listed] == [5, 4, 3, 2]  # the latest activity first
    assert [chat["members_count"] for chat in listed] == [5, 4, 3, 2]
    assert listed[0]["last_message"] is None  # the deleted account's message, hidden
    assert listed[1]["last_message"]["reply_to"]["message"] == "вопрос"
    assert "Link" in token.get(_history(chats[0], f"?after={first.pk}&limit=2")).headers


def test_user_chats_of_a_user_without_chats_is_empty(user):
    response = bearer_client(services.session_start(user=user).access).get(_user_chats(user))

    assert response.status_code == 200 and response.json() == []


def test_the_history_is_the_tokens_users(make_chat, user, other_user):
    chat = make_chat(other_user, UserFactory())
    chat_services.message_send(chat=chat, author=other_user, text="не для тебя")

    assert bearer_client(services.session_start(user=user).access).get(_history(chat)).status_code == 403
    assert len(bearer_client(services.session_start(user=other_user).access).get(_history(chat)).json()) == 1


def test_a_cookie_caller_keeps_the_user_check_of_its_own(make_chat, user, other_user, django_assert_num_queries):
    chat = make_chat(user, other_user)
    chat_services.message_send(chat=chat, author=other_user, text="привет")
    cookie, token = cookie_client(user), bearer_client(services.session_start(user=user).access)

    with django_assert_num_queries(2):  # the user (DRF's check), the chat list's statement
        assert cookie.get(_user_chats(user)).status_code == 200
    with django_assert_num_queries(1):  # the chat list's statement beside the user's check
        assert token.get(_user_chats(user)).status_code == 200

    with django_assert_num_queries(3):  # the user, the membership with its chat, the page
        assert cookie.get(_history(chat)).status_code == 200
    with django_assert_num_queries(2):  # the chat and the membership beside the user's check, the page
        assert token.get(_history(chat)).status_code == 200


# --- A cookie caller's `user_chats`: DRF's check, then the Bearer caller's statement without it ------
@pytest.mark.parametrize(("chats", "members"), [(1, 2), (40, 5)])
def test_a_cookie_callers_user_chats_costs_two_queries_whatever_the_number_of_chats(
    make_chat, user, django_assert_num_queries, chats, members
):
    for n in range(chats):
        chat = make_chat(user, *UserFactory.create_batch(members - 1), title=f"чат {n}")
        chat_services.message_send(chat=chat, author=user, text=f"сообщение {n}")
    cookie, token = cookie_client(user), bearer_client(services.session_start(user=user).access)

    with django_assert_num_queries(2):  # the user (DRF's check), the chat list's statement
        response = cookie.get(_user_chats(user))

    listed = response.json()
    assert response.status_code == 200 and len(listed) == chats
    assert [chat["title"] for chat in listed] == [f"чат {n}" for n in reversed(range(chats))]
    assert all(len(chat["users"]) == chat["members_count"] == members for chat in listed)
    assert response.content == token.get(_user_chats(user)).content


def test_a_cookie_caller_acting_as_another_user_is_403(make_chat, user, other_user):
    make_chat(user, other_user)

    response = cookie_client(user).get(_user_chats(other_user))

    assert response.status_code == 403 and "detail" in response.json()


def test_user_chats_without_a_caller_is_401_even_for_another_users_id(make_chat, user, other_user):
    make_chat(user, other_user)
    anonymous = APIClient(enforce_csrf_checks=True)

    assert [anonymous.get(_user_chats(someone)).status_code for someone in (user, other_user)] == [401, 401]


def test_the_orm_rows_of_the_sqlite_path_render_as_the_statements(make_chat, user, other_user, rf):
    # The SQLite of `make run` reads `user_chats` through the ORM (user_chats_values); both render
    # through chat_list_items, and as the contract's serializer of those objects.
    quoted_chat = make_chat(user, other_user, UserFactory(), title="с цитатой")
    make_chat(user, UserFactory())  # untitled, direct, no message
    quoted = chat_services.message_send(chat=quoted_chat, author=other_user, text="вопрос")
    chat_services.message_send(chat=quoted_chat, author=user, text="ответ", reply_to=quoted.pk)
    request = rf.get(_user_chats(user))

    orm = selectors.user_chats(user=user)
    by_statement = chat_list_items(selectors.user_chats_values(user=user), request)
    by_orm_rows = chat_list_items([selectors._chat_list_row(chat) for chat in orm], request)

    assert by_statement == by_orm_rows == UserChatOutput(orm, many=True, context={"request": request}).data
    assert by_statement[0]["last_message"]["reply_to"]["message"] == "вопрос"
