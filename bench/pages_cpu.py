"""CPU per request of the messenger's chat list, the notification list and a post's comments
page (issue #26), in process: Django's test client over the whole stack (authentication, DRF
dispatch, queries, encoding), `time.process_time` over N requests each, on data shaped as
`bench/run.py` seeds it (200 chats of two members with messages, 1,000 notifications, 1,000
comments). Not collected by the suite (no `test_` file name); run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/pages_cpu.py -q -s
"""

import gc
import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from bench.common import cpu_profile_print
from chats.models import Chat, ChatMember, Message
from notifications.models import Notification
from posts.models import Comment, Post
from posts.state import post_state_move
from posts.tests.factories import PostFactory

REQUESTS = 100


@pytest.fixture
def seeded(db, user):
    others = UserFactory.create_batch(20)
    now = timezone.now()
    chats = Chat.objects.bulk_create(
        Chat(title=f"Чат {i}", last_message_at=now - timedelta(minutes=i), messages_count=5) for i in range(200)
    )
    ChatMember.objects.bulk_create(
        member
        for i, chat in enumerate(chats)
        for member in (ChatMember(chat=chat, user=user), ChatMember(chat=chat, user=others[i % 20]))
    )
    Message.objects.bulk_create(
        Message(chat=chat, user=(user if k % 2 else others[i % 20]), text=f"Сообщение {k}")
        for i, chat in enumerate(chats)
        for k in range(5)
    )
    PostFactory.create_batch(20, author=others[1])  # the feed's first page, for comparison
    post = Post.objects.create(author=others[0], description="пост")
    Comment.objects.bulk_create(Comment(post=post, author=others[i % 20], text=f"Комментарий {i}") for i in range(1000))
    post_state_move(posts=Post.objects.filter(pk=post.pk), comments=1000)
    Notification.objects.bulk_create(
        Notification(
            recipient=user,
            actor=others[i % 20],
            type=Notification.Type.POST_COMMENTED,
            post=post,
            text=f"Комментарий {i}",
            read=i % 3 == 0,
        )
        for i in range(1000)
    )
    return post


def cpu_ms(client, path) -> float:
    for _ in range(20):  # warm: prepared statements, caches
        response = client.get(path)
        assert response.status_code == 200 and len(response.json()) == 20, response.content[:200]
    # The least of five batches: a batch may catch a garbage collection of the seeding's objects.
    gc.collect()
    batches = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(REQUESTS):
            client.get(path)
        batches.append((time.process_time() - start) * 1000 / REQUESTS)
    return min(batches)


def page_paths(post) -> dict:
    """The pages measured, by name: `post` is the seeded post with 1,000 comments."""
    return {
        "feed": "/api/posts/all?limit=20",
        "chat_list": "/api/chats?limit=20",
        "notifications": "/api/notifications?limit=20",
        "comments": f"/api/posts/{post.pk}/comments?limit=20",
    }


def test_pages_cpu(api, seeded):
    """ms CPU per request of each page; with PAGES_PROFILE=<name>, also a cProfile of 100
    requests of that page (top 45 functions by cumulative time)."""
    paths = page_paths(seeded)
    for name, path in paths.items():
        print(f"{name:14s} {cpu_ms(api, path):6.2f} ms CPU/request")
    name = os.environ.get("PAGES_PROFILE")
    if name:
        cpu_profile_print(lambda: api.get(paths[name]), 100, sort=os.environ.get("PAGES_SORT", "cumulative"))
