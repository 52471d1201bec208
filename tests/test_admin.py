"""The Django admin as a moderation tool: pages, search, actions, permissions, query counts."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.tests.factories import UserFactory
from chats.services import chat_create, message_send
from friends.services import friendship_add
from posts.tests.factories import LikeFactory, PostFactory, PostImageFactory

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/accounts/user/",
    "/admin/posts/post/",
    "/admin/friends/friendship/",
    "/admin/chats/chat/",
    "/admin/chats/chatmember/",
    "/admin/chats/message/",
]


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def populate(size: int) -> None:
    """`size` of everything a moderator looks at: users, posts with images and likes,
    friendships, chats with members and messages."""
    users = [UserFactory() for _ in range(size)]
    for index, author in enumerate(users):
        post = PostFactory(author=author)
        PostImageFactory(post=post)
        PostImageFactory(post=post)
        LikeFactory(post=post, user=users[index - 1])
        if index % 2:
            friendship_add(user=author, friend=users[index - 1])
        chat, _ = chat_create(creator=author, user_ids=[users[index - 1].pk], title=f"chat {index}")
        message_send(chat=chat, author=author, text=f"сообщение {index}")


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelists_cost_a_constant_number_of_queries(staff_client, url):
    populate(3)
    small = queries_for(staff_client, url)
    populate(12)
    assert queries_for(staff_client, url) == small


@pytest.mark.parametrize(
    "url, expected",
    [
        ("/admin/accounts/user/", 4),
        ("/admin/posts/post/", 7),
        ("/admin/friends/friendship/", 7),
        ("/admin/chats/chat/", 4),
    ],
)
def test_changelist_query_counts_are_pinned(staff_client, url, expected):
    populate(5)
    assert queries_for(staff_client, url) == expected


def test_user_changelist_shows_what_a_moderator_scans(staff_client):
    populate(2)
    author = User.objects.exclude(is_staff=True).first()
    response = staff_client.get(f"/admin/accounts/user/?q={author.username}")
    page = response.content.decode()
    assert author.email in page
    for column in ("посты", "друзья", "активен", "персонал", "дата регистрации"):
        assert column in page.lower() or column in page


def test_post_changelist_shows_thumbnails_and_counters(staff_client):
    populate(2)
    page = staff_client.get("/admin/posts/post/").content.decode()
    assert "<img src=" in page
    assert "превью" in page.lower()


def test_chat_changelist_shows_members_and_messages(staff_client):
    populate(2)
    page = staff_client.get("/admin/chats/chat/").content.decode()
    assert "участники" in page.lower()
    assert "chat 1" in page


def test_user_change_form_opens(staff_client, user):
    assert staff_client.get(f"/admin/accounts/user/{user.pk}/change/").status_code == 200


def test_deactivate_action_logs_the_user_out_everywhere_and_is_logged(staff_client, staff, client_for, user):
    api = client_for(user)
    response = staff_client.post(
        "/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": [str(user.pk)]}, follow=True
    )
    assert "Деактивировано пользователей: 1" in response.content.decode()
    user.refresh_from_db()
    assert user.is_active is False
    assert api.get("/api/auth/current_user").status_code == 401
    entry = LogEntry.objects.get(object_id=str(user.pk))
    assert entry.action_flag == CHANGE and entry.user_id == staff.pk


def test_reactivate_action_lets_the_user_sign_in_again(staff_client, anon_client, password):
    inactive = UserFactory(is_active=False)
    staff_client.post("/admin/accounts/user/", {"action": "reactivate_users", "_selected_action": [str(inactive.pk)]})
    inactive.refresh_from_db()
    assert inactive.is_active is True
    login = anon_client.post("/api/auth/login", {"email": inactive.email, "password": password}, format="json")
    assert login.status_code == 200
    assert LogEntry.objects.filter(object_id=str(inactive.pk)).exists()


def test_staff_without_change_permission_cannot_deactivate(client, user):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)
    assert client.get("/admin/accounts/user/").status_code == 200
    client.post("/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": [str(user.pk)]})
    user.refresh_from_db()
    assert user.is_active is True


def test_staff_without_view_permission_sees_no_posts(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/admin/posts/post/").status_code == 403


def test_non_staff_never_enter_the_admin(client, user):
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
