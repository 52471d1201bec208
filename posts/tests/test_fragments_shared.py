"""The post encodings shared by every process through Redis (posts/fragments.py, issue #26).

"Another process" is this one with its own encodings forgotten (`cache_clear(shared=False)`):
what it answers must be what a read of the database answers (`cache_clear()`, every encoding
forgotten), byte for byte, after every write that changes a post."""

import copy
import logging
import time

import pytest
from django.core.files.storage import default_storage

from accounts.services import account_delete
from accounts.tests.factories import PASSWORD, UserFactory
from posts import fragments
from posts.tests.factories import LikeFactory, PostFactory, PostImageFactory
from posts.tests.test_fragments import COLD_QUERIES, FEED, WARM_QUERIES
from tests.test_limits_without_redis import cache_on, kill, own_redis  # noqa: F401 (a fixture)
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db


def another_process(client, path=FEED):
    """The page as a process that never encoded its posts answers it (the shared ones it may use)."""
    fragments.cache_clear(shared=False)
    return client.get(path)


def from_the_database(client, path=FEED):
    """The page read and encoded anew: no encoding anywhere."""
    fragments.cache_clear()
    return client.get(path)


def test_a_post_encoded_by_one_process_is_served_to_another_without_reading_it(api, django_assert_num_queries):
    for _ in range(3):
        LikeFactory(post=PostImageFactory().post)
    with django_assert_num_queries(COLD_QUERIES):
        first = api.get(FEED)

    with django_assert_num_queries(WARM_QUERIES):
        other = another_process(api)
    with django_assert_num_queries(WARM_QUERIES):  # now this process's own again
        again = api.get(FEED)

    assert other.status_code == again.status_code == 200
    assert other["Content-Type"] == "application/json; charset=utf-8"
    assert other.content == first.content == again.content and len(other.json()) == 3


def test_each_viewers_liked_by_me_is_spliced_into_a_shared_encoding(client_for, user, other_user):
    post = PostFactory()
    LikeFactory(post=post, user=user)
    client_for(other_user).get(FEED)  # encoded for a viewer who does not like it

    liked = another_process(client_for(user)).json()

    assert [item["liked_by_me"] for item in liked if item["id"] == str(post.pk)] == [True]


def _like(api, client_for, post, author, liker):
    assert client_for(liker).patch(f"/api/posts/{post.pk}/like/{liker.pk}").status_code == 200


def _unlike(api, client_for, post, author, liker):
    _like(api, client_for, post, author, liker)  # the setup's like toggled off


def _rename_liker(api, client_for, post, author, liker):
    client_for(liker).patch("/api/auth/current_user", {"username": "renamed-liker"}, format="json")


def _new_author_avatar(api, client_for, post, author, liker):
    client_for(author).patch("/api/auth/current_user", {"avatar": image_upload("a.png", "PNG")}, format="multipart")


def _view(api, client_for, post, author, liker):
    client_for(liker).get(f"/api/posts/{post.pk}")


def _comment(api, client_for, post, author, liker):
    assert client_for(liker).post(f"/api/posts/{post.pk}/comments", {"text": "да"}, format="json").status_code == 201


def _delete_post(api, client_for, post, author, liker):
    assert client_for(author).delete(f"/api/posts/{post.pk}").status_code == 204


def _block_author(api, client_for, post, author, liker):
    assert api.post(f"/api/users/{author.pk}/block").status_code in (200, 201, 204)


def _liker_deletes_account(api, client_for, post, author, liker):
    account_delete(user=liker, password=PASSWORD)


def _author_deletes_account(api, client_for, post, author, liker):
    account_delete(user=author, password=PASSWORD)


WRITES = [
    _like,
    _unlike,
    _rename_liker,
    _new_author_avatar,
    _view,
    _comment,
    _delete_post,
    _block_author,
    _liker_deletes_account,
    _author_deletes_account,
]


@pytest.mark.parametrize("write", WRITES, ids=[write.__name__.strip("_") for write in WRITES])
def test_every_write_shows_in_another_processs_next_page(api, client_for, write):
    author, liker = UserFactory(), UserFactory()
    post = PostImageFactory(post__author=author).post
    PostFactory()  # a post the write leaves alone
    LikeFactory(post=post)
    if write is not _like:
        LikeFactory(post=post, user=liker)  # the most recent liker, embedded first
    before = api.get(FEED).content  # encoded and shared

    write(api, client_for, post, author, liker)

    seen = another_process(api)
    assert seen.status_code == 200
    assert seen.content == from_the_database(api).content
    assert seen.content != before


def test_an_admin_edit_shows_in_another_processs_next_page(api, client):
    post = PostFactory(description="до")
    api.get(FEED)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    form = {"author": str(post.author_id), "description": "после", "images-TOTAL_FORMS": 0, "images-INITIAL_FORMS": 0}
    assert client.post(f"/admin/posts/post/{post.pk}/change/", form).status_code == 302

    seen = another_process(api)

    assert seen.json()[0]["description"] == "после"
    assert seen.content == from_the_database(api).content


