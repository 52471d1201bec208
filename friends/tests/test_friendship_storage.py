"""How friendships are stored: mutual rows, database constraints, concurrent adds, the admin."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from friends.models import Friendship
from friends.services import friendship_add, friendship_remove
from social.exceptions import Conflict, DomainError, NotFound


def rows_of(a, b) -> set[tuple]:
    return set(Friendship.objects.filter(user__in=[a, b], friend__in=[a, b]).values_list("user_id", "friend_id"))


# --- services and constraints ----------------------------------------------------------------


@pytest.mark.django_db
def test_add_writes_both_directions_with_one_timestamp(user, other_user):
    row = friendship_add(user=user, friend=other_user)

    assert (row.user_id, row.friend_id) == (user.id, other_user.id)
    assert rows_of(user, other_user) == {(user.id, other_user.id), (other_user.id, user.id)}
    assert len({f.created_at for f in Friendship.objects.all()}) == 1


@pytest.mark.django_db
def test_add_refuses_self_and_an_existing_friendship_without_writing(user, other_user):
    friendship_add(user=user, friend=other_user)

    with pytest.raises(DomainError):
        friendship_add(user=user, friend=user)
    with pytest.raises(Conflict):
        friendship_add(user=other_user, friend=user)
    assert Friendship.objects.count() == 2


@pytest.mark.django_db
def test_remove_deletes_both_directions_and_refuses_a_non_friend(user, other_user):
    friendship_add(user=user, friend=other_user)

    friendship_remove(user=other_user, friend=user)

    assert rows_of(user, other_user) == set()
    with pytest.raises(NotFound):
        friendship_remove(user=user, friend=other_user)


@pytest.mark.django_db
def test_database_refuses_a_duplicate_row(user, other_user):
    Friendship.objects.create(user=user, friend=other_user)

    with pytest.raises(IntegrityError), transaction.atomic():
        Friendship.objects.create(user=user, friend=other_user)


@pytest.mark.django_db
def test_database_refuses_a_self_friendship_row(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        Friendship.objects.create(user=user, friend=user)


@pytest.mark.django_db
def test_deleting_a_user_removes_their_friendships_both_ways(user, other_user):
    friendship_add(user=user, friend=other_user)

    other_user.delete()

    assert not Friendship.objects.exists()


# --- concurrency -----------------------------------------------------------------------------


def _race(clients_and_urls) -> list[int]:
    """POST every (client, url) at the same moment from its own thread; their status codes."""
    barrier = threading.Barrier(len(clients_and_urls))
    statuses: list[int] = [0] * len(clients_and_urls)
    errors: list[BaseException] = []

    def run(index, client, url):
        try:
            barrier.wait(timeout=10)
            statuses[index] = client.post(url).status_code
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection, back before the DB is flushed

    threads = [
        threading.Thread(target=run, args=(index, client, url)) for index, (client, url) in enumerate(clients_and_urls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return statuses


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(user=user).access}")
    return client


@pytest.mark.django_db(transaction=True)
def test_concurrent_mutual_adds_make_one_friendship_and_never_fail():
    for _ in range(8):
        a, b = UserFactory(), UserFactory()
        client_a, client_b = _client(a), _client(b)

        statuses = _race(
            [
                (client_a, f"/api/users/{a.id}/friends/add/{b.id}"),
                (client_b, f"/api/users/{b.id}/friends/add/{a.id}"),
            ]
        )

        # Exactly one request made the friendship; the other found it made: an honest 409.
        assert sorted(statuses) == [200, 409]
        assert rows_of(a, b) == {(a.id, b.id), (b.id, a.id)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_removes_remove_once_and_never_fail():
    for _ in range(5):
        a, b = UserFactory(), UserFactory()
        friendship_add(user=a, friend=b)

        statuses = _race(
            [
                (_client(a), f"/api/users/{a.id}/friends/remove/{b.id}"),
                (_client(b), f"/api/users/{b.id}/friends/remove/{a.id}"),
            ]
        )

        assert sorted(statuses) == [200, 404]
        assert rows_of(a, b) == set()


def _wait_until_a_query_waits_on_a_lock(timeout: float = 10.0) -> None:
    """Poll PostgreSQL until another session is blocked on a lock (our second add)."""
    import time

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second add never waited on the first one's rows")


@pytest.mark.django_db(transaction=True)
def test_an_add_that_loses_the_race_after_its_check_is_an_honest_conflict():
    """B's add passes its "already friends?" check while A's rows are still uncommitted, then
    waits on them; when A commits, B's insert fails the unique constraint: 409, not a 500 and
    not a deadlock, and the pair still has exactly its two rows."""
    a, b = UserFactory(), UserFactory()
    a_inserted, a_may_commit = threading.Event(), threading.Event()
    outcome: dict = {}

    def first():
        try:
            with transaction.atomic():
                friendship_add(user=a, friend=b)
                a_inserted.set()
                a_may_commit.wait(timeout=10)
        finally:
            connection.close()

    def second():
        try:
            a_inserted.wait(timeout=10)
            friendship_add(user=b, friend=a)
            outcome["result"] = "added"
        except BaseException as error:  # noqa: BLE001 - inspected by the main thread
            outcome["result"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    a_inserted.wait(timeout=10)
    _wait_until_a_query_waits_on_a_lock()
    a_may_commit.set()
    for thread in threads:
        thread.join(timeout=30)

    assert isinstance(outcome["result"], Conflict), outcome
    assert rows_of(a, b) == {(a.id, b.id), (b.id, a.id)}


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


@pytest.mark.django_db
def test_admin_lists_and_searches_friendships_by_username(admin_client, make_user, befriend):
    ivan, maria, petr = make_user(username="ivan"), make_user(username="maria"), make_user(username="petr")
    befriend(ivan, maria)
    befriend(petr, make_user(username="olga"))

    listing = admin_client.get("/admin/friends/friendship/")
    found = admin_client.get("/admin/friends/friendship/", {"q": "maria"})

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 4
    assert found.status_code == 200
    assert {(row.user.username, row.friend.username) for row in found.context["cl"].result_list} == {
        ("ivan", "maria"),
        ("maria", "ivan"),
    }


@pytest.mark.django_db
def test_admin_add_makes_a_mutual_friendship(admin_client, user, other_user):
    response = admin_client.post(
        "/admin/friends/friendship/add/",
        {"user": str(user.id), "friend": str(other_user.id), "_save": "Сохранить"},
    )

    assert response.status_code == 302
    assert rows_of(user, other_user) == {(user.id, other_user.id), (other_user.id, user.id)}


@pytest.mark.django_db
def test_admin_refuses_a_duplicate_or_self_friendship(admin_client, user, other_user, befriend):
    befriend(user, other_user)

    add = "/admin/friends/friendship/add/"
    duplicate = admin_client.post(add, {"user": str(user.id), "friend": str(other_user.id)})
    itself = admin_client.post(add, {"user": str(user.id), "friend": str(user.id)})

    assert duplicate.status_code == 200  # the form again, with its error
    assert itself.status_code == 200
    assert Friendship.objects.count() == 2


@pytest.mark.django_db
def test_admin_delete_removes_both_rows(admin_client, user, other_user, befriend):
    row = befriend(user, other_user)

    response = admin_client.post(f"/admin/friends/friendship/{row.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Friendship.objects.exists()


@pytest.mark.django_db
def test_admin_bulk_delete_of_both_rows_removes_the_friendship_once(admin_client, user, other_user, befriend):
    befriend(user, other_user)
    ids = list(Friendship.objects.values_list("pk", flat=True))

    response = admin_client.post(
        "/admin/friends/friendship/",
        {"action": "delete_selected", "_selected_action": [str(pk) for pk in ids], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Friendship.objects.exists()
