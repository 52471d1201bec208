"""Notifications (EXTENSIONS.md §4) as a client sees them: real PostgreSQL, and their events
read from the real Redis fan-out channel (the user's group, as every process routes it to the
user's sockets)."""

import json
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import UserFactory
from notifications import selectors
from notifications.models import Notification, UnreadCount
from notifications.serializers import notification_representation
from notifications.services import notification_create
from posts.services import comment_create, like_toggle
from posts.tests.factories import PostFactory
from social import fanout
from social.events import user_group

pytestmark = pytest.mark.django_db

AUTH = 1  # BearerAuthentication loads the caller
KEYS = {"id", "type", "created_at", "read", "actor", "post_id", "comment_id", "chat_id", "text"}


def like(post, user):
    return like_toggle(post_id=post.pk, user=user)


# --- Written with their causes ------------------------------------------------------------------


def test_a_like_notifies_the_posts_author_with_the_actor_embedded(client_for):
    post = PostFactory()
    liker = UserFactory()

    client_for(liker).patch(f"/api/posts/{post.pk}/like/{liker.pk}")

    body = client_for(post.author).get("/api/notifications").json()
    assert len(body) == 1 and set(body[0]) == KEYS
    assert body[0]["type"] == "post.liked" and body[0]["read"] is False
    assert body[0]["actor"] == {"id": str(liker.pk), "username": liker.username, "avatar": None}
    assert body[0]["post_id"] == str(post.pk)
    assert body[0]["comment_id"] is None and body[0]["chat_id"] is None and body[0]["text"] is None


def test_a_comment_notifies_the_posts_author_with_its_first_200_characters(client_for):
    post = PostFactory()
    commenter = UserFactory()

    created = client_for(commenter).post(f"/api/posts/{post.pk}/comments", {"text": "ж" * 300}, format="json")

    (notification,) = client_for(post.author).get("/api/notifications").json()
    assert notification["type"] == "post.commented"
    assert notification["comment_id"] == created.json()["id"] and notification["text"] == "ж" * 200


def test_a_friend_add_notifies_the_added_user(client_for):
    adder, added = UserFactory(), UserFactory()

    assert client_for(adder).post(f"/api/users/{adder.pk}/friends/add/{added.pk}").status_code in (200, 201)

    (notification,) = client_for(added).get("/api/notifications").json()
    assert notification["type"] == "friend.added" and notification["actor"]["id"] == str(adder.pk)
    assert not Notification.objects.filter(recipient=adder).exists()


def test_being_put_in_a_new_chat_notifies_each_other_member(client_for, user):
    others = UserFactory.create_batch(2)

    response = client_for(user).post(
        "/api/chats/create", {"users": [str(other.pk) for other in others], "title": "план"}, format="json"
    )

    assert response.status_code in (200, 201), response.content
    chat_id = response.json()["id"]
    for other in others:
        (notification,) = client_for(other).get("/api/notifications").json()
        assert notification["type"] == "chat.added" and notification["chat_id"] == chat_id
        assert notification["actor"]["id"] == str(user.pk)
    assert not Notification.objects.filter(recipient=user).exists()


def test_your_own_actions_never_notify_you(user):
    post = PostFactory(author=user)

    like(post, user)
    comment_create(post_id=post.pk, author=user, text="сам себе")

    assert not Notification.objects.exists()


def test_an_unlike_removes_the_unread_like_notification():
    post = PostFactory()
    liker = UserFactory()

    like(post, liker)
    like(post, liker)

    assert not Notification.objects.exists()


def test_an_unlikes_withdrawal_reads_one_notification_however_many_are_unread():
    from notifications.services import _LIKE_NOTIFICATION_WITHDRAW_SQL

    post = PostFactory()
    liker = UserFactory()
    like(post, liker)
    others = UserFactory.create_batch(30)
    for other in others:
        like(post, other)  # the author's other unread notifications
    # A table of many recipients, as a live one is (a table of a page or two is read whole).
    Notification.objects.bulk_create(
        Notification(recipient=other, actor=liker, type=Notification.Type.FRIEND_ADDED, created_at=timezone.now())
        for other in others
        for _ in range(100)
    )
    # As the prepared statement runs once PostgreSQL settles on its generic plan (parameters
    # unknown to the planner), with the statistics a live table has.
    numbered = _LIKE_NOTIFICATION_WITHDRAW_SQL
    for number, name in enumerate(("recipient", "actor", "post"), start=1):
        numbered = numbered.replace(f"%({name})s", f"${number}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_notification")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE withdraw_plan (uuid, uuid, uuid) AS {numbered}")
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE withdraw_plan (%s, %s, %s)", [post.author_id, liker.pk, post.pk]
        )
        raw = cursor.fetchone()[0]
        cursor.execute("DEALLOCATE withdraw_plan")
    plan = json.loads(raw) if isinstance(raw, str) else raw
    scans = [
        node
        for node in _plan_nodes(plan[0]["Plan"])
        if "Scan" in node["Node Type"] and node.get("Relation Name") == "notifications_notification"
    ]
    assert scans, plan
    # The liker's notification only: not the author's 31 unread ones filtered one by one.
    assert [node["Actual Rows"] + node.get("Rows Removed by Filter", 0) for node in scans] == [1]
    assert not Notification.objects.filter(actor=liker, type=Notification.Type.POST_LIKED).exists()


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_liking_again_after_the_notification_was_read_makes_no_second_one():
    post = PostFactory()
    liker = UserFactory()
    like(post, liker)
    Notification.objects.update(read=True)

    like(post, liker)  # unlike: the read one stays
    like(post, liker)  # like again

    assert Notification.objects.filter(type="post.liked").count() == 1