def test_a_like_toggle_shares_the_moved_encoding(api, user, django_assert_num_queries):
    post = PostFactory()
    LikeFactory(post=post)
    api.get(FEED)
    liked = api.patch(f"/api/posts/{post.pk}/like/{user.pk}")  # moved in this process, and shared

    with django_assert_num_queries(WARM_QUERIES):
        seen = another_process(api)

    assert seen.json()[0] == liked.json()
    assert seen.content == from_the_database(api).content


@pytest.mark.parametrize("embedded", [3, 1])
def test_a_like_toggle_moves_another_processs_shared_encoding_without_reading_the_post(
    api, user, settings, django_assert_num_queries, embedded
):
    settings.POST_LIKES_EMBEDDED = embedded
    post = PostFactory()
    LikeFactory(post=post)
    path = f"/api/posts/{post.pk}/like/{user.pk}"
    api.get(FEED)  # encoded and shared at the post's rev
    fragments.cache_clear(shared=False)  # the toggles land on another process

    # The toggle's statement (the user's check in it): the answer is the shared encoding moved.
    with django_assert_num_queries(1):
        liked = api.patch(path)
    assert liked.json()["liked_by_me"] is True and liked.json()["likes"][0]["id"] == str(user.pk)
    assert liked.json() == _shown(from_the_database(api), post)  # read and shared again there
    fragments.cache_clear(shared=False)
    # An unlike of an embedded liker among more likers than are embedded cannot be moved
    # (the next liker moves up): read, as before.
    with django_assert_num_queries(1 if embedded > 1 else 2):
        unliked = api.patch(path)

    assert unliked.json()["liked_by_me"] is False
    assert unliked.json() == _shown(from_the_database(api), post)


def _shown(page, post) -> dict:
    return next(item for item in page.json() if item["id"] == str(post.pk))


def test_a_changed_email_rule_never_meets_an_entry_of_the_old_one(client_for, user, other_user, settings):
    post = PostFactory()
    LikeFactory(post=post, user=other_user)
    reader = client_for(user)
    assert reader.get(FEED).json()[0]["likes"][0]["email"] == ""

    settings.USER_EMAIL_VISIBILITY = "everyone"

    assert another_process(reader).json()[0]["likes"][0]["email"] == other_user.email


def test_a_changed_number_of_embedded_likers_never_meets_an_entry_of_the_old_one(api, settings):
    post = PostFactory()
    for _ in range(3):
        LikeFactory(post=post)
    assert len(api.get(FEED).json()[0]["likes"]) == 3

    settings.POST_LIKES_EMBEDDED = 2

    assert len(another_process(api).json()[0]["likes"]) == 2


def test_a_shared_encoding_does_not_outlive_its_presigned_urls(api, settings, django_assert_num_queries):
    storages = copy.deepcopy(settings.STORAGES)
    storages["default"]["OPTIONS"]["querystring_expire"] = 2
    settings.STORAGES = storages
    assert default_storage.querystring_expire == 2
    post = PostImageFactory().post
    first = api.get(FEED).json()[0]["images"]
    with django_assert_num_queries(WARM_QUERIES):
        assert another_process(api).json()[0]["images"] == first

    time.sleep(1.2)

    with django_assert_num_queries(COLD_QUERIES):
        later = another_process(api).json()[0]["images"]
    assert later != first and len(later) == 1 and api.get(FEED).json()[0]["id"] == str(post.pk)


def test_no_sharing_reads_every_post_another_process_did_not_encode(api, settings, django_assert_num_queries):
    settings.POST_SHARED_CACHE_TTL = 0
    PostFactory()
    first = api.get(FEED)

    with django_assert_num_queries(COLD_QUERIES):
        seen = another_process(api)

    assert seen.content == first.content


def test_a_redis_outage_serves_pages_from_the_database_and_logs_once(api, own_redis, caplog):  # noqa: F811
    url, server = own_redis
    PostFactory.create_batch(2)
    with cache_on(url), caplog.at_level(logging.WARNING, logger="posts.fragments"):
        fragments.cache_clear()
        expected = api.get(FEED).content  # shared on the test's own Redis
        kill(server)

        pages = [another_process(api) for _ in range(3)]

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all(page.content == expected for page in pages)
    outages = [record for record in caplog.records if "shared post encodings unavailable" in record.getMessage()]
    assert len(outages) == 1  # once per backoff, not once per request


def test_without_redis_a_shared_cache_of_the_process_changes_nothing_a_client_sees(api, settings):
    PostFactory.create_batch(2)
    expected = api.get(FEED).content
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.POST_SHARED_CACHE_TTL = 60

    fragments.cache_clear()
    first = api.get(FEED)
    again = another_process(api)

    assert first.content == again.content == expected
