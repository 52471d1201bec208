"""Blocks in the admin: listed, searchable, filterable, read only, constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from safety.models import Block
from safety.services import block_create

pytestmark = pytest.mark.django_db

URL = "/admin/safety/block/"


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def populate(size: int) -> None:
    for blocker, blocked in zip(UserFactory.create_batch(size), UserFactory.create_batch(size), strict=True):
        block_create(blocker=blocker, blocked=blocked)


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("url", [URL, URL + "?q=user", URL + "?created_at__gte=2000-01-01T00:00:00%2B00:00"])
def test_the_block_list_costs_the_same_queries_at_any_size(staff_client, url):
    populate(3)
    small = queries_for(staff_client, url)
    populate(20)
    assert queries_for(staff_client, url) == small


def test_the_block_list_counts_no_full_table(staff_client):
    populate(3)
    with CaptureQueriesContext(connection) as captured:
        staff_client.get(URL + "?q=nobody-matches")
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper() and "safety_block" in q["sql"]]
    # The filtered count only: show_full_result_count is off.
    assert len(counts) == 1 and "WHERE" in counts[0].upper(), counts


def test_search_finds_either_side_by_username(staff_client):
    blocker, blocked = UserFactory(username="zlodey"), UserFactory(username="zhertva")
    block_create(blocker=blocker, blocked=blocked)
    populate(2)
    for query in ("zlodey", "zhertva"):
        page = staff_client.get(URL, {"q": query}).content.decode()
        assert "zlodey" in page and "zhertva" in page


def test_blocks_are_read_only_in_the_admin(staff_client):
    populate(1)
    block = Block.objects.get()
    assert staff_client.get(URL + "add/").status_code == 403
    response = staff_client.post(f"{URL}{block.pk}/change/", {"blocker": block.blocked_id, "blocked": block.blocker_id})
    assert response.status_code == 403
    assert Block.objects.filter(blocker=block.blocker, blocked=block.blocked).exists()


def test_a_view_only_moderator_sees_the_list(client):
    from django.contrib.auth.models import Permission

    moderator = UserFactory(is_staff=True)
    moderator.user_permissions.add(Permission.objects.get(codename="view_block"))
    client.force_login(moderator)
    populate(1)
    assert client.get(URL).status_code == 200
