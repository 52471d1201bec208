"""A deleted account's purge (accounts.tasks.account_purge, EXTENSIONS.md §6): the rows go in
bounded steps, each its own transaction, by the real task worker (`db_worker`) on the database
queue; a step that fails changes nothing, a second run finishes the job, and a run after the end
changes nothing. What the account wrote is hidden from the answer on, before any worker runs."""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from accounts import signals
from accounts.models import User
from accounts.services import account_purge_step
from accounts.tasks import account_purge
from accounts.tests.factories import PASSWORD, UserFactory
from chats import services as chats_services
from chats.models import Chat, ChatMember, Message
from friends.models import Friendship
from friends.services import friendship_add
from notifications.models import Notification
from posts.models import Comment, Like, Post, PostImage, PostView
from posts.services import comment_create, like_toggle, post_view_record
from posts.tests.factories import PostFactory
from testsupport.images import image_upload

pytestmark = pytest.mark.django_db(transaction=True)
DELETE = "/api/auth/account/delete"
BATCH = 3


@pytest.fixture
def queued(settings):
    """The production queue (django-tasks' database backend): nothing runs until the worker
    does; small purge steps, so a few dozen rows take many of them."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.ACCOUNT_PURGE_BATCH = BATCH
    settings.STORAGE_DELETE_RETRY_SECONDS = 0.1


def run_worker() -> None:
    """The real worker, in this process, until the queue has nothing ready."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", "--no-reload")


def counters_match_rows(post: Post) -> bool:
    post.refresh_from_db()
    return (post.likes_count, post.views_count, post.comments_count) == (
        Like.objects.filter(post=post).count(),
        PostView.objects.filter(post=post).count(),
        Comment.objects.filter(post=post).count(),
    )


class Heavy:
    """A user with more rows of every kind than several purge steps take, and the people
    around them: their posts (one with a stored image), likes, views and comments on others'
    posts (several comments on one), others' reactions on their posts, friendships, a direct
    chat, a group chat they own, a chat only they are left in, notifications both ways."""

    def __init__(self, client_for):
        self.user = UserFactory()
        self.bob, self.carol = UserFactory(), UserFactory()
        api = client_for(self.user)
        created = api.post(
            "/api/posts/create",
            {"author": str(self.user.pk), "description": "с фото", "images": [image_upload("a.jpg")]},
            format="multipart",
        )
        assert created.status_code == 201, created.content
        self.files = {
            name
            for row in PostImage.objects.filter(post__author=self.user).values_list("file", "thumb", "medium")
            for name in row
            if name
        }
        own = [Post.objects.get(author=self.user), *PostFactory.create_batch(4, author=self.user)]
        self.others_posts = PostFactory.create_batch(7, author=self.bob)
        for post in self.others_posts:
            like_toggle(post_id=post.pk, user=self.user)
            like_toggle(post_id=post.pk, user=self.carol)
        for post in self.others_posts[:5]:
            post_view_record(post_id=post.pk, viewer=self.user)
            post_view_record(post_id=post.pk, viewer=self.carol)
        for text in ["раз", "два", "три", "четыре"]:
            comment_create(post_id=self.others_posts[0].pk, author=self.user, text=text)
        comment_create(post_id=self.others_posts[1].pk, author=self.user, text="пять")
        comment_create(post_id=self.others_posts[1].pk, author=self.carol, text="чужой")
        for post in own:
            like_toggle(post_id=post.pk, user=self.bob)
            comment_create(post_id=post.pk, author=self.carol, text="под чужим постом")
        friendship_add(user=self.user, friend=self.bob)
        friendship_add(user=self.carol, friend=self.user)
        self.direct, _ = chats_services.chat_create(creator=self.user, user_ids=[self.bob.pk])
        self.group, _ = chats_services.chat_create(
            creator=self.user, user_ids=[self.bob.pk, self.carol.pk], title="группа"
        )
        self.alone, _ = chats_services.chat_create(creator=self.user, user_ids=[self.carol.pk], title="остался один")
        chats_services.chat_member_remove(chat=self.alone, user=self.carol)
        for number in range(4):
            chats_services.message_send(chat=self.direct, author=self.user, text=f"от него {number}")
            chats_services.message_send(chat=self.group, author=self.user, text=f"в группу {number}")
        self.bobs = [chats_services.message_send(chat=self.direct, author=self.bob, text="ответ боба")]
        self.bobs.append(chats_services.message_send(chat=self.group, author=self.bob, text="боб в группе"))
        chats_services.message_send(chat=self.alone, author=self.user, text="в пустоту")
        assert Notification.objects.filter(recipient=self.user).exists()
        assert Notification.objects.filter(actor=self.user).exists()
        self.api = api

    def rows_left(self) -> dict:
        user_id = self.user.pk
        return {
            "likes": Like.objects.filter(user_id=user_id).count(),
            "views": PostView.objects.filter(viewer_id=user_id).count(),
            "comments": Comment.objects.filter(author_id=user_id).count(),
            "posts": Post.objects.filter(author_id=user_id).count(),
            "messages": Message.objects.filter(user_id=user_id).count(),
            "memberships": ChatMember.objects.filter(user_id=user_id).count(),
            "owned chats": Chat.objects.filter(owner_id=user_id).count(),
            "friendships": Friendship.objects.filter(user_id=user_id).count()
            + Friendship.objects.filter(friend_id=user_id).count(),
            "notifications": Notification.objects.filter(recipient_id=user_id).count()
            + Notification.objects.filter(actor_id=user_id).count(),
            "user": User.objects.filter(pk=user_id).count(),
        }

    def assert_others_right(self) -> None:
        """Counters of others' posts and chats equal their rows, with only others' rows left."""
        for post in self.others_posts:
            assert counters_match_rows(post), post.pk
        for chat in (self.direct, self.group):
            chat.refresh_from_db()
            assert chat.messages_count == Message.objects.filter(chat=chat).count()


