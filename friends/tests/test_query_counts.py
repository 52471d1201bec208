"""Reads stay one query whatever the data size (plus the one that authenticates the caller)."""

import pytest

from posts.models import Post

pytestmark = pytest.mark.django_db

AUTH = 1  # BearerAuthentication loads the caller


@pytest.mark.parametrize("size", [2, 25])
def test_friends_list_costs_the_same_queries_at_any_size(
    api, user, make_user, befriend, django_assert_num_queries, size
):
    for _ in range(size):
        befriend(user, make_user())

    with django_assert_num_queries(AUTH + 1):
        response = api.get("/api/users/friends/all?limit=100")

    assert len(response.json()) == size


@pytest.mark.parametrize("size", [2, 25])
def test_search_costs_the_same_queries_at_any_size(api, make_user, django_assert_num_queries, size):
    for index in range(size):
        make_user(username=f"same{index:03d}")

    with django_assert_num_queries(AUTH + 1):
        response = api.get("/api/users?search=same&limit=100")

    assert len(response.json()) == size


@pytest.mark.parametrize("size", [2, 25])
def test_profile_costs_the_same_queries_at_any_size(api, user, make_user, befriend, django_assert_num_queries, size):
    person = make_user()
    befriend(person, user)
    for index in range(size):
        befriend(person, make_user())
        Post.objects.create(author=person, description=str(index))

    with django_assert_num_queries(AUTH + 1):
        response = api.get(f"/api/users/{person.id}")

    assert response.json()["friends_count"] == size + 1
    assert response.json()["posts_count"] == size
