import uuid

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

A, B = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/users/friends/all"),
        ("get", f"/api/users/{A}/friends/{B}"),
        ("post", f"/api/users/{A}/friends/add/{B}"),
        ("post", f"/api/users/{A}/friends/remove/{B}"),
        ("get", "/api/users?search=a"),
        ("get", f"/api/users/{A}"),
    ],
)
def test_every_people_endpoint_needs_a_signed_in_caller(anon_client, method, url):
    response = getattr(anon_client, method)(url)

    assert response.status_code == 401
    assert response.json() == {"detail": "Не удалось подтвердить учетные данные"}


def test_cookie_signed_in_add_needs_the_csrf_token(user, other_user, password):
    browser = APIClient(enforce_csrf_checks=True)
    login = browser.post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    assert login.status_code == 200
    url = f"/api/users/{user.id}/friends/add/{other_user.id}"

    refused = browser.post(url)
    accepted = browser.post(url, HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)

    assert refused.status_code == 403
    assert accepted.status_code == 200
