"""Services under concurrency and failure: real PostgreSQL transactions, real S3."""

import threading
import time
import uuid

import pytest
from django.core.files.storage import default_storage
from django.db import connection, transaction
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.selectors import token_claims
from accounts.services import session_start, user_deactivate, user_delete
from accounts.tests.factories import UserFactory
from notifications.models import Notification, UnreadCount
from posts import services
from posts.models import Like, Post, PostImage, PostView
from posts.tests.factories import PostFactory
from social.exceptions import Forbidden, NotFound
from testsupport.images import image_upload


def run_concurrently(target, arguments: list) -> list:
    """Run target(argument) in one thread each, released together; returns results or the
    exceptions they raised. Each thread closes its own database connection."""
    barrier = threading.Barrier(len(arguments))
    results: list = [None] * len(arguments)

    def work(index, argument):
        try:
            barrier.wait(timeout=10)
            results[index] = target(argument)
        except Exception as error:  # noqa: BLE001 - reported to the test, which asserts on it
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def post_of(post_id) -> Post:
    return Post.objects.get(pk=post_id)


# --- Concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_likes_of_many_users_are_all_counted(client_for):
    post = PostFactory()
    clients = [client_for(UserFactory()) for _ in range(12)]

    responses = run_concurrently(lambda c: c.patch(f"/api/posts/{post.pk}/like/{c.user.pk}"), clients)

    assert [r.status_code for r in responses] == [200] * 12
    assert post_of(post.pk).likes_count == 12 == Like.objects.filter(post=post).count()


@pytest.mark.django_db(transaction=True)
def test_concurrent_toggles_of_one_user_behave_like_sequential_ones():
    post, user = PostFactory(), UserFactory()

    toggles = run_concurrently(lambda _: services.like_toggle(post_id=post.pk, user=user), list(range(6)))

    results = [toggle.liked for toggle in toggles]
    assert all(isinstance(result, bool) for result in results), results
    assert sorted(results) == [False] * 3 + [True] * 3  # each toggle flipped the like once
    # Each answered the rev its own UPDATE gave the post: one move each, none lost or shared.
    assert sorted(toggle.post.rev for toggle in toggles) == [1, 2, 3, 4, 5, 6]
    assert Like.objects.filter(post=post).count() == 0
    assert post_of(post.pk).likes_count == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_likes_and_unlikes_keep_the_counter_equal_to_the_rows():
    post = PostFactory()
    users = [UserFactory() for _ in range(10)]
    for user in users[:5]:
        services.like_toggle(post_id=post.pk, user=user)  # these five will unlike

    results = [
        toggle.liked for toggle in run_concurrently(lambda u: services.like_toggle(post_id=post.pk, user=u), users)
    ]

    assert results == [False] * 5 + [True] * 5
    assert post_of(post.pk).likes_count == 5 == Like.objects.filter(post=post).count()


