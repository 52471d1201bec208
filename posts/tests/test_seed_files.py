"""Seed files (the demo image pool under `seed/`, shared by many demo posts) outlive any post."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from posts.models import Post, PostImage
from posts.services import post_delete
from posts.tests.factories import PostFactory


@pytest.mark.django_db(transaction=True)
def test_deleting_a_post_keeps_seed_files_and_deletes_its_own():
    seed_name = default_storage.save("seed/test-pool-image.jpg", ContentFile(b"seed image bytes"))
    own_name = default_storage.save("posts/test/own-image.jpg", ContentFile(b"own image bytes"))
    try:
        post = PostFactory()
        other = PostFactory()
        PostImage.objects.create(post=post, file=seed_name, position=0)
        PostImage.objects.create(post=post, file=own_name, position=1)
        PostImage.objects.create(post=other, file=seed_name, position=0)

        post_delete(post=post, actor=post.author)

        assert not Post.objects.filter(pk=post.pk).exists()
        assert not default_storage.exists(own_name)
        assert default_storage.exists(seed_name)
        assert PostImage.objects.get(post=other).file.name == seed_name
    finally:
        default_storage.delete(seed_name)
        default_storage.delete(own_name)
