"""Fixtures of the moderation tests: things to report."""

import pytest

from chats.services import chat_create, message_send
from posts.models import Comment, Post
from posts.services import comment_create
from testsupport.images import image_upload


@pytest.fixture
def photo_post(client_for):
    """photo_post(author, images=2) -> a post with real stored images, made through the API."""

    def make(author, images: int = 2) -> Post:
        body = {
            "author": str(author.pk),
            "description": "пост с фото",
            "images": [image_upload(f"{n}.jpg") for n in range(images)],
        }
        response = client_for(author).post("/api/posts/create", body, format="multipart")
        assert response.status_code == 201, response.content
        return Post.objects.get(pk=response.json()["id"])

    return make


@pytest.fixture
def make_comment(db):
    def make(author, text="плохой комментарий") -> Comment:
        post = Post.objects.create(author=author, description="пост")
        return comment_create(post_id=post.pk, author=author, text=text)

    return make


@pytest.fixture
def make_message(db):
    """make_message(author, *others, text=…) -> a message of `author` in a new chat with `others`."""

    def make(author, *others, text="грубое сообщение"):
        chat, _ = chat_create(creator=author, user_ids=[user.pk for user in others], title="чат")
        return message_send(chat=chat, author=author, text=text)

    return make
