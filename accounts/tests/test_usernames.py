"""Look-alike and invisible usernames (#19 item 11): `аlice` (Cyrillic а), `ａｌｉｃｅ` and `ㅤ`."""

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.services import USERNAME_TAKEN
from accounts.tests.factories import PASSWORD, UserFactory
from accounts.usernames import INVISIBLE, username_skeleton

pytestmark = pytest.mark.django_db

STRONG = "Slozhniy-Parol-2026"


def register(client, username, email="new@example.com"):
    return client.post("/api/auth/register", {"username": username, "email": email, "password": STRONG}, format="json")


@pytest.mark.parametrize(
    "look_alike",
    [
        "\u0430lice",  # Cyrillic а
        "ａｌｉｃｅ",  # fullwidth
        "ALICE",
        "a1ice",  # TS #39: 1 and l are confusable
        "\u0430\u217cice",  # Cyrillic а and the Roman numeral fifty (NFKC: l)
    ],
)
def test_a_username_that_looks_like_an_existing_one_is_taken(anon_client, look_alike):
    UserFactory(username="alice")

    response = register(anon_client, look_alike)

    assert response.status_code == 400, response.content
    assert response.json() == {"username": [USERNAME_TAKEN]}
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "invisible",
    [
        "\u3164",  # Hangul filler: looks blank
        "\u3164\u3164",
        "ali\u200bce",  # zero-width space
        "ali\u200dce",  # zero-width joiner
        "\u202eecila",  # right-to-left override
        "ali\u00adce",  # soft hyphen
        "\u2800",  # braille blank
    ],
)
def test_invisible_and_format_characters_are_refused(anon_client, invisible):
    response = register(anon_client, invisible)

    assert response.status_code == 400, response.content
    assert response.json() == {"username": [INVISIBLE]}
    assert not User.objects.exists()


def test_a_fullwidth_username_is_stored_in_its_plain_form(anon_client):
    response = register(anon_client, "ｍａｓｈａ")

    assert response.status_code == 201, response.content
    assert response.json()["new_user"]["username"] == "masha"
    assert User.objects.get().username == "masha"


def test_distinct_names_in_other_scripts_are_accepted(anon_client):
    UserFactory(username="alice")
    for n, name in enumerate(["Вася", "Иван_Петров", "名前", "élodie", "O'Neil".replace("'", "")]):
        response = register(anon_client, name, email=f"user{n}@example.com")
        assert response.status_code == 201, (name, response.content)


def test_renaming_to_a_look_alike_of_another_user_is_refused(api, user):
    UserFactory(username="alice")

    response = api.patch("/api/auth/current_user", {"username": "\u0430lice"}, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == {"username": [USERNAME_TAKEN]}
    user.refresh_from_db()
    assert user.username != "\u0430lice"


def test_renaming_to_a_look_alike_of_ones_own_name_is_allowed(api, user):
    user.username = "alice"
    user.save(update_fields=["username"])

    response = api.patch("/api/auth/current_user", {"username": "ALICE"}, format="json")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.username, user.username_skeleton) == ("ALICE", username_skeleton("alice"))


def test_the_admin_refuses_a_look_alike_with_a_form_error(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    UserFactory(username="alice")

    response = client.post(
        "/admin/accounts/user/add/",
        {"email": "fake@example.com", "username": "\u0430lice", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 200  # the form again, with its error; no 500, no user
    assert USERNAME_TAKEN in response.content.decode()
    assert not User.objects.filter(email="fake@example.com").exists()


def test_the_database_refuses_a_second_skeleton_whatever_the_writer():
    UserFactory(username="alice")

    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="\u0430lice")