def test_a_rolled_back_like_leaves_no_notification():
    from django.db import transaction

    post = PostFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        like(post, UserFactory())
        raise RuntimeError

    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_racing_likes_of_one_actor_make_one_notification():
    # Two sessions of one user like at once (a double tap on two devices): like_toggle lets
    # one like and the other unlike; whichever order, the unique constraint keeps one at most.
    # Here the notification is written twice directly, as two racing transactions would.
    from notifications.services import notification_create

    post = PostFactory()
    liker = UserFactory()
    barrier = threading.Barrier(4)
    errors = []

    def notify():
        try:
            barrier.wait()
            notification_create(recipient_id=post.author_id, actor_id=liker.pk, type="post.liked", post_id=post.pk)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=notify) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert Notification.objects.filter(type="post.liked").count() == 1


def test_deleting_a_comment_takes_its_notification_along(user):
    post = PostFactory(author=user)
    comment = comment_create(post_id=post.pk, author=UserFactory(), text="a")
    from posts.services import comment_delete

    comment_delete(comment=type(comment).objects.select_related("post").get(pk=comment.pk), actor=user)

    assert not Notification.objects.exists()


# --- The list, the count, mark read -------------------------------------------------------------


def test_the_list_is_newest_first_and_filters_unread(api, user):
    post = PostFactory(author=user)
    likers = UserFactory.create_batch(3)
    for liker in likers:
        like(post, liker)
    first = Notification.objects.order_by("id").first()
    first.read = True
    first.save(update_fields=["read"])

    everything = api.get("/api/notifications").json()
    unread = api.get("/api/notifications?unread=true").json()

    assert [n["actor"]["id"] for n in everything] == [str(liker.pk) for liker in reversed(likers)]
    assert [n["actor"]["id"] for n in unread] == [str(liker.pk) for liker in reversed(likers[1:])]


def test_the_list_pages_with_a_next_link(api, user):
    post = PostFactory(author=user)
    for liker in UserFactory.create_batch(3):
        like(post, liker)

    first = api.get("/api/notifications?limit=2")
    assert len(first.json()) == 2
    second = api.get(first.headers["Link"].split(";")[0].strip("<>"))
    assert len(second.json()) == 1 and "Link" not in second.headers


