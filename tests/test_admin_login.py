"""The admin's login page is rate-limited like the API's (issue #19 item 7): the attack was 25
wrong passwords in 3.6 s, then the right one, on `/admin/login/`."""

import pytest
from django.test import Client

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


def admin_login(client: Client, email: str, password: str, ip: str = "198.51.100.7"):
    form = {"username": email, "password": password, "next": "/admin/"}
    return client.post("/admin/login/", form, REMOTE_ADDR=ip)


def test_a_password_guessing_run_is_stopped_even_before_the_right_password(staff, settings):
    settings.AUTH_RATE_LIMIT = "5/min"
    client = Client()
    guesses = [admin_login(client, staff.email, f"guess-{n}").status_code for n in range(5)]
    assert guesses == [200] * 5  # the form again, with its error

    refused = admin_login(client, staff.email, PASSWORD)

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "Слишком много попыток входа" in refused.content.decode()
    assert "_auth_user_id" not in client.session  # not signed in


def test_another_client_still_signs_in(staff, settings):
    settings.AUTH_RATE_LIMIT = "2/min"
    for n in range(3):
        admin_login(Client(), staff.email, f"guess-{n}")

    response = admin_login(Client(), staff.email, PASSWORD, ip="198.51.100.8")

    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_the_admin_and_the_api_login_share_one_budget_of_guesses(staff, settings, anon_client):
    settings.AUTH_RATE_LIMIT = "3/min"
    for n in range(3):
        wrong = {"email": staff.email, "password": f"guess-{n}"}
        anon_client.post("/api/auth/login", wrong, format="json", REMOTE_ADDR="198.51.100.7")

    assert admin_login(Client(), staff.email, PASSWORD).status_code == 429


def test_the_login_page_itself_is_not_counted(settings):
    settings.AUTH_RATE_LIMIT = "1/min"
    client = Client()
    assert [client.get("/admin/login/", REMOTE_ADDR="198.51.100.7").status_code for _ in range(3)] == [200] * 3
