"""Comments on posts (EXTENSIONS.md §3) as a client sees them: real PostgreSQL and Redis."""

import json
import threading
import uuid

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from posts.models import Comment, Post
from posts.services import comment_create, comment_delete
from posts.tests.factories import PostFactory
from safety.models import Block
from social.ratelimit import social_rates_parse

pytestmark = pytest.mark.django_db

AUTH = 1  # BearerAuthentication loads the caller
COMMENT_KEYS = {"id", "post_id", "text", "created_at", "user"}


def comments_path(post, comment=None) -> str:
    path = f"/api/posts/{post.pk}/comments"
    return f"{path}/{comment.pk}" if comment is not None else path


# --- Create ------------------------------------------------------------------------------------


def test_a_comment_is_created_with_its_author_and_counted_on_the_post(api, user):
    post = PostFactory()

    response = api.post(comments_path(post), {"text": "Красиво!"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == COMMENT_KEYS
    assert body["post_id"] == str(post.pk) and body["text"] == "Красиво!"
    assert body["user"] == {"id": str(user.pk), "username": user.username, "avatar": None}
    uuid.UUID(body["id"])
    seen = api.get(f"/api/posts/{post.pk}").json()
    assert seen["comments_count"] == 1


def test_a_comment_moves_the_posts_rev_so_cached_encodings_show_the_new_count(api, user):
    post = PostFactory()
    assert api.get("/api/posts/all").json()[0]["comments_count"] == 0
    rev = Post.objects.get(pk=post.pk).rev

    api.post(comments_path(post), {"text": "первый"}, format="json")

    assert Post.objects.get(pk=post.pk).rev == rev + 1
    assert api.get("/api/posts/all").json()[0]["comments_count"] == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"text": ""}, {"text": "   \n\t "}, {"text": "x" * 2001}, {"text": None}, {"text": ["a"]}, {"text": {"a": 1}}],
)
def test_bad_comment_text_is_a_400_and_stores_nothing(api, body):
    post = PostFactory()

    response = api.post(comments_path(post), body, format="json")

    assert response.status_code == 400, response.content
    assert "text" in response.json()
    assert not Comment.objects.exists() and Post.objects.get(pk=post.pk).comments_count == 0


def test_a_comment_of_2000_characters_is_accepted(api):
    post = PostFactory()
    assert api.post(comments_path(post), {"text": "я" * 2000}, format="json").status_code == 201


def test_a_body_that_is_not_an_object_is_a_400(api):
    post = PostFactory()
    response = api.post(comments_path(post), ["text"], format="json")
    assert response.status_code == 400 and "detail" in response.json()


def test_comments_on_an_unknown_post_are_a_404(api):
    missing = uuid.uuid4()
    assert api.post(f"/api/posts/{missing}/comments", {"text": "a"}, format="json").status_code == 404
    assert api.get(f"/api/posts/{missing}/comments").status_code == 404


def test_comments_need_a_signed_in_caller(anon_client):
    post = PostFactory()
    assert anon_client.get(comments_path(post)).status_code == 401
    assert anon_client.post(comments_path(post), {"text": "a"}, format="json").status_code == 401


def test_comment_creation_is_rate_limited_per_user(api, settings):
    settings.SOCIAL_RATE_LIMITS = social_rates_parse("comment_create=2/hour")
    post = PostFactory()

    answers = [api.post(comments_path(post), {"text": f"{n}"}, format="json").status_code for n in range(3)]

    assert answers == [201, 201, 429]
    assert api.get(comments_path(post)).status_code == 200  # reading is not limited


# --- The page ----------------------------------------------------------------------------------


def test_the_page_is_oldest_first_with_a_next_link(api, user):
    post = PostFactory()
    for n in range(3):
        comment_create(post_id=post.pk, author=user, text=f"c{n}")

    first = api.get(comments_path(post) + "?limit=2")
    assert [c["text"] for c in first.json()] == ["c0", "c1"]
    next_url = first.headers["Link"].split(";")[0].strip("<>")
    second = api.get(next_url)
    assert [c["text"] for c in second.json()] == ["c2"] and "Link" not in second.headers


