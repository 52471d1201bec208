"""The chat list checks a Bearer token's user in its page statement
(accounts.authentication.SessionCheckInView, issue #26), as the feed does: every token the other
endpoints refuse, it refuses with the same 401, before its own 400s; every caller they accept
gets the page and headers as before."""

import pytest
from django.db import connection
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

from accounts import services
from accounts.tests.factories import UserFactory
from chats import selectors
from chats import services as chat_services
from social.db import sql_compacted
from testsupport.session_check import (
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
