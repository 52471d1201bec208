"""Comments and notifications in the admin: moderation with counters right, constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from notifications.models import Notification
from posts.models import Comment, Post
from posts.services import comment_create, like_toggle
from posts.tests.factories import PostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def populate(size: int, start: int = 0) -> None:
    for index in range(start, start + size):
        post = PostFactory()
        commenter = UserFactory(username=f"commenter{index}")
        comment_create(post_id=post.pk, author=commenter, text=f"комментарий {index}")
        like_toggle(post_id=post.pk, user=commenter)


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize(("url", "expected"), [("/admin/posts/comment/", 6), ("/admin/notifications/notification/", 4)])
def test_changelists_cost_a_pinned_number_of_queries_at_any_size(staff_client, url, expected):
    populate(3)
    assert queries_for(staff_client, url) == expected
    populate(12, start=3)
    assert queries_for(staff_client, url) == expected


def test_comments_are_found_by_text_or_author(staff_client):
    populate(3)

    by_text = staff_client.get("/admin/posts/comment/?q=комментарий 1").content.decode()
    by_author = staff_client.get("/admin/posts/comment/?q=commenter2").content.decode()

    assert "комментарий 1" in by_text and "комментарий 2" not in by_text
    assert "комментарий 2" in by_author and "комментарий 0" not in by_author


def test_deleting_comments_in_the_admin_keeps_the_counters_right(staff_client):
    post = PostFactory()
    comments = [comment_create(post_id=post.pk, author=UserFactory(), text=t) for t in ("a", "b", "c")]

    one = staff_client.post(f"/admin/posts/comment/{comments[0].pk}/delete/", {"post": "yes"})
    bulk = staff_client.post(
        "/admin/posts/comment/",
        {"action": "delete_selected", "_selected_action": [str(comments[1].pk)], "post": "yes"},
    )

    assert one.status_code == 302 and bulk.status_code == 302
    assert list(Comment.objects.values_list("text", flat=True)) == ["c"]
    assert Post.objects.get(pk=post.pk).comments_count == 1


def test_notifications_are_viewable_but_not_editable(staff_client):
    populate(1)
    notification = Notification.objects.first()

    page = staff_client.get(f"/admin/notifications/notification/{notification.pk}/change/")
    saved = staff_client.post(f"/admin/notifications/notification/{notification.pk}/change/", {"read": "on"})

    assert page.status_code == 200 and b'name="read"' not in page.content
    assert saved.status_code == 403
    assert staff_client.get("/admin/notifications/notification/add/").status_code == 403
    assert Notification.objects.get(pk=notification.pk).read is False
