"""Across processes: a like served by a live daphne reaches the author's group as another
process (this one) hears it, through the real Redis fan-out channel, after commit."""

import pytest
import requests

from accounts.services import session_start
from accounts.tests.factories import UserFactory
from notifications.tests.test_notifications import UserGroupListener
from posts.tests.factories import PostFactory
from testsupport import live


@pytest.mark.django_db(transaction=True)
def test_a_like_served_by_a_live_daphne_reaches_the_authors_group_in_another_process():
    post = PostFactory()
    liker = UserFactory()
    token = session_start(user=liker).access

    with live.daphne() as address:
        listener = UserGroupListener(post.author)
        response = requests.patch(
            f"http://{address}/api/posts/{post.pk}/like/{liker.pk}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        frame = listener.receive()

    assert frame["type"] == "notification" and frame["unread_count"] == 1
    assert frame["notification"]["type"] == "post.liked"
    assert frame["notification"]["actor"]["id"] == str(liker.pk)
    assert frame["notification"]["post_id"] == str(post.pk)