def test_each_listed_notification_is_the_events_object(api, user, other_user):
    """The list builds its objects from bare rows (issue #26), the `notification` event
    through NotificationOutput: the same keys, order and values, on every page of an unread
    walk; a deleted account's are left out."""
    post = PostFactory(author=user)
    comment_create(post_id=post.pk, author=other_user, text="очень " * 60)
    for liker in UserFactory.create_batch(3):
        like(post, liker)
    gone = UserFactory()
    like(post, gone)
    gone.deleted_at = timezone.now()
    gone.save(update_fields=["deleted_at"])
    first_like = Notification.objects.filter(type="post.liked").order_by("id").first()
    Notification.objects.filter(pk=first_like.pk).update(read=True)

    listed, url = [], "/api/notifications?unread=true&limit=2"
    while url:
        response = api.get(url)
        listed += response.json()
        url = response.headers["Link"].split(";")[0].strip("<>") if "Link" in response.headers else None
    expected = (
        Notification.objects.filter(recipient=user, read=False)
        .exclude(actor=gone)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
    assert [n["id"] for n in listed] == [n.pk for n in expected] and len(listed) == 3
    for item, notification in zip(listed, expected, strict=True):
        event = notification_representation(notification, request=response.wsgi_request)
        assert json.dumps(item, ensure_ascii=False) == json.dumps(event, ensure_ascii=False)


@pytest.mark.parametrize("query", ["unread=yes", "limit=0", "limit=101", "cursor=%%%"])
def test_bad_list_parameters_are_a_400(api, query):
    assert api.get(f"/api/notifications?{query}").status_code == 400


@pytest.mark.parametrize("size", [3, 40])
def test_the_list_costs_the_same_queries_at_any_size(api, user, django_assert_num_queries, size):
    post = PostFactory(author=user)
    for liker in UserFactory.create_batch(size):
        Notification.objects.create(recipient=user, actor=liker, type="post.liked", post=post)

    # One: a Bearer caller's user check runs in the page's statement (SessionCheckInView).
    with django_assert_num_queries(1):
        response = api.get("/api/notifications?limit=100")

    assert len(response.json()) == size


def test_unread_count_and_mark_read_by_ids_ignore_other_peoples_ids(api, user, other_user):
    post = PostFactory(author=user)
    foreign = Notification.objects.create(recipient=other_user, actor=user, type="friend.added")
    for liker in UserFactory.create_batch(3):
        like(post, liker)
    mine = list(Notification.objects.filter(recipient=user).values_list("id", flat=True))

    assert api.get("/api/notifications/unread_count").json() == {"unread_count": 3}
    answer = api.post("/api/notifications/read", {"ids": [mine[0], foreign.pk, 10**9]}, format="json")

    assert answer.status_code == 200 and answer.json() == {"unread_count": 2}
    assert Notification.objects.get(pk=foreign.pk).read is False
    assert api.post("/api/notifications/read", {"all": True}, format="json").json() == {"unread_count": 0}
    assert api.get("/api/notifications/unread_count").json() == {"unread_count": 0}


def test_unread_count_stops_at_its_cap(user, monkeypatch):
    monkeypatch.setattr(selectors, "UNREAD_CAP", 5)
    for actor in UserFactory.create_batch(7):
        notification_create(recipient_id=user.pk, actor_id=actor.pk, type="friend.added")

    assert selectors.unread_count(user_id=user.pk) == 5


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": "1"},
        {"ids": ["x"]},
        {"ids": [0]},
        {"ids": [2**63]},
        {"ids": list(range(1, 1002))},
        {"all": False},
        {"ids": [1], "all": True},
        {"all": "maybe"},
    ],
)
def test_bad_mark_read_bodies_are_a_400(api, body):
    assert api.post("/api/notifications/read", body, format="json").status_code == 400


def test_a_mark_read_body_that_is_not_an_object_is_a_400(api):
    assert api.post("/api/notifications/read", [1, 2], format="json").status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/notifications"), ("get", "/api/notifications/unread_count"), ("post", "/api/notifications/read")],
)
def test_notifications_need_a_signed_in_caller(anon_client, method, path):
    assert getattr(anon_client, method)(path).status_code == 401


# --- Prune --------------------------------------------------------------------------------------


def test_prune_deletes_only_read_notifications_older_than_the_kept_days(user, settings):
    settings.NOTIFICATIONS_KEEP_DAYS = 90
    old = timezone.now() - timedelta(days=91)
    actor = UserFactory()
    old_read = Notification.objects.create(recipient=user, actor=actor, type="friend.added", read=True, created_at=old)
    old_unread = Notification.objects.create(recipient=user, actor=actor, type="friend.added", created_at=old)
    new_read = Notification.objects.create(recipient=user, actor=actor, type="friend.added", read=True)

    call_command("notifications_prune")

    assert set(Notification.objects.values_list("id", flat=True)) == {old_unread.pk, new_read.pk}
    assert not Notification.objects.filter(pk=old_read.pk).exists()


# --- Events on the real Redis channel layer -----------------------------------------------------