def test_the_worker_purges_a_big_account_in_steps_and_others_counters_stay_right(client_for, queued, bucket_keys):
    heavy = Heavy(client_for)
    assert heavy.files <= bucket_keys()
    first = heavy.others_posts[0]
    rows_before = sum(heavy.rows_left().values())
    assert rows_before > 10 * BATCH

    assert heavy.api.post(DELETE, {"password": PASSWORD}, format="json").status_code == 204
    assert heavy.rows_left()["posts"] == 5  # nothing happened before the worker ran
    run_worker()

    assert heavy.rows_left() == dict.fromkeys(heavy.rows_left(), 0)
    first.refresh_from_db()
    assert (first.likes_count, first.views_count, first.comments_count) == (1, 1, 0)
    second = heavy.others_posts[1]
    second.refresh_from_db()
    assert (second.likes_count, second.views_count, second.comments_count) == (1, 1, 1)
    heavy.assert_others_right()
    # The other member of the direct chat keeps it and their own messages.
    assert list(Message.objects.filter(chat=heavy.direct)) == heavy.bobs[:1]
    assert list(ChatMember.objects.filter(chat=heavy.direct).values_list("user_id", flat=True)) == [heavy.bob.pk]
    # The group passes to its longest-standing other member; the chat left empty is gone.
    heavy.group.refresh_from_db()
    assert heavy.group.owner_id == heavy.bob.pk
    assert list(Message.objects.filter(chat=heavy.group)) == heavy.bobs[1:]
    assert not Chat.objects.filter(pk=heavy.alone.pk).exists()
    assert Friendship.objects.filter(user=heavy.bob).count() == 0
    assert not heavy.files & bucket_keys()  # the stored files are really gone
    # Others keep what was theirs.
    assert Post.objects.filter(author=heavy.bob).count() == 7
    assert Comment.objects.filter(author=heavy.carol).count() == 1


def test_each_step_removes_at_most_a_batch_of_each_kind(client_for, queued):
    heavy = Heavy(client_for)
    assert heavy.api.post(DELETE, {"password": PASSWORD}, format="json").status_code == 204
    steps, before = 0, heavy.rows_left()
    while account_purge_step(user_id=heavy.user.pk):
        steps += 1
        after = heavy.rows_left()
        # Per app, one kind of row per step, at most a batch of it (notifications also go by
        # cascade with the comments and posts they are about, so they may go faster).
        assert all(before[kind] - after[kind] <= BATCH for kind in before if kind != "notifications"), (before, after)
        before = after
    # The most rows of one app: 21 likes/views/comments on others' posts, 5 likes and 5
    # comments of others on their posts, 5 posts, in steps of 3.
    assert steps >= 12
    assert heavy.rows_left()["user"] == 0


def test_a_step_that_fails_changes_nothing_and_a_second_run_finishes_the_job(client_for, queued):
    heavy = Heavy(client_for)
    assert heavy.api.post(DELETE, {"password": PASSWORD}, format="json").status_code == 204
    calls = []

    def crash_on_the_third_step(sender, **kwargs) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the worker dies in the middle of a step")
        return 0

    signals.user_purging.connect(crash_on_the_third_step, dispatch_uid="test-crash")
    try:
        with pytest.raises(RuntimeError):
            account_purge.call(user_id=str(heavy.user.pk))
    finally:
        signals.user_purging.disconnect(dispatch_uid="test-crash")
    left = heavy.rows_left()
    # Two steps of 3 likes and 3 messages each went; the third rolled back whole.
    assert (left["likes"], left["views"], left["messages"]) == (7 - 2 * BATCH, 5, 9 - 2 * BATCH)
    heavy.assert_others_right()

    account_purge.call(user_id=str(heavy.user.pk))

    assert heavy.rows_left() == dict.fromkeys(left, 0)
    heavy.assert_others_right()
    counters = [(post.likes_count, post.views_count, post.comments_count, post.rev) for post in heavy.others_posts]
    # A run after the end finds no user and changes nothing.
    account_purge.call(user_id=str(heavy.user.pk))
    for post, before in zip(heavy.others_posts, counters, strict=True):
        post.refresh_from_db()
        assert (post.likes_count, post.views_count, post.comments_count, post.rev) == before


