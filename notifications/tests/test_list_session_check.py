"""The notifications list checks a Bearer token's user in its page statement
(accounts.authentication.SessionCheckInView, issue #26), as the feed does: every token the other
endpoints refuse, it refuses with the same 401, before its own 400s; every caller they accept
gets the page and headers as before."""

import json
import re

import pytest
from django.db import connection

from accounts import services
from accounts.tests.factories import UserFactory
from notifications import selectors
from notifications.models import Notification
from notifications.services import unread_counts_move
from posts.tests.factories import PostFactory
from social.pagination import PageRequest
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

LIST = "/api/notifications"


def _notify(user, count=3):
    post = PostFactory(author=user)
    for i, liker in enumerate(UserFactory.create_batch(count)):
        Notification.objects.create(recipient=user, actor=liker, type="post.liked", post=post, read=i == 0)


@pytest.mark.parametrize("refuse", refused_tokens)
def test_the_list_refuses_every_token_the_other_endpoints_refuse(user, refuse):
    tokens = services.session_start(user=user)
    _notify(user)
    assert bearer_client(tokens.access).get(LIST).status_code == 200
    refuse(user, tokens)

    listed, elsewhere = answers_alike(bearer_client(tokens.access), LIST)

    assert listed[0] == 401 and listed == elsewhere


@pytest.mark.parametrize("query", ["?unread=yes", "?limit=1000", "?cursor=garbage", UNPARSED_CURSOR])
def test_a_refused_token_is_a_401_before_a_bad_list_request(user, query):
    listed, elsewhere = answers_alike(bearer_client(refused_token(user)), LIST + query)

    assert listed == elsewhere and listed[0] == 401


@pytest.mark.parametrize("query", ["?unread=yes", "?limit=1000", "?cursor=garbage", UNPARSED_CURSOR])
def test_an_accepted_token_with_a_bad_list_request_is_a_400(api, query):
    response = api.get(LIST + query)

    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "private"


@pytest.mark.parametrize("query", ["?limit=2", "?unread=true&limit=1", "?limit=100"])
def test_a_bearer_and_a_cookie_caller_get_the_same_pages_and_headers(user, query):
    _notify(user)
    token = bearer_client(services.session_start(user=user).access)

    walk_alike(token, cookie_client(user), LIST + query)


def test_an_empty_list_is_an_empty_page(user):
    response = bearer_client(services.session_start(user=user).access).get(LIST)

    assert response.status_code == 200 and response.json() == [] and "Link" not in response.headers


def test_the_list_reads_the_tokens_users_notifications(user, other_user):
    _notify(other_user, count=2)

    assert bearer_client(services.session_start(user=user).access).get(LIST).json() == []
    assert len(bearer_client(services.session_start(user=other_user).access).get(LIST).json()) == 2


def _notification_rows_read(plan: dict) -> int:
    node_rows = 0
    if "Scan" in plan["Node Type"] and plan.get("Relation Name") == Notification._meta.db_table:
        node_rows += plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
    return node_rows + sum(_notification_rows_read(child) for child in plan.get("Plans", []))


@pytest.mark.parametrize("checked", [False, True])
@pytest.mark.parametrize(("unread_only", "after"), [(False, False), (True, False), (False, True)])
def test_a_page_reads_its_rows_in_order_and_stops_at_the_limit(user, checked, unread_only, after):
    # As PostgreSQL runs the prepared statement after its first executions (a plan for any
    # value, or one per execution), on a reader with more notifications than most: the page
    # walks the recipient's index and stops. With the LIMIT written into the text the plan read
    # every notification of the reader, joined each actor and sorted them (1.3 ms against 0.05
    # on the bench's data, issue #26).
    post = PostFactory(author=user)
    actors = UserFactory.create_batch(30)
    rows = [Notification(recipient=user, actor=actors[i % 30], type="post.commented", post=post) for i in range(1500)]
    rows += [
        Notification(recipient=actors[i % 30], actor=user, type="post.commented", post=post, read=i % 2 == 0)
        for i in range(300)
    ]
    Notification.objects.bulk_create(rows)
    middle = Notification.objects.filter(recipient=user).order_by("-created_at", "-id")[700]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Notification._meta.db_table}")
        cursor.execute("ANALYZE accounts_user")
    page = PageRequest(limit=20, after=[middle.created_at.isoformat(), middle.id] if after else None)
    sql, params = selectors._page_statement(user_id=user.pk, unread_only=unread_only, page=page, checked=checked)
    params.setdefault("session", None)
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    numbered = re.sub(r"%\((\w+)\)s", lambda match: f"${names.index(match.group(1)) + 1}", sql)
    arguments = ", ".join(["%s"] * len(names))
    values = [params[name] for name in names]
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE page_plan AS {numbered}")
        for _ in range(8):  # PostgreSQL weighs a plan for any value after five of its own
            cursor.execute(f"EXECUTE page_plan ({arguments})", values)
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE page_plan ({arguments})", values)
        raw = cursor.fetchone()[0]
        cursor.execute("DEALLOCATE page_plan")
    plan = json.loads(raw) if isinstance(raw, str) else raw

    assert _notification_rows_read(plan[0]["Plan"]) <= 2 * 21, plan  # not the reader's 1,500


# --- The unread count runs the same check in its one statement --------------------------------------
COUNT = "/api/notifications/unread_count"


def _notify_counted(user, count=3):
    # _notify's rows, with their unread counter moved by its owner (one of them is read).
    _notify(user, count)
    unread_counts_move(deltas={user.pk: count - 1})


@pytest.mark.parametrize("refuse", refused_tokens)
def test_the_unread_count_refuses_every_token_the_other_endpoints_refuse(user, refuse):
    tokens = services.session_start(user=user)
    _notify_counted(user)
    assert bearer_client(tokens.access).get(COUNT).json() == {"unread_count": 2}
    refuse(user, tokens)

    counted, elsewhere = answers_alike(bearer_client(tokens.access), COUNT)

    assert counted[0] == 401 and counted == elsewhere


@pytest.mark.parametrize("notified", [0, 3])
def test_a_bearer_and_a_cookie_caller_get_the_same_unread_count(user, notified, django_assert_num_queries):
    if notified:
        _notify_counted(user, count=notified)
    cookie = cookie_client(user)
    token = bearer_client(services.session_start(user=user).access)

    with django_assert_num_queries(1):  # the count beside the user's check
        by_token = token.get(COUNT)
    with django_assert_num_queries(2):  # the cookie: DRF's own authentication, then the count
        by_cookie = cookie.get(COUNT)

    assert by_token.status_code == by_cookie.status_code == 200
    assert by_token.content == by_cookie.content
    for header in ("Content-Type", "Cache-Control", "Vary", "Allow", "X-Frame-Options"):
        assert by_token.headers.get(header) == by_cookie.headers.get(header), header
    assert by_token.json() == {"unread_count": max(notified - 1, 0)}


def test_the_unread_count_is_the_tokens_users(user, other_user):
    _notify_counted(other_user, count=4)

    assert bearer_client(services.session_start(user=user).access).get(COUNT).json() == {"unread_count": 0}
    assert bearer_client(services.session_start(user=other_user).access).get(COUNT).json() == {"unread_count": 3}


def test_the_unread_count_stops_at_its_cap(user):
    unread_counts_move(deltas={user.pk: selectors.UNREAD_CAP + 5})

    response = bearer_client(services.session_start(user=user).access).get(COUNT)

    assert response.json() == {"unread_count": selectors.UNREAD_CAP}