class UserGroupListener:
    """The user's group as every process hears it: the fan-out's channel (`social.fanout`, where
    each process hears the events it hands to its own sockets in the group), filtered on the
    events of this user's group."""

    def __init__(self, user):
        self.group = user_group(user.pk)
        self.pubsub = redis.Redis.from_url(settings.REDIS_URL).pubsub()
        self.pubsub.subscribe(fanout.channel_name())
        # Confirmed by Redis: whatever is published from now on is heard.
        assert self.pubsub.get_message(timeout=5)["type"] == "subscribe"

    def _next(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.pubsub.get_message(timeout=left)
            if message and message["type"] == "message":
                event = json.loads(message["data"])
                if event.get("group") == self.group:
                    return event["event"]
        return None

    def receive(self) -> dict:
        event = self._next(15)
        assert event is not None, f"no event for {self.group} within 15 s"
        return event

    def nothing(self) -> bool:
        return self._next(0.5) is None


@pytest.mark.django_db(transaction=True)
def test_a_new_notification_reaches_the_recipients_group_after_commit(client_for):
    post = PostFactory()
    liker = UserFactory()
    listener = UserGroupListener(post.author)

    client_for(liker).patch(f"/api/posts/{post.pk}/like/{liker.pk}")

    frame = listener.receive()
    stored = Notification.objects.get()
    assert frame == {
        "type": "notification",
        "notification": {
            "id": stored.pk,
            "type": "post.liked",
            "created_at": frame["notification"]["created_at"],
            "read": False,
            "actor": {"id": str(liker.pk), "username": liker.username, "avatar": None},
            "post_id": str(post.pk),
            "comment_id": None,
            "chat_id": None,
            "text": None,
        },
        "unread_count": 1,
    }
    assert frame["notification"]["created_at"].startswith(str(stored.created_at.year))


@pytest.mark.django_db(transaction=True)
def test_a_like_toggle_sends_its_notification_once_and_an_unlike_none(client_for):
    post = PostFactory()
    liker = UserFactory()
    listener = UserGroupListener(post.author)
    path = f"/api/posts/{post.pk}/like/{liker.pk}"

    assert client_for(liker).patch(path).status_code == 200
    frame = listener.receive()
    stored = Notification.objects.get()
    assert client_for(liker).patch(path).status_code == 200  # unlike: withdrawn, nothing sent

    assert frame["notification"]["id"] == stored.pk and frame["unread_count"] == 1
    assert listener.nothing()
    assert not Notification.objects.exists()
    assert UnreadCount.objects.get(user_id=post.author_id).unread == 0


def test_a_like_notification_is_never_written_across_a_block(user, other_user):
    from notifications.services import like_notification_create
    from safety.models import Block

    post = PostFactory(author=other_user)
    Block.objects.create(blocker=other_user, blocked=user)

    assert like_notification_create(post_id=post.pk, recipient_id=other_user.pk, actor=user) is None
    assert not Notification.objects.exists()


def test_a_second_like_notification_of_one_actor_and_post_is_not_written(user, other_user):
    from notifications.services import like_notification_create

    post = PostFactory(author=other_user)
    first = like_notification_create(post_id=post.pk, recipient_id=other_user.pk, actor=user)

    assert like_notification_create(post_id=post.pk, recipient_id=other_user.pk, actor=user) is None
    assert list(Notification.objects.values_list("pk", flat=True)) == [first]


@pytest.mark.django_db(transaction=True)
def test_a_likes_event_counts_the_new_notification_up_to_the_cap(client_for, monkeypatch):
    monkeypatch.setattr(selectors, "UNREAD_CAP", 3)
    post = PostFactory()
    listener = UserGroupListener(post.author)
    frames = []
    for _ in range(4):
        liker = UserFactory(avatar="avatars/liker.png")  # shown in the event's object
        client_for(liker).patch(f"/api/posts/{post.pk}/like/{liker.pk}")
        frames.append(listener.receive())
    assert frames[-1]["notification"]["actor"]["avatar"]  # a URL, not null

    assert [frame["unread_count"] for frame in frames] == [1, 2, 3, 3]
    stored = Notification.objects.order_by("pk").last()
    assert frames[-1]["notification"] == notification_representation(
        Notification.objects.select_related("actor").get(pk=stored.pk)
    )


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_cause_sends_nothing():
    from django.db import transaction

    post = PostFactory()
    listener = UserGroupListener(post.author)

    with pytest.raises(RuntimeError), transaction.atomic():
        like(post, UserFactory())
        raise RuntimeError

    assert listener.nothing()


@pytest.mark.django_db(transaction=True)
def test_mark_read_tells_the_users_other_devices(client_for, user):
    post = PostFactory(author=user)
    like(post, UserFactory())
    listener = UserGroupListener(user)

    client_for(user).post("/api/notifications/read", {"all": True}, format="json")

    assert listener.receive() == {"type": "notifications.read", "unread_count": 0}
    # Nothing changed: nothing sent.
    client_for(user).post("/api/notifications/read", {"all": True}, format="json")
    assert listener.nothing()


@pytest.mark.django_db(transaction=True)
def test_each_member_put_in_a_chat_gets_the_event_with_their_own_unread_count(client_for, user):
    others = UserFactory.create_batch(2)
    notification_create(recipient_id=others[0].pk, actor_id=user.pk, type="friend.added")
    listeners = [UserGroupListener(other) for other in others]

    response = client_for(user).post("/api/chats/create", {"users": [str(o.pk) for o in others]}, format="json")

    frames = [listener.receive() for listener in listeners]
    assert [frame["unread_count"] for frame in frames] == [2, 1]
    for frame in frames:
        assert frame["type"] == "notification" and frame["notification"]["type"] == "chat.added"
        assert frame["notification"]["chat_id"] == response.json()["id"]
        assert frame["notification"]["actor"]["id"] == str(user.pk)
