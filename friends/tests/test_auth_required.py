import uuid

import pytest

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
