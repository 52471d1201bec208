"""The contract's friend endpoints ("Users" 3–6) as decided in CONTRACT-NOTES "Users and friends"."""

import uuid

import pytest

from friends.models import Friendship

pytestmark = pytest.mark.django_db

CREDENTIALS = "Не удалось подтвердить учетные данные"


def add_url(user_id, friend_id):
    return f"/api/users/{user_id}/friends/add/{friend_id}"


def remove_url(user_id, friend_id):
    return f"/api/users/{user_id}/friends/remove/{friend_id}"


def check_url(user_id, friend_id):
    return f"/api/users/{user_id}/friends/{friend_id}"


def pair_rows(a, b) -> set[tuple]:
    return set(
        Friendship.objects.filter(user__in=[a, b], friend__in=[a, b]).values_list("user_id", "friend_id"),
    )


# --- add -------------------------------------------------------------------------------------


def test_add_makes_both_users_friends_of_each_other_with_the_contract_message(client_for, make_user):
    ivan, maria = make_user(username="Иван"), make_user(username="Мария")

    response = client_for(ivan).post(add_url(ivan.id, maria.id))

    assert response.status_code == 200
    assert response.json() == {"detail": "Пользователь Иван успешно добавил Мария в друзья"}
    # Russian text is not escaped on the wire.
    assert "Иван".encode() in response.content
    assert pair_rows(ivan, maria) == {(ivan.id, maria.id), (maria.id, ivan.id)}


def test_add_is_seen_from_both_sides(client_for, user, other_user):
    client_for(user).post(add_url(user.id, other_user.id))

    mine = client_for(user).get("/api/users/friends/all").json()
    theirs = client_for(other_user).get("/api/users/friends/all").json()

    assert [friend["id"] for friend in mine] == [str(other_user.id)]
    assert [friend["id"] for friend in theirs] == [str(user.id)]


def test_add_answers_with_and_without_trailing_slash(api, user, make_user):
    first, second = make_user(), make_user()

    assert api.post(add_url(user.id, first.id)).status_code == 200
    assert api.post(add_url(user.id, second.id) + "/").status_code == 200


def test_add_for_another_user_is_forbidden(api, other_user, make_user):
    stranger = make_user()

    response = api.post(add_url(other_user.id, stranger.id))

    assert response.status_code == 403
    assert response.json() == {"detail": "Нельзя действовать от имени другого пользователя."}
    assert not Friendship.objects.exists()


def test_add_yourself_is_a_bad_request(api, user):
    response = api.post(add_url(user.id, user.id))

    assert response.status_code == 400
    assert response.json() == {"detail": "Нельзя добавить в друзья самого себя."}
    assert not Friendship.objects.exists()


def test_add_unknown_user_is_not_found(api, user):
    response = api.post(add_url(user.id, uuid.uuid4()))

    assert response.status_code == 404
    assert response.json() == {"detail": "Пользователь не найден."}


def test_add_inactive_user_is_not_found(api, user, make_user):
    gone = make_user(is_active=False)

    response = api.post(add_url(user.id, gone.id))

    assert response.status_code == 404
    assert response.json() == {"detail": "Пользователь не найден."}
    assert not Friendship.objects.exists()


def test_add_existing_friend_is_a_conflict_from_either_side(client_for, make_user):
    ivan, maria = make_user(username="Иван"), make_user(username="Мария")
    client_for(ivan).post(add_url(ivan.id, maria.id))

    again = client_for(ivan).post(add_url(ivan.id, maria.id))
    back = client_for(maria).post(add_url(maria.id, ivan.id))

    assert again.status_code == 409
    assert again.json() == {"detail": "Пользователь Мария уже у вас в друзьях."}
    assert back.status_code == 409
    assert back.json() == {"detail": "Пользователь Иван уже у вас в друзьях."}
    assert Friendship.objects.count() == 2


def test_malformed_ids_in_the_path_are_a_json_404(api, user):
    response = api.post(f"/api/users/{user.id}/friends/add/not-a-uuid")

    assert response.status_code == 404
    assert response.json() == {"detail": "Не найдено."}


# --- remove ----------------------------------------------------------------------------------


def test_remove_ends_the_friendship_on_both_sides_with_the_contract_message(client_for, make_user, befriend):
    ivan, maria = make_user(username="Иван"), make_user(username="Мария")
    befriend(ivan, maria)

    response = client_for(ivan).post(remove_url(ivan.id, maria.id) + "/")

    assert response.status_code == 200
    assert response.json() == {"detail": "Пользователь Иван успешно удалил Мария из друзей"}
    assert pair_rows(ivan, maria) == set()
    assert client_for(maria).get("/api/users/friends/all").json() == []


def test_remove_works_from_the_side_that_did_not_add(client_for, user, other_user, befriend):
    befriend(user, other_user)

    response = client_for(other_user).post(remove_url(other_user.id, user.id))

    assert response.status_code == 200
    assert not Friendship.objects.exists()


