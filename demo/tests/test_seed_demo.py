"""`manage.py seed_demo` on small numbers: consistent counts, working image URLs, and a second run
that adds beside the first."""

import pytest
import requests
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count, F, Max, Q

from accounts.models import User
from chats.models import Chat, ChatMember, Message
from demo.seeding import DEMO_PASSWORD, spread
from friends.models import Friendship
from posts.models import SEED_FILES_PREFIX, Like, Post, PostImage, PostView
from posts.scores import hot_score

SMALL = {"users": 30, "posts": 60, "likes": 400, "views": 150, "chats": 4, "messages": 80}


def seed_small(**overrides):
    call_command("seed_demo", **{**SMALL, **overrides}, verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_seed_writes_the_requested_rows_with_consistent_counters():
    seed_small()

    assert User.objects.count() == 30
    assert Post.objects.count() == 60
    assert Like.objects.count() == 400
    assert PostView.objects.count() == 150
    assert Chat.objects.count() == 4
    assert Message.objects.count() == 80
    # Counters equal their rows, post by post.
    drift = Post.objects.annotate(
        likes_rows=Count("likes", distinct=True), view_rows=Count("views", distinct=True)
    ).filter(~Q(likes_count=F("likes_rows")) | ~Q(views_count=F("view_rows")))
    assert not drift.exists()
    # Nobody counts as a viewer of their own post; friendships are mutual (two rows each).
    assert not PostView.objects.filter(viewer=F("post__author")).exists()
    pairs = set(Friendship.objects.values_list("user_id", "friend_id"))
    assert pairs and all((friend, user) in pairs for user, friend in pairs)
    # Every post has 1–4 images from the pool; messages are written by members of their chat.
    per_post = Post.objects.annotate(n=Count("images")).values_list("n", flat=True)
    assert set(per_post) <= {1, 2, 3, 4}
    assert all(name.startswith(SEED_FILES_PREFIX) for name in PostImage.objects.values_list("file", flat=True))
    members = set(ChatMember.objects.values_list("chat_id", "user_id"))
    assert all(key in members for key in Message.objects.values_list("chat_id", "user_id"))
    for chat in Chat.objects.annotate(last=Max("messages__created_at"), rows=Count("messages")):
        assert chat.last_message_at == chat.last
        assert chat.messages_count == chat.rows
    # The popularity of the recommended feed, against a recount from the rows.
    recounted = Post.objects.annotate(
        likes_rows=Count("likes", distinct=True), view_rows=Count("views", distinct=True)
    ).only("created_at", "hot_score")
    for post in recounted:
        expected = hot_score(created_at=post.created_at, likes=post.likes_rows, views=post.view_rows)
        assert post.hot_score == pytest.approx(expected, rel=1e-12)
    assert Chat.objects.filter(messages_count__gt=0).exists()


@pytest.mark.django_db(transaction=True)
def test_seeded_users_sign_in_with_the_demo_password():
    seed_small(posts=0, likes=0, views=0, chats=0, messages=0, users=3)
    user = User.objects.first()
    assert authenticate(email=user.email, password=DEMO_PASSWORD) == user


@pytest.mark.django_db(transaction=True)
def test_seeded_image_urls_serve_images(api):
    seed_small()
    post = Post.objects.first()
    response = api.get(f"/api/posts/{post.pk}")
    assert response.status_code == 200
    urls = response.json()["images"] + [u["avatar"] for u in response.json()["likes"] if u["avatar"]]
    assert urls
    for url in urls:
        served = requests.get(url, timeout=10)
        assert served.status_code == 200
        assert served.content[:3] == b"\xff\xd8\xff"  # JPEG


@pytest.mark.django_db(transaction=True)
def test_a_second_run_adds_beside_the_first():
    seed_small()
    seed_small()

    assert User.objects.count() == 60
    assert User.objects.values("username").distinct().count() == 60
    assert Post.objects.count() == 120
    assert Like.objects.count() == 800
    assert Message.objects.count() == 160
    # The pool was uploaded once: both runs point at the same stored names.
    assert PostImage.objects.values("file").distinct().count() <= 8


@pytest.mark.parametrize(
    ("total", "weights", "cap", "expected_total"),
    [(100, [1.0] * 10, 100, 100), (100, [5.0, 1.0, 1.0], 40, 100), (0, [1.0, 2.0], 5, 0), (7, [0.1, 10.0], 3, 6)],
)
def test_spread_keeps_the_total_under_the_cap(total, weights, cap, expected_total):
    counts = spread(total, weights, cap)
    assert sum(counts) == expected_total
    assert max(counts) <= cap
