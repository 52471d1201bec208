"""Every path a block must close, listed once and proved both ways (EXTENSIONS.md §5).

Each probe answers whether the path still lets `viewer` reach `other` (see their post, their
name, act on them) and asserts the exact answer a closed path gives. Each probe is run before
the block (open: so it can fail) and after it (closed), with either user as the blocker. The
sockets' probes are in test_sockets.py.
"""

import pytest

from friends.models import Friendship
from friends.services import friendship_end
from notifications.models import Notification
from notifications.services import notification_create
from safety.services import block_remove
from safety.tests.conftest import DIRECTIONS

pytestmark = pytest.mark.django_db


def _closed(response, status: int) -> bool:
    """False when the path answered `status` (closed); True after a success."""
    if response.status_code == status:
        return False
    assert response.status_code in (200, 201), (response.status_code, response.content)
    return True


def _listed(response, item_id) -> bool:
    assert response.status_code == 200, response.content
    return str(item_id) in [row["id"] for row in response.json()]


def feed(p):
    return _listed(p.viewer_api.get("/api/posts/all"), p.post.pk)


def recommended(p):
    return _listed(p.viewer_api.get("/api/posts/recommended"), p.post.pk)


def user_posts(p):
    return _listed(p.viewer_api.get(f"/api/users/{p.other.pk}/posts"), p.post.pk)


def profile(p):
    return _closed(p.viewer_api.get(f"/api/users/{p.other.pk}"), 404)


def post_detail(p):
    return _closed(p.viewer_api.get(f"/api/posts/{p.post.pk}"), 404)


def search(p):
    return _listed(p.viewer_api.get("/api/users", {"search": "other_"}), p.other.pk)


def friend_add_by_viewer(p):
    friendship_end(user_id=p.viewer.pk, friend_id=p.other.pk)  # the pair starts as friends
    return _closed(p.viewer_api.post(f"/api/users/{p.viewer.pk}/friends/add/{p.other.pk}"), 403)


def friend_add_by_other(p):
    friendship_end(user_id=p.viewer.pk, friend_id=p.other.pk)
    return _closed(p.other_api.post(f"/api/users/{p.other.pk}/friends/add/{p.viewer.pk}"), 403)


def like(p):
    return _closed(p.viewer_api.patch(f"/api/posts/{p.post.pk}/like/{p.viewer.pk}"), 404)


def likers(p):
    return _closed(p.viewer_api.get(f"/api/posts/{p.post.pk}/likes"), 404)


def comment_create(p):
    return _closed(p.viewer_api.post(f"/api/posts/{p.post.pk}/comments", {"text": "привет"}, format="json"), 404)


def comment_list(p):
    return _closed(p.viewer_api.get(f"/api/posts/{p.post.pk}/comments"), 404)


def group_chat_create(p):
    body = {"users": [str(p.other.pk), str(p.third.pk)], "title": "новый чат"}
    return _closed(p.viewer_api.post("/api/chats/create", body, format="json"), 403)


def direct_chat_create(p):
    # The pair's direct chat exists: before the block it is answered (200), after it refused.
    return _closed(p.viewer_api.post("/api/chats/create", {"users": [str(p.other.pk)]}, format="json"), 403)


def direct_chat_send(p):
    url = f"/api/chats/{p.direct_chat.pk}/messages"
    return _closed(p.viewer_api.post(url, {"message": "ты тут?"}, format="json"), 403)


def notifications(p):
    # Every cause of a notification between them is closed above; the notifications app
    # refuses one on its own as well (a cause that raced the block).
    made = notification_create(recipient_id=p.viewer.pk, actor_id=p.other.pk, type=Notification.Type.FRIEND_ADDED)
    return made is not None


PATHS = [
    feed,
    recommended,
    user_posts,
    profile,
    post_detail,
    search,
    friend_add_by_viewer,
    friend_add_by_other,
    like,
    likers,
    comment_create,
    comment_list,
    group_chat_create,
    direct_chat_create,
    direct_chat_send,
    notifications,
]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("path", PATHS, ids=[path.__name__ for path in PATHS])
def test_a_block_closes_the_path_both_ways(pair, path, direction):
    assert path(pair) is True, "open before the block"
    pair.block(direction)
    assert path(pair) is False, "closed by the block"