def test_two_runs_at_once_count_nothing_twice(client_for, queued):
    heavy = Heavy(client_for)
    assert heavy.api.post(DELETE, {"password": PASSWORD}, format="json").status_code == 204
    errors = []

    def run() -> None:
        try:
            account_purge.call(user_id=str(heavy.user.pk))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=120)

    assert errors == []
    assert heavy.rows_left() == dict.fromkeys(heavy.rows_left(), 0)
    heavy.assert_others_right()
    first = heavy.others_posts[0]
    assert (first.likes_count, first.views_count, first.comments_count) == (1, 1, 0)


def test_the_purge_touches_no_account_that_was_not_deleted(client_for, queued):
    # The task names a user by id: for a user who did not delete their account it does nothing.
    heavy = Heavy(client_for)
    before = heavy.rows_left()
    account_purge.call(user_id=str(heavy.user.pk))
    assert heavy.rows_left() == before


def test_comments_messages_and_notifications_are_hidden_at_once_before_the_worker_runs(client_for, queued):
    heavy = Heavy(client_for)
    bob = client_for(heavy.bob)
    last_of_his = Message.objects.filter(chat=heavy.direct, user=heavy.user).latest("id")
    # Bob's reply quotes the deleted user's message; then the deleted user writes last.
    reply = bob.post(
        f"/api/chats/{heavy.direct.pk}/messages", {"message": "цитата", "reply_to": last_of_his.pk}, format="json"
    )
    assert reply.status_code == 201
    chats_services.message_send(chat=heavy.direct, author=heavy.user, text="последнее слово")
    notified_by = [item["actor"]["id"] for item in bob.get("/api/notifications", {"limit": 100}).json()]
    assert notified_by.count(str(heavy.user.pk)) == 15  # a friend, 7 likes, 5 comments, 2 chats
    before = bob.get(f"/api/posts/{heavy.others_posts[0].pk}/comments").json()
    assert [comment["text"] for comment in before] == ["раз", "два", "три", "четыре"]

    assert heavy.api.post(DELETE, {"password": PASSWORD}, format="json").status_code == 204

    assert Comment.objects.filter(author=heavy.user).count() == 5  # no worker has run
    assert bob.get(f"/api/posts/{heavy.others_posts[0].pk}/comments").json() == []
    comments = bob.get(f"/api/posts/{heavy.others_posts[1].pk}/comments").json()
    assert [comment["text"] for comment in comments] == ["чужой"]
    history = bob.get(f"/api/chats/{heavy.direct.pk}/messages/0").json()
    assert [message["message"] for message in history] == ["цитата", "ответ боба"]
    assert history[0]["reply_to"] == {"id": last_of_his.pk, "message": None, "user": None}
    after = bob.get(f"/api/chats/{heavy.direct.pk}/messages/0", {"after": 0}).json()
    assert [message["message"] for message in after] == ["ответ боба", "цитата"]
    chat_list = {chat["id"]: chat for chat in bob.get("/api/chats").json()}
    assert chat_list[str(heavy.direct.pk)]["last_message"]["message"] == "цитата"
    assert chat_list[str(heavy.group.pk)]["last_message"]["message"] == "боб в группе"
    detail = bob.get(f"/api/chats/{heavy.direct.pk}").json()
    assert detail["last_message"]["message"] == "цитата"
    after_deletion = [item["actor"]["id"] for item in bob.get("/api/notifications", {"limit": 100}).json()]
    assert after_deletion == [actor for actor in notified_by if actor != str(heavy.user.pk)]
    assert after_deletion  # Carol's likes and comment


def test_the_command_finishes_a_purge_the_worker_left_half_done(client_for, queued):
    heavy = Heavy(client_for)
    assert heavy.api.post(DELETE, {"password": PASSWORD}, format="json").status_code == 204
    for _ in range(4):  # the worker dies after four steps
        assert account_purge_step(user_id=heavy.user.pk)
    bystander = UserFactory()
    out = io.StringIO()

    call_command("purge_deleted_accounts", "--older-than", "0", stdout=out)

    assert out.getvalue().strip() == "purged 1 deleted accounts"
    assert heavy.rows_left() == dict.fromkeys(heavy.rows_left(), 0)
    heavy.assert_others_right()
    assert User.objects.filter(pk=bystander.pk).exists()
    # Recent deletions are left to the worker.
    other = Heavy(client_for)
    assert other.api.post(DELETE, {"password": PASSWORD}, format="json").status_code == 204
    call_command("purge_deleted_accounts", stdout=out)
    assert other.rows_left()["user"] == 1
