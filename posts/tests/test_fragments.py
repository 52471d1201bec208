"""Post lists come from per-process encodings (posts/fragments.py): every write that changes a
post must show in the next page read, whoever reads it."""

import copy
import time
import uuid

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from posts import fragments
from posts.models import Post
from posts.services import like_toggle
from posts.tests.factories import LikeFactory, PostFactory, PostImageFactory
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db

FEED = "/api/posts/all"
# The caller's row and the page's rows (one statement with a Bearer token: accounts.authentication
# SessionCheckInView): a page whose posts are all encoded already.
WARM_QUERIES = 1
# …plus one for the posts that are not, with their authors, images and recent likers.
COLD_QUERIES = WARM_QUERIES + 1


def feed_post(client, post) -> dict:
    return next(item for item in client.get(FEED).json() if item["id"] == str(post.pk))


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_warm_page_reads_no_post_details_and_answers_the_same(api, django_assert_num_queries):
    for _ in range(3):
        LikeFactory(post=PostImageFactory().post)

    with django_assert_num_queries(COLD_QUERIES):
        cold = api.get(FEED)
    with django_assert_num_queries(WARM_QUERIES):
        warm = api.get(FEED)

    assert warm.status_code == 200
    assert warm["Content-Type"] == cold["Content-Type"] == "application/json; charset=utf-8"
    assert warm.content == cold.content and len(warm.json()) == 3


def test_a_list_item_is_the_same_object_as_the_single_post(client_for, user):
    post = PostFactory(author=user, description='Кавычки " и \\ и "liked_by_me":true в тексте')
    PostImageFactory(post=post)
    LikeFactory(post=post)
    author = client_for(user)

    listed = feed_post(author, post)
    single = author.get(f"/api/posts/{post.pk}")  # the author's own view is not counted

    assert listed == single.json()
    assert listed["description"] == post.description and listed["liked_by_me"] is False
    # The same bytes, keys in the same order: the page splices its encoding's pieces.
    assert author.get(FEED).content == b"[" + single.content + b"]"


def test_liked_by_me_is_each_viewers_own_from_one_encoding(client_for, user, other_user):
    post = PostFactory()
    LikeFactory(post=post, user=user)
    liker, stranger = client_for(user), client_for(other_user)

    assert feed_post(liker, post)["liked_by_me"] is True
    assert feed_post(stranger, post)["liked_by_me"] is False
    assert feed_post(liker, post)["liked_by_me"] is True


def test_a_like_through_the_api_shows_in_every_readers_next_page(client_for, user, other_user):
    post = PostFactory()
    reader, liker = client_for(user), client_for(other_user)
    assert feed_post(reader, post)["likes_count"] == 0

    assert liker.patch(f"/api/posts/{post.pk}/like/{other_user.pk}").status_code == 200

    seen = feed_post(reader, post)
    assert seen["likes_count"] == 1 and [like["id"] for like in seen["likes"]] == [str(other_user.pk)]
    liker.patch(f"/api/posts/{post.pk}/like/{other_user.pk}")
    assert feed_post(reader, post)["likes"] == []


def test_a_new_viewer_shows_in_the_views_of_the_next_page(client_for, user, other_user):
    post = PostFactory()
    reader = client_for(user)
    assert feed_post(reader, post)["views"] == 0

    client_for(other_user).get(f"/api/posts/{post.pk}")

    assert feed_post(reader, post)["views"] == 1


def test_a_renamed_author_and_liker_show_in_the_next_page(api, client_for, user, other_user):
    post = PostFactory(author=other_user)
    LikeFactory(post=post, user=user)
    before = feed_post(api, post)
    assert before["likes"][0]["username"] == user.username

    api.patch("/api/auth/current_user", {"username": "renamed-liker"}, format="json")
    client_for(other_user).patch("/api/auth/current_user", {"avatar": image_upload("a.png", "PNG")}, format="multipart")

    after = feed_post(api, post)
    assert after["likes"][0]["username"] == "renamed-liker"
    assert before["author"]["avatar"] is None and after["author"]["avatar"].startswith("http")


