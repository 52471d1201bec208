"""The unread counter (notifications.models.UnreadCount) against the rows it counts: after every
kind of write of notifications (created with their causes, marked read, withdrawn, deleted with
their post, comment, chat or actor, by the admin, pruned, with a deleted account's purge), each
user's counter equals their unread rows, and the count a client reads is the counter."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from accounts.services import account_delete, account_purge_step, user_delete
from accounts.tests.factories import PASSWORD, UserFactory
from chats.services import chat_create, chat_delete
from friends.services import friendship_add
from notifications import selectors
from notifications.models import Notification, UnreadCount
from notifications.services import _LIKE_NOTIFICATION_SQL, notification_create, notifications_mark_read
from posts.services import comment_create, comment_delete, like_toggle, post_delete
from posts.tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def unread_rows() -> dict:
    rows = Notification.objects.filter(read=False).values("recipient_id").annotate(n=Count("pk"))
    return {row["recipient_id"]: row["n"] for row in rows}


def assert_counters_right() -> None:
    kept = {user_id: unread for user_id, unread in UnreadCount.objects.values_list("user_id", "unread") if unread}
    assert kept == unread_rows()


def test_the_counters_equal_the_unread_rows_after_every_kind_of_write(client_for):
    author, liker, commenter, friend, gone = UserFactory.create_batch(5)
    posts = [PostFactory(author=author) for _ in range(2)]

    friendship_add(user=friend, friend=author)  # created: friend.added
    for user in (liker, commenter, gone):
        like_toggle(post_id=posts[0].pk, user=user)  # created: post.liked
    like_toggle(post_id=posts[1].pk, user=liker)
    comment = comment_create(post_id=posts[0].pk, author=commenter, text="текст")  # created: post.commented
    chat, _ = chat_create(creator=author, user_ids=[liker.pk, commenter.pk])  # created for many: chat.added
    assert unread_rows()[author.pk] == 6
    assert_counters_right()

    like_toggle(post_id=posts[1].pk, user=liker)  # withdrawn by an unlike
    assert_counters_right()

    first = Notification.objects.filter(recipient=author).order_by("id").first()
    notifications_mark_read(user_id=author.pk, ids=[first.pk])  # marked read by ids
    assert_counters_right()

    comment_delete(comment=comment, actor=commenter)  # with its comment
    assert_counters_right()

    post_delete(post=posts[0], actor=author)  # with their post (a read one among them)
    assert_counters_right()

    chat_delete(chat=chat)  # with their chat
    assert_counters_right()

    like_toggle(post_id=posts[1].pk, user=gone)
    like_toggle(post_id=posts[1].pk, user=commenter)
    user_delete(user=gone)  # with their actor
    assert_counters_right()

    Notification.objects.get(actor=commenter, recipient=author).delete()  # one row (the admin's page)
    assert_counters_right()

    for actor in UserFactory.create_batch(3):
        notification_create(recipient_id=liker.pk, actor_id=actor.pk, type=Notification.Type.FRIEND_ADDED)
    notifications_mark_read(user_id=liker.pk, everything=True)  # all marked read
    notification_create(recipient_id=liker.pk, actor_id=friend.pk, type=Notification.Type.FRIEND_ADDED)
    Notification.objects.filter(recipient=liker).update(created_at=timezone.now() - timedelta(days=365))
    call_command("notifications_prune")  # pruned (read ones only)
    assert unread_rows() == {liker.pk: 1}
    assert_counters_right()

    account_delete(user=author, password=PASSWORD)  # a deleted account's purge
    while account_purge_step(user_id=author.pk):
        assert_counters_right()
    assert_counters_right()
    assert client_for(liker).get("/api/notifications/unread_count").json() == {"unread_count": 1}


def test_the_admins_bulk_delete_moves_the_counters(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    author = UserFactory()
    post = PostFactory(author=author)
    for liker in UserFactory.create_batch(3):
        like_toggle(post_id=post.pk, user=liker)
    chosen = list(Notification.objects.values_list("pk", flat=True)[:2])

    # The confirmation page collects what would go, and deletes nothing.
    confirm = client.post(
        "/admin/notifications/notification/",
        {"action": "delete_selected", "_selected_action": [str(pk) for pk in chosen]},
    )
    assert confirm.status_code == 200 and Notification.objects.count() == 3
    assert_counters_right()
    deleted = client.post(
        "/admin/notifications/notification/",
        {"action": "delete_selected", "_selected_action": [str(pk) for pk in chosen], "post": "yes"},
    )

    assert deleted.status_code == 302 and Notification.objects.count() == 1
    assert_counters_right()
    assert selectors.unread_count(user_id=author.pk) == 1


def test_a_counter_never_goes_below_zero(user):
    # A row the counter never saw (written around the services): taking it away stops at 0.
    Notification.objects.create(recipient=user, actor=UserFactory(), type=Notification.Type.FRIEND_ADDED)

    Notification.objects.filter(recipient=user).delete()

    assert UnreadCount.objects.filter(user=user, unread__lt=0).count() == 0
    assert selectors.unread_count(user_id=user.pk) == 0


def test_the_migration_backfills_the_counters_of_existing_rows(user, other_user):
    from importlib import import_module

    migration = import_module("notifications.migrations.0002_unread_count").Migration
    for actor in UserFactory.create_batch(3):
        Notification.objects.create(recipient=user, actor=actor, type=Notification.Type.FRIEND_ADDED)
    Notification.objects.create(recipient=other_user, actor=user, type=Notification.Type.FRIEND_ADDED, read=True)
    UnreadCount.objects.all().delete()

    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)

    assert_counters_right()
    assert selectors.unread_count(user_id=user.pk) == 3


def test_a_likes_notification_counts_no_notification_rows(user):
    """Its unread count is the counter's row: on a churned table, counting the author's unread
    index entries was the like's costliest node (issue #26)."""
    post = PostFactory()
    for actor in UserFactory.create_batch(20):
        notification_create(recipient_id=post.author_id, actor_id=actor.pk, type=Notification.Type.FRIEND_ADDED)
    sql = _LIKE_NOTIFICATION_SQL
    params = {"user": post.author_id, "other": user.pk, "type": "post.liked", "post": post.pk, "now": timezone.now()}
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        raw = cursor.fetchone()[0]
    plan = json.loads(raw) if isinstance(raw, str) else raw

    def nodes(node):
        yield node
        for child in node.get("Plans", ()):
            yield from nodes(child)

    read = [node for node in nodes(plan[0]["Plan"]) if node.get("Relation Name") == "notifications_notification"]
    # The insert only (ModifyTable), no scan of the recipient's rows.
    assert [node["Node Type"] for node in read] == ["ModifyTable"]
    assert selectors.unread_count(user_id=post.author_id) == 21