def test_each_comment_of_the_page_is_the_created_ones_object(api, client_for, user, other_user):
    """The page builds its objects from bare rows (issue #26), the creation's answer through
    CommentOutput: the same keys, order and values on every page; a deleted account's
    comments are left out, a bad cursor is a 400 and a post hidden by a block a 404."""
    post = PostFactory()
    other_user.avatar = "avatars/a.png"
    other_user.save(update_fields=["avatar"])
    created = []
    for n, author in enumerate([user, other_user, user]):
        response = client_for(author).post(comments_path(post), {"text": f"«{n}»\u2028x"}, format="json")
        created.append(response.json())
    gone = UserFactory()
    comment_create(post_id=post.pk, author=gone, text="исчезнет")
    gone.deleted_at = gone.date_joined
    gone.save(update_fields=["deleted_at"])

    listed, url = [], comments_path(post) + "?limit=2"
    while url:
        response = api.get(url)
        assert response["Content-Type"] == "application/json; charset=utf-8"
        listed.append(response.content)
        url = response.headers["Link"].split(";")[0].strip("<>") if "Link" in response.headers else None
    assert [json.loads(page) for page in listed] == [created[:2], created[2:]]
    assert b"\\u2028" in listed[0]  # escaped as JSONRenderer does
    assert api.get(comments_path(post) + "?cursor=WyJ4IiwieSJd").status_code == 400

    Block.objects.create(blocker=post.author, blocked=user)
    assert api.get(comments_path(post)).status_code == 404


@pytest.mark.parametrize("size", [10, 120])
def test_the_page_costs_the_same_queries_at_any_size(api, django_assert_num_queries, size):
    post = PostFactory()
    authors = UserFactory.create_batch(5)
    Comment.objects.bulk_create(Comment(post=post, author=authors[n % 5], text=f"{n}") for n in range(size))

    # The user check, the post's read rule and the page: one statement (issue #26).
    with django_assert_num_queries(1):
        response = api.get(comments_path(post) + "?limit=100")

    assert len(response.json()) == min(size, 100)


# --- Delete ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["comment author", "post author", "staff"])
def test_a_comment_is_deleted_by_its_author_the_posts_author_or_staff(client_for, who):
    post = PostFactory()
    commenter = UserFactory()
    comment = comment_create(post_id=post.pk, author=commenter, text="a")
    caller = {"comment author": commenter, "post author": post.author, "staff": UserFactory(is_staff=True)}[who]

    response = client_for(caller).delete(comments_path(post, comment))

    assert response.status_code == 204
    assert not Comment.objects.exists() and Post.objects.get(pk=post.pk).comments_count == 0


def test_anyone_else_gets_a_403_and_the_comment_stays(api):
    post = PostFactory()
    comment = comment_create(post_id=post.pk, author=UserFactory(), text="a")

    assert api.delete(comments_path(post, comment)).status_code == 403
    assert Comment.objects.filter(pk=comment.pk).exists() and Post.objects.get(pk=post.pk).comments_count == 1


def test_deleting_an_unknown_comment_or_one_of_another_post_is_a_404(api, user):
    post, other = PostFactory(author=user), PostFactory(author=user)
    comment = comment_create(post_id=other.pk, author=user, text="a")

    assert api.delete(f"/api/posts/{post.pk}/comments/{uuid.uuid4()}").status_code == 404
    assert api.delete(comments_path(post, comment)).status_code == 404
    assert Post.objects.get(pk=other.pk).comments_count == 1


def test_deleting_a_post_deletes_its_comments(api, user):
    post = PostFactory(author=user)
    comment_create(post_id=post.pk, author=UserFactory(), text="a")

    assert api.delete(f"/api/posts/{post.pk}").status_code == 204
    assert not Comment.objects.exists()


def test_a_deleted_user_takes_their_comments_back_from_the_counters(user):
    from accounts.services import user_delete

    post = PostFactory()
    commenter = UserFactory()
    for text in ("a", "b"):
        comment_create(post_id=post.pk, author=commenter, text=text)
    comment_create(post_id=post.pk, author=user, text="c")

    user_delete(user=commenter)

    assert Post.objects.get(pk=post.pk).comments_count == 1


@pytest.mark.django_db(transaction=True)
def test_two_racing_deletes_of_one_comment_move_the_counter_once():
    post = PostFactory()
    comment = comment_create(post_id=post.pk, author=post.author, text="a")
    comment_create(post_id=post.pk, author=post.author, text="b")
    barrier = threading.Barrier(2)
    errors = []

    # Both requests have read the comment before either deletes it.
    loaded = [Comment.objects.select_related("post").get(pk=comment.pk) for _ in range(2)]

    def delete(loaded):
        try:
            barrier.wait()
            comment_delete(comment=loaded, actor=post.author)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=delete, args=(one,)) for one in loaded]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert Post.objects.get(pk=post.pk).comments_count == 1
