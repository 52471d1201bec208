"""The cold page's read (posts.selectors.post_details): one statement whose arrays keep each
post's images in position order and its likers most recent first."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from posts import selectors
from posts.tests.factories import LikeFactory, PostFactory, PostImageFactory

pytestmark = pytest.mark.django_db


@override_settings(POST_LIKES_EMBEDDED=4)
def test_post_details_keep_images_in_position_order_and_likers_most_recent_first():
    post, bare = PostFactory(), PostFactory()
    for position in (2, 0, 3, 1):  # stored out of order
        PostImageFactory(post=post, position=position, file=f"posts/order/{position}.jpg")
    now = timezone.now()
    minutes = (3, 0, 5, 1, 4, 2)  # liked out of order; the most recent four are embedded
    likers = {n: LikeFactory(post=post, created_at=now - timedelta(minutes=n)).user for n in minutes}

    details = {detail.id: detail for detail in selectors.post_details(ids=[post.pk, bare.pk])}

    read = details[post.pk]
    assert [image.file for image in read.image_media] == [f"posts/order/{n}.jpg" for n in range(4)]
    assert [liker.user_id for liker in read.likers] == [str(likers[n].pk) for n in range(4)]
    assert [liker.username for liker in read.likers] == [likers[n].username for n in range(4)]
    assert details[bare.pk].image_media == [] and details[bare.pk].likers == []
    # The same rows as the ORM's read of the embedded default, ids aside (text here).
    (orm,) = selectors.posts_detailed(ids=[post.pk])
    assert read.image_media == orm.image_media
    assert [liker._replace(user_id=str(liker.user_id)) for liker in orm.recent_likers] == read.likers


def test_parallel_arrays_are_put_in_the_order_of_their_key():
    columns = (["c", "a", "b"], [30, 10, 20], [3, 1, 2])

    assert selectors.in_key_order(columns) == [["a", "b", "c"], [10, 20, 30]]
    assert selectors.in_key_order((["a", "b"], [1, 2])) == [["a", "b"]]
    assert selectors.in_key_order((["a"], [7])) == [["a"]]
