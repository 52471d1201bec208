"""The cold page's read (posts.selectors.post_details): one statement whose JSON aggregates keep
each post's images in position order and its likers most recent first, every value as stored."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from posts import selectors
from posts.selectors import Liker
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


def test_post_details_read_every_value_as_stored_whatever_its_characters():
    # The images and likers travel as JSON text: quotes, backslashes, control characters and
    # non-ASCII text come back as they were, a missing size or blurhash as None.
    author = UserFactory(username='ав"тор\\')
    post = PostFactory(author=author, description='«цитата» "quoted" \\ \t')
    PostImageFactory(
        post=post, position=0, file='posts/кот "1".jpg', blurhash="L5H2EC=PM+yV0g-mq.wG9c010J}I", width=None
    )
    PostImageFactory(post=post, position=1, file="posts/2.jpg", width=640, height=480, thumb="posts/2-t.webp")
    liker = UserFactory(username="лайк\u2028\tер", email='odd"mail@example.com', avatar='avatars/a "b".png')
    LikeFactory(post=post, user=liker)

    (read,) = selectors.post_details(ids=[post.pk])

    (orm,) = selectors.posts_detailed(ids=[post.pk])
    assert read.image_media == orm.image_media
    assert read.image_media[0].width is None and read.image_media[0].thumb == ""
    assert read.image_media[1].width == 640 and read.image_media[1].thumb == "posts/2-t.webp"
    assert read.likers == [Liker(str(liker.pk), "лайк\u2028\tер", 'odd"mail@example.com', 'avatars/a "b".png')]
    assert (read.author_username, read.description) == (author.username, post.description)


@override_settings(POST_LIKES_EMBEDDED=0)
def test_post_details_embed_no_likers_when_none_are_wanted():
    post = PostFactory()
    LikeFactory(post=post)

    (read,) = selectors.post_details(ids=[post.pk])

    assert read.likers == [] and read.likes_count == 1
