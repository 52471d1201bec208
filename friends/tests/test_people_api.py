"""People: search by username prefix and public profiles."""

import uuid

import pytest
from django.db import connection

from friends import selectors
from posts.models import Post
from social.pagination import PageRequest, encode_cursor
from testsupport.pages import next_url

pytestmark = pytest.mark.django_db


def usernames(response) -> list[str]:
    return [found["username"] for found in response.json()]


# --- search ----------------------------------------------------------------------------------


def test_search_finds_users_by_prefix_ordered_by_username_case_insensitively(api, make_user):
    for name in ["bob", "Boa", "BOC", "alice", "xbo", "bo_x"]:
        make_user(username=name)

    response = api.get("/api/users?search=bo")

    assert response.status_code == 200
    # Code-point order of the lowercased name: "_" sorts before letters.
    assert usernames(response) == ["bo_x", "Boa", "bob", "BOC"]


def test_search_ignores_the_case_of_the_query(api, make_user):
    make_user(username="Мария")
    make_user(username="марина")
    make_user(username="Bob")

    assert usernames(api.get("/api/users?search=МАР")) == ["марина", "Мария"]
    assert usernames(api.get("/api/users/?search=bOB")) == ["Bob"]


def test_search_result_is_the_author_object(api, make_user):
    found = make_user(username="zed")

    response = api.get("/api/users?search=ze")

    assert response.json() == [{"id": str(found.id), "username": "zed", "avatar": None}]
    assert "Link" not in response


def test_search_never_lists_inactive_users(api, make_user):
    make_user(username="kept")
    make_user(username="kennel", is_active=False)

    assert usernames(api.get("/api/users?search=ke")) == ["kept"]


@pytest.mark.parametrize("query", ["_", "%", "a_", "a%", "\\"])
def test_search_matches_like_wildcards_literally(api, make_user, query):
    make_user(username="abc")
    make_user(username="a_c")

    expected = ["a_c"] if query == "a_" else []
    assert usernames(api.get("/api/users", {"search": query})) == expected


def test_search_with_no_match_is_an_empty_array(api, make_user):
    make_user(username="abc")

    response = api.get("/api/users?search=zzz")

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    "params",
    [{}, {"search": ""}, {"search": "   "}, {"search": "a" * 151}, {"search": "a\x00b"}],
    ids=["missing", "empty", "blank", "too-long", "nul"],
)
def test_search_needs_a_query_of_1_to_150_characters(api, params):
    response = api.get("/api/users", params)

    assert response.status_code == 400
    assert list(response.json()) == ["search"]


def test_search_accepts_a_query_of_150_characters(api):
    response = api.get("/api/users", {"search": "a" * 150})

    assert response.status_code == 200
    assert response.json() == []


def test_search_pages_through_every_match_once_in_order(api, make_user):
    names = [f"page{index:02d}" for index in range(11)]
    for name in reversed(names):
        make_user(username=name)
    make_user(username="other")

    seen, url, pages = [], "/api/users?search=PAGE&limit=4", 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += usernames(response)
        pages += 1
        url = next_url(response)

    assert pages == 3
    assert seen == names


@pytest.mark.parametrize(
    "cursor",
    ["garbage!", encode_cursor(["a"]), encode_cursor(["a", "not-a-uuid"]), encode_cursor(["a\x00", str(uuid.uuid4())])],
    ids=["not-base64", "wrong-size", "bad-uuid", "nul"],
)
def test_search_refuses_a_bad_cursor(api, cursor):
    response = api.get("/api/users", {"search": "a", "cursor": cursor})

    assert response.status_code == 400
    assert list(response.json()) == ["cursor"]


def test_search_refuses_a_limit_above_the_maximum(api):
    response = api.get("/api/users", {"search": "a", "limit": 101})

    assert response.status_code == 400
    assert list(response.json()) == ["limit"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the index exists on PostgreSQL only")
@pytest.mark.parametrize("after", [None, ["page", str(uuid.uuid4())]], ids=["first-page", "next-page"])
def test_search_is_one_range_scan_of_the_search_index(user, make_user, after):
    """The prefix, the order and the keyset are all served by `user_username_search_idx`: the
    plan is an index scan with an index condition and no sort, even with seq scans disabled
    (a plan the index could not serve would fall back to a disabled seq scan or a sort)."""
    for index in range(20):
        make_user(username=f"page{index}")
    page = PageRequest(limit=5, after=after)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    plan = selectors.users_search_queryset(query="pa", viewer=user, after=page.after)[: page.limit + 1].explain()

    assert "user_username_search_idx" in plan
    assert "Index Cond" in plan
    assert "Sort" not in plan, plan


# --- profile ---------------------------------------------------------------------------------


def test_profile_shows_counts_and_whether_the_viewer_is_a_friend(api, user, make_user, befriend):
    person = make_user(username="Мария")
    befriend(person, user)
    befriend(person, make_user())
    gone = make_user()
    befriend(person, gone)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    Post.objects.create(author=person, description="one")
    Post.objects.create(author=person, description="two")
    Post.objects.create(author=user, description="not theirs")

    response = api.get(f"/api/users/{person.id}")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(person.id),
        "username": "Мария",
        "avatar": None,
        "friends_count": 2,  # the deactivated friend is not counted
        "posts_count": 2,
        "is_friend": True,
        "online": False,  # a friend who shares presence, never seen online
        "last_seen": None,
    }


def test_profile_of_a_stranger_says_not_a_friend(api, make_user):
    stranger = make_user()

    response = api.get(f"/api/users/{stranger.id}/")

    assert response.status_code == 200
    assert response.json()["is_friend"] is False
    assert response.json()["friends_count"] == 0
    assert response.json()["posts_count"] == 0


def test_own_profile_is_readable(api, user, other_user, befriend):
    befriend(user, other_user)

    body = api.get(f"/api/users/{user.id}").json()

    assert body["id"] == str(user.id)
    assert body["friends_count"] == 1
    assert body["is_friend"] is False


def test_profile_of_an_unknown_or_inactive_user_is_not_found(api, make_user):
    gone = make_user(is_active=False)

    for user_id in (uuid.uuid4(), gone.id):
        response = api.get(f"/api/users/{user_id}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Пользователь не найден."}


def test_profile_with_a_malformed_id_is_a_json_404(api):
    response = api.get("/api/users/not-a-uuid")

    assert response.status_code == 404
    assert response.json() == {"detail": "Не найдено."}