def test_an_admin_edit_shows_in_the_next_page(api, staff_client, other_user):
    post = PostFactory(description="до")
    LikeFactory(post=post, user=other_user)
    assert feed_post(api, post)["description"] == "до"

    form = {"author": str(post.author_id), "description": "после", "images-TOTAL_FORMS": 0, "images-INITIAL_FORMS": 0}
    response = staff_client.post(f"/admin/posts/post/{post.pk}/change/", form)

    assert response.status_code == 302
    seen = feed_post(api, post)
    assert seen["description"] == "после" and seen["likes_count"] == 1
    assert Post.objects.get(pk=post.pk).likes_count == 1


def test_an_admin_edit_of_a_username_shows_in_the_posts_they_liked(api, staff_client, other_user):
    post = PostFactory()
    LikeFactory(post=post, user=other_user)
    feed_post(api, post)
    form = {
        "email": other_user.email,
        "username": "moderated",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }

    response = staff_client.post(f"/admin/accounts/user/{other_user.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert feed_post(api, post)["likes"][0]["username"] == "moderated"


def test_deleting_a_user_in_the_admin_takes_back_their_likes_and_views(api, staff_client, client_for, other_user):
    post = PostFactory()
    LikeFactory(post=post, user=other_user)
    client_for(other_user).get(f"/api/posts/{post.pk}")
    assert feed_post(api, post)["likes_count"] == 1

    response = staff_client.post(f"/admin/accounts/user/{other_user.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    seen = feed_post(api, post)
    assert seen["likes_count"] == 0 and seen["likes"] == [] and seen["views"] == 0
    stored = Post.objects.get(pk=post.pk)
    assert (stored.likes_count, stored.views_count) == (0, 0)


def test_an_encoding_does_not_outlive_its_presigned_urls(api, settings, django_assert_num_queries):
    # Presigned URLs are reused for half their lifetime; an encoding holding one goes with it.
    storages = copy.deepcopy(settings.STORAGES)
    storages["default"]["OPTIONS"]["querystring_expire"] = 2
    settings.STORAGES = storages
    assert default_storage.querystring_expire == 2
    post = PostImageFactory().post
    first = feed_post(api, post)["images"]
    with django_assert_num_queries(WARM_QUERIES):
        assert feed_post(api, post)["images"] == first

    time.sleep(1.2)

    with django_assert_num_queries(COLD_QUERIES):
        later = feed_post(api, post)["images"]
    assert later != first and len(later) == 1


def test_an_encoding_does_not_outlive_the_presigned_avatar_of_a_kept_liker(
    api, settings, other_user, django_assert_num_queries
):
    # A liker's encoding is kept per process and embedded in later posts' encodings: those end
    # with the liker's avatar URL's reuse window too, however recently they were encoded.
    storages = copy.deepcopy(settings.STORAGES)
    storages["default"]["OPTIONS"]["querystring_expire"] = 2
    settings.STORAGES = storages
    other_user.avatar.name = f"avatars/{uuid.uuid4().hex}.jpg"
    other_user.save(update_fields=["avatar"])
    first = LikeFactory(user=other_user).post
    avatar = feed_post(api, first)["likes"][0]["avatar"]
    time.sleep(0.6)
    later = LikeFactory(user=other_user).post

    assert feed_post(api, later)["likes"][0]["avatar"] == avatar
    time.sleep(0.6)  # past the avatar URL's window (1 s), not a window begun with `later`

    with django_assert_num_queries(COLD_QUERIES):
        again = feed_post(api, later)["likes"][0]["avatar"]
    assert again != avatar and again.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("budget", [0, 1500])
def test_a_small_or_no_cache_budget_changes_nothing_a_client_sees(api, settings, budget):
    posts = [PostFactory(description="x" * 600) for _ in range(4)]
    expected = api.get(FEED).content
    settings.POST_CACHE_BYTES = budget

    assert api.get(FEED).content == expected
    assert api.get(FEED).content == expected
    assert len(api.get(FEED).json()) == len(posts)


def test_a_post_deleted_after_its_row_was_read_is_left_out(api, client_for, user):
    kept, gone = PostFactory(), PostFactory(author=user)
    api.get(FEED)
    assert client_for(user).delete(f"/api/posts/{gone.pk}").status_code == 204

    assert [item["id"] for item in api.get(FEED).json()] == [str(kept.pk)]


# --- A like toggle answers from the encoding, moved by its rev -----------------------------------


def like_path(post, user) -> str:
    return f"/api/posts/{post.pk}/like/{user.pk}"


def fresh_post(client, post) -> dict:
    """The post as a page shows it once every encoding is forgotten (read and encoded anew)."""
    fragments.cache_clear()
    return feed_post(client, post)


def test_a_like_toggle_moves_the_cached_encoding_instead_of_reading_the_post(api, user):
    post = PostImageFactory().post
    for _ in range(3):
        LikeFactory(post=post)
    feed_post(api, post)  # this process now holds the post's encoding

    with CaptureQueriesContext(connection) as warm_like:
        liked = api.patch(like_path(post, user))
    with CaptureQueriesContext(connection) as warm_unlike:
        unliked = api.patch(like_path(post, user))
    fragments.cache_clear()
    with CaptureQueriesContext(connection) as cold_like:
        cold = api.patch(like_path(post, user))

    # The post, its images and its likers are not read when the encoding moves by the toggle.
    assert len(warm_like) == len(cold_like) - (COLD_QUERIES - WARM_QUERIES), [q["sql"] for q in warm_like]
    assert len(warm_unlike) < len(cold_like)
    assert liked.status_code == unliked.status_code == cold.status_code == 200
    assert liked["Content-Type"] == "application/json; charset=utf-8"
    assert liked.json()["likes"][0]["id"] == str(user.pk) and liked.json()["likes_count"] == 4
    assert liked.json()["liked_by_me"] is True
    assert cold.json() == liked.json()
    assert unliked.json()["likes_count"] == 3 and str(user.pk) not in {u["id"] for u in unliked.json()["likes"]}
    assert cold.json() == fresh_post(api, post)


def test_unliking_an_embedded_liker_of_a_post_with_more_likers_reads_the_next_one(api, user, settings):
    settings.POST_LIKES_EMBEDDED = 2
    post = PostFactory()
    for _ in range(3):
        LikeFactory(post=post)
    assert api.patch(like_path(post, user)).json()["likes"][0]["id"] == str(user.pk)

    unliked = api.patch(like_path(post, user)).json()

    assert len(unliked["likes"]) == 2 and unliked["likes_count"] == 3
    assert unliked == fresh_post(api, post)


def test_a_toggle_after_a_change_this_process_missed_reads_the_post(api, user, other_user):
    post = PostFactory()
    feed_post(api, post)
    like_toggle(post_id=post.pk, user=other_user)  # another process: this one's encoding is 2 revs behind

    liked = api.patch(like_path(post, user)).json()

    assert liked["likes_count"] == 2 and [u["id"] for u in liked["likes"]] == [str(user.pk), str(other_user.pk)]
    assert liked == fresh_post(api, post) | {"liked_by_me": True}


def test_liking_a_deleted_post_whose_encoding_is_cached_is_404(api, user):
    post = PostFactory()
    feed_post(api, post)
    Post.objects.filter(pk=post.pk).delete()

    response = api.patch(like_path(post, user))

    assert response.status_code == 404
    assert response.json() == {"detail": "Пост не найден."}


def test_a_liker_who_deletes_their_account_shows_under_the_placeholder_name_in_the_next_page(api, other_user):
    from accounts.services import account_delete
    from accounts.tests.factories import PASSWORD

    post = PostFactory()
    LikeFactory(post=post, user=other_user)
    assert feed_post(api, post)["likes"][0]["username"] == other_user.username

    account_delete(user=other_user, password=PASSWORD)

    seen = feed_post(api, post)
    assert seen["likes"][0]["username"] == f"deleted-{other_user.pk.hex}"
    assert seen == fresh_post(api, post)