def _toggle_while_held(hold, post, user, toggle=None) -> tuple:
    """`hold()` in a transaction left open, then a toggle of `user` on `post` (a second device's
    request; `toggle()` when given) that starts meanwhile, so its statement reads the rows as
    they were before what `hold` wrote: the transaction commits once the toggle is seen waiting
    on a lock. Returns what `hold` returned and the toggle's outcome (or the exception it raised)."""
    held, release = threading.Event(), threading.Event()
    outcomes: dict = {}

    def first():
        try:
            with transaction.atomic():
                outcomes["held"] = hold()
                held.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    def second():
        try:
            outcomes["toggle"] = toggle() if toggle else services.like_toggle(post_id=post.pk, user=user)
        except Exception as error:  # noqa: BLE001 - reported to the test, which asserts on it
            outcomes["toggle"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert held.wait(timeout=20)
    threads[1].start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes["held"], outcomes["toggle"]


def _second_toggle_while_the_first_holds(post, user) -> tuple:
    return _toggle_while_held(lambda: services.like_toggle(post_id=post.pk, user=user), post, user)


@pytest.mark.django_db(transaction=True)
def test_a_toggle_that_waited_for_the_users_like_unlikes_it():
    post, user = PostFactory(), UserFactory()

    first, second = _second_toggle_while_the_first_holds(post, user)

    # Its statement began before the like committed: it runs again and sees it.
    assert (first.liked, second.liked) == (True, False)
    assert (first.post.rev, second.post.rev) == (1, 2)
    assert not Like.objects.exists() and post_of(post.pk).likes_count == 0
    assert not Notification.objects.exists()
    assert UnreadCount.objects.get(user_id=post.author_id).unread == 0


@pytest.mark.django_db(transaction=True)
def test_a_toggle_that_waited_for_the_users_unlike_likes_again():
    post, user = PostFactory(), UserFactory()
    services.like_toggle(post_id=post.pk, user=user)

    first, second = _second_toggle_while_the_first_holds(post, user)

    assert (first.liked, second.liked) == (False, True)
    assert (first.post.rev, second.post.rev) == (2, 3)
    assert Like.objects.filter(post=post, user=user).count() == 1 == post_of(post.pk).likes_count
    assert Notification.objects.filter(type="post.liked", actor=user, recipient_id=post.author_id).count() == 1
    assert UnreadCount.objects.get(user_id=post.author_id).unread == 1


@pytest.mark.django_db(transaction=True)
def test_a_toggle_that_waited_for_its_users_deletion_is_not_found_and_moves_nothing():
    post, user = PostFactory(), UserFactory()
    services.like_toggle(post_id=post.pk, user=user)
    doomed = User.objects.get(pk=user.pk)

    _, toggle = _toggle_while_held(lambda: user_delete(user=doomed), post, user)

    # Not a like written for a user whose likes were just taken back.
    assert isinstance(toggle, NotFound)
    assert not Like.objects.exists() and post_of(post.pk).likes_count == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ending", [user_deactivate, user_delete])
def test_a_toggle_carrying_the_token_check_that_waited_for_its_users_end_is_refused_and_writes_nothing(ending):
    # A Bearer toggle (like_toggle_of_session) locks its user's row only if the session rule
    # accepts the token: waiting for a deactivation or a deletion, it finds the row inactive or
    # gone, and writes nothing (an unlike here) rather than act for a user just ended.
    post, user = PostFactory(), UserFactory()
    services.like_toggle(post_id=post.pk, user=user)
    claims = token_claims(AccessToken(session_start(user=user).access))
    ended = User.objects.get(pk=user.pk)

    _, toggle = _toggle_while_held(
        lambda: ending(user=ended), post, user, lambda: services.like_toggle_of_session(post_id=post.pk, claims=claims)
    )

    assert toggle == (None, None)  # the view's 401
    if ending is user_deactivate:  # the like, its count, its rev and its notification stay
        assert Like.objects.filter(post=post).count() == 1 == post_of(post.pk).likes_count
        assert post_of(post.pk).rev == 1
        assert Notification.objects.filter(type="post.liked", actor=user).count() == 1
    else:  # only the deletion's own withdrawal moved the post
        assert not Like.objects.exists() and post_of(post.pk).likes_count == 0
        assert post_of(post.pk).rev == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_views_count_each_distinct_viewer_once(client_for):
    author = UserFactory()
    post = PostFactory(author=author)
    viewers = [client_for(UserFactory()) for _ in range(6)]
    # Each viewer opens the post twice at the same moment, and the author a few times too.
    clients = viewers + viewers + [client_for(author)] * 3

    responses = run_concurrently(lambda c: c.get(f"/api/posts/{post.pk}"), clients)

    assert [r.status_code for r in responses] == [200] * len(clients)
    assert post_of(post.pk).views_count == 6 == PostView.objects.filter(post=post).count()


@pytest.mark.django_db(transaction=True)
def test_one_viewer_opening_a_post_many_times_at_once_counts_once():
    post, viewer = PostFactory(), UserFactory()

    results = run_concurrently(lambda _: services.post_view_record(post_id=post.pk, viewer=viewer), list(range(8)))

    assert results.count(True) == 1 and results.count(False) == 7
    assert post_of(post.pk).views_count == 1


# --- Creation and its failures ----------------------------------------------------------------


@pytest.mark.django_db
def test_post_create_stores_images_in_their_order(user):
    post = services.post_create(
        author=user, description="d", images=[image_upload("a.jpg"), image_upload("b.png", "PNG")]
    )

    images = list(PostImage.objects.filter(post=post).order_by("position"))
    assert [image.position for image in images] == [0, 1]
    assert [image.file.name.rsplit(".", 1)[1] for image in images] == ["jpg", "png"]
    assert all(default_storage.exists(image.file.name) for image in images)


@pytest.mark.django_db(transaction=True)
def test_a_failed_database_write_deletes_the_files_it_had_stored(bucket_keys):
    # An author whose row is gone: the foreign key fails when the post's transaction commits,
    # after the images were saved.
    ghost = UserFactory()
    User.objects.filter(pk=ghost.pk).delete()
    before = bucket_keys()

    with pytest.raises(Exception):  # noqa: B017 - IntegrityError from the deferred FK check
        services.post_create(author=ghost, description="", images=[image_upload("a.jpg"), image_upload("b.jpg")])

    assert not Post.objects.exists() and not PostImage.objects.exists()
    assert bucket_keys() == before


@pytest.mark.django_db
def test_a_storage_failure_deletes_the_files_already_saved_and_answers_503(api, user, bucket_keys, monkeypatch):
    # The S3 backend (django-storages, not our code) fails on the second upload.
    storage_class = type(default_storage._wrapped if hasattr(default_storage, "_wrapped") else default_storage)
    real_save = storage_class._save
    calls = []

    def flaky_save(self, name, content):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("S3 is unavailable")
        return real_save(self, name, content)

    monkeypatch.setattr(storage_class, "_save", flaky_save)
    before = bucket_keys()

    response = api.post(
        "/api/posts/create",
        {"author": str(user.pk), "images": [image_upload("a.jpg"), image_upload("b.jpg"), image_upload("c.jpg")]},
        format="multipart",
    )

    assert response.status_code == 503
    assert response.json() == {"detail": "Не удалось сохранить изображения, попробуйте позже."}
    assert len(calls) == 2
    assert not Post.objects.exists()
    assert bucket_keys() == before


# --- Deletion --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_deletion_keeps_the_post_and_its_files(user):
    post_id = services.post_create(author=user, description="", images=[image_upload("a.jpg")]).pk
    name = PostImage.objects.get(post_id=post_id).file.name

    with pytest.raises(RuntimeError), transaction.atomic():
        services.post_delete(post=Post.objects.get(pk=post_id), actor=user)
        raise RuntimeError("the surrounding transaction fails")

    assert Post.objects.filter(pk=post_id).exists()
    assert default_storage.exists(name)
    services.post_delete(post=Post.objects.get(pk=post_id), actor=user)  # committed at once
    assert not default_storage.exists(name)


@pytest.mark.django_db
def test_only_the_author_or_staff_may_delete(user, other_user):
    post = PostFactory(author=user)

    with pytest.raises(Forbidden):
        services.post_delete(post=post, actor=other_user)
    assert Post.objects.filter(pk=post.pk).exists()


@pytest.mark.django_db
def test_deleting_a_post_removes_its_likes_views_and_images(user, other_user):
    post = PostFactory(author=user)
    services.like_toggle(post_id=post.pk, user=other_user)
    services.post_view_record(post_id=post.pk, viewer=other_user)

    services.post_delete(post=post, actor=user)

    assert not Like.objects.exists() and not PostView.objects.exists() and not Post.objects.exists()


# --- Likes and views -------------------------------------------------------------------------


@pytest.mark.django_db
def test_liking_a_post_that_does_not_exist_is_not_found(user):
    with pytest.raises(NotFound):
        services.like_toggle(post_id=uuid.uuid4(), user=user)
    assert not Like.objects.exists()


@pytest.mark.django_db
def test_the_author_viewing_their_post_is_not_counted(user):
    post = PostFactory(author=user)

    assert services.post_view_record(post_id=post.pk, viewer=user) is False
    assert post_of(post.pk).views_count == 0 and not PostView.objects.exists()


@pytest.mark.django_db
def test_viewing_a_post_that_does_not_exist_is_not_found(user):
    with pytest.raises(NotFound):
        services.post_view_record(post_id=uuid.uuid4(), viewer=user)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_deleting_a_post_while_it_is_liked_and_viewed_never_answers_500(client_for, round_):
    author = UserFactory()
    post = PostFactory(author=author)
    likers = [client_for(UserFactory()) for _ in range(6)]
    viewers = [client_for(UserFactory()) for _ in range(3)]
    deleter = client_for(author)

    def act(client):
        if client is deleter:
            return client.delete(f"/api/posts/{post.pk}")
        if client in viewers:
            return client.get(f"/api/posts/{post.pk}")
        return client.patch(f"/api/posts/{post.pk}/like/{client.user.pk}")

    responses = run_concurrently(act, [*likers[:3], deleter, *viewers, *likers[3:]])

    assert not [r for r in responses if isinstance(r, Exception)]
    assert {r.status_code for r in responses} <= {200, 204, 404}
    assert 204 in {r.status_code for r in responses}
    assert not Post.objects.filter(pk=post.pk).exists()
    assert not Like.objects.filter(post_id=post.pk).exists()
    assert not PostView.objects.filter(post_id=post.pk).exists()