def test_remove_a_user_who_is_not_a_friend_is_not_found(client_for, make_user):
    ivan, maria = make_user(username="Иван"), make_user(username="Мария")

    response = client_for(ivan).post(remove_url(ivan.id, maria.id))

    assert response.status_code == 404
    assert response.json() == {"detail": "Пользователя Мария нет у вас в друзьях."}


def test_remove_twice_is_not_found_the_second_time(api, user, other_user, befriend):
    befriend(user, other_user)

    assert api.post(remove_url(user.id, other_user.id)).status_code == 200
    assert api.post(remove_url(user.id, other_user.id)).status_code == 404


def test_remove_for_another_user_is_forbidden(api, user, other_user, befriend):
    befriend(user, other_user)

    response = api.post(remove_url(other_user.id, user.id))

    assert response.status_code == 403
    assert response.json() == {"detail": "Нельзя действовать от имени другого пользователя."}
    assert Friendship.objects.count() == 2


def test_remove_yourself_is_a_bad_request(api, user):
    response = api.post(remove_url(user.id, user.id))

    assert response.status_code == 400
    assert response.json() == {"detail": "Нельзя удалить из друзей самого себя."}


def test_remove_unknown_or_inactive_user_is_not_found(api, user, make_user):
    gone = make_user(is_active=False)

    for friend_id in (uuid.uuid4(), gone.id):
        response = api.post(remove_url(user.id, friend_id))
        assert response.status_code == 404
        assert response.json() == {"detail": "Пользователь не найден."}


# --- check -----------------------------------------------------------------------------------


def test_check_says_true_both_ways_for_friends(api, user, other_user, befriend):
    befriend(user, other_user)

    assert api.get(check_url(user.id, other_user.id)).json() == {"user_is_friend": True}
    assert api.get(check_url(other_user.id, user.id) + "/").json() == {"user_is_friend": True}


def test_check_says_false_for_non_friends_and_after_removal(api, user, other_user, befriend):
    assert api.get(check_url(user.id, other_user.id)).json() == {"user_is_friend": False}

    befriend(user, other_user)
    api.post(remove_url(user.id, other_user.id))

    response = api.get(check_url(user.id, other_user.id))
    assert response.status_code == 200
    assert response.json() == {"user_is_friend": False}


def test_check_is_open_to_any_signed_in_user(client_for, user, other_user, make_user, befriend):
    befriend(user, other_user)
    onlooker = client_for(make_user())

    response = onlooker.get(check_url(user.id, other_user.id))

    assert response.status_code == 200
    assert response.json() == {"user_is_friend": True}


def test_check_of_an_unknown_or_inactive_user_is_not_found(api, user, make_user):
    gone = make_user(is_active=False)

    for a, b in ((user.id, uuid.uuid4()), (uuid.uuid4(), user.id), (user.id, gone.id)):
        response = api.get(check_url(a, b))
        assert response.status_code == 404
        assert response.json() == {"detail": "Пользователь не найден."}


# --- list ------------------------------------------------------------------------------------


def test_friends_list_is_a_plain_array_of_user_objects(api, user, make_user, befriend):
    friend = make_user(username="Мария")
    befriend(user, friend)

    response = api.get("/api/users/friends/all")

    assert response.status_code == 200
    # The email is private by default (CONTRACT-NOTES "Privacy"): "" keeps the key and its type.
    assert response.json() == [{"id": str(friend.id), "username": "Мария", "email": "", "avatar": None}]
    assert "Link" not in response


def test_friends_list_answers_with_trailing_slash(api):
    response = api.get("/api/users/friends/all/")

    assert response.status_code == 200
    assert response.json() == []


def test_friends_list_shows_only_the_callers_active_friends_newest_first(api, user, make_user, befriend):
    first, second, gone = make_user(), make_user(), make_user()
    befriend(user, first)
    befriend(user, second)
    befriend(user, gone)
    befriend(make_user(), make_user())  # someone else's friendship
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    ids = [friend["id"] for friend in api.get("/api/users/friends/all").json()]

    assert ids == [str(second.id), str(first.id)]


def test_friends_list_pages_through_every_friend_once(api, user, make_user, befriend):
    friends = [make_user() for _ in range(7)]
    for friend in friends:
        befriend(user, friend)

    seen, url, pages = [], "/api/users/friends/all?limit=3", 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += [friend["id"] for friend in response.json()]
        pages += 1
        link = response.get("Link")
        url = link[1 : link.index(">")] if link else None
        if link:
            assert link.endswith('; rel="next"')

    assert pages == 3
    assert seen == [str(friend.id) for friend in reversed(friends)]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "cursor=bm9wZQ", "cursor=%00"])
def test_friends_list_refuses_bad_page_parameters(api, query):
    response = api.get(f"/api/users/friends/all?{query}")

    assert response.status_code == 400
    assert set(response.json()) <= {"limit", "cursor"}