@pytest.mark.parametrize("path", [p for p in PATHS if p not in (friend_add_by_viewer, friend_add_by_other)])
def test_unblocking_reopens_the_path(pair, path):
    pair.block("viewer blocks")
    assert path(pair) is False
    block_remove(blocker=pair.viewer, blocked=pair.other)
    assert path(pair) is True


def test_a_block_ends_the_friendship_and_unblocking_does_not_restore_it(pair):
    assert Friendship.objects.filter(user=pair.viewer, friend=pair.other).exists()
    pair.block("other blocks")
    assert not Friendship.objects.filter(user__in=[pair.viewer, pair.other]).exists()
    block_remove(blocker=pair.other, blocked=pair.viewer)
    response = pair.viewer_api.get(f"/api/users/{pair.viewer.pk}/friends/{pair.other.pk}")
    assert response.json() == {"user_is_friend": False}
    assert pair.viewer_api.get(f"/api/users/{pair.other.pk}").json()["is_friend"] is False
    # Visibility is back: they may befriend each other again.
    assert friend_add_by_viewer(pair) is True


def test_each_direction_is_lifted_only_by_its_own_blocker(pair):
    pair.block("viewer blocks")
    pair.block("other blocks")
    block_remove(blocker=pair.viewer, blocked=pair.other)
    assert feed(pair) is False, "the other's block still stands"
    block_remove(blocker=pair.other, blocked=pair.viewer)
    assert feed(pair) is True


def test_a_group_chat_they_already_share_is_unaffected(pair):
    pair.block("viewer blocks")
    for api in (pair.viewer_api, pair.other_api):
        response = api.post(f"/api/chats/{pair.group_chat.pk}/messages", {"message": "всё ещё тут"}, format="json")
        assert response.status_code == 201, response.content


def test_the_blocked_answers_are_the_documented_ones(pair):
    pair.block("other blocks")
    refused = pair.viewer_api.post(f"/api/chats/{pair.direct_chat.pk}/messages", {"message": "эй"}, format="json")
    assert refused.json() == {"detail": "Действие невозможно: один из пользователей заблокировал другого."}
    assert pair.viewer_api.get(f"/api/posts/{pair.post.pk}").json() == {"detail": "Пост не найден."}
    assert pair.viewer_api.get(f"/api/users/{pair.other.pk}").json() == {"detail": "Пользователь не найден."}


def test_a_blocked_post_detail_records_no_view(pair):
    pair.block("viewer blocks")
    pair.viewer_api.get(f"/api/posts/{pair.post.pk}")
    pair.post.refresh_from_db()
    assert pair.post.views_count == 0


def test_others_still_see_both(pair, client_for):
    from accounts.tests.factories import UserFactory

    pair.block("viewer blocks")
    outsider = client_for(UserFactory())
    assert _listed(outsider.get("/api/posts/all"), pair.post.pk)
    assert outsider.get(f"/api/users/{pair.viewer.pk}").status_code == 200
    assert outsider.get(f"/api/users/{pair.other.pk}").status_code == 200


# --- a deactivated or deleted account (issue #23): the same read rule ----------------------------
READ_PATHS = [feed, recommended, user_posts, post_detail, like, comment_list]


@pytest.mark.parametrize("path", READ_PATHS, ids=[path.__name__ for path in READ_PATHS])
def test_a_deactivated_authors_posts_vanish_at_once(pair, path):
    from accounts.services import user_deactivate

    assert path(pair) is True
    user_deactivate(user=pair.other)
    assert path(pair) is False


def test_a_deleted_accounts_posts_vanish_before_the_purge(pair):
    from accounts.services import account_delete
    from accounts.tests.factories import PASSWORD
    from posts.models import Post

    account_delete(user=pair.other, password=PASSWORD)
    # The purge runs after commit, on the worker: the test's transaction never commits, so the
    # post is still stored, as it is in production until the worker gets to it.
    assert Post.objects.filter(pk=pair.post.pk).exists()
    assert feed(pair) is False
    assert user_posts(pair) is False
    assert post_detail(pair) is False
