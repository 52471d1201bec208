from django.utils.timezone import get_current_timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.privacy import embedded_email, embedded_emails_shown
from accounts.serializers import AuthorSerializer, UserSerializer, author_representation, user_representation
from posts.models import COMMENT_MAX_LENGTH
from posts.selectors import post_detail_of
from posts.services import MAX_DESCRIPTION
from social.exceptions import INVALID_USER_ID
from social.files import stored_name_url
from social.renderers import datetime_json


class PostCreateInput(serializers.Serializer):
    """The text fields of a new post. Its images are checked by `social.images.image_clean`
    (in the service), not by DRF's ImageField: one set of checks and messages for every upload."""

    # DRF's Russian catalogue lacks the UUID message: ours, in Russian, for every case.
    author = serializers.UUIDField(
        error_messages={
            "required": "Укажите автора поста.",
            "null": "Укажите автора поста.",
            "invalid": INVALID_USER_ID,
        }
    )
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION, required=False, allow_blank=True, default="", trim_whitespace=False
    )


class PostCreateForm(PostCreateInput):
    """The whole multipart form, for the API schema only."""

    images = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Repeated `images` (or `images[]`) file fields, 0–10."
    )


_SIZED = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri"},
        "width": {"type": "integer", "nullable": True},
        "height": {"type": "integer", "nullable": True},
    },
    "required": ["url", "width", "height"],
}
MEDIA_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            **_SIZED["properties"],
            "blurhash": {"type": "string", "nullable": True},
            "thumb": _SIZED,
            "medium": _SIZED,
        },
        "required": ["url", "width", "height", "blurhash", "thumb", "medium"],
    },
    "description": "The images of `images`, in order, with their sizes, a blurhash placeholder and WebP "
    "variants (`thumb`: long side ≤ 320 px, `medium`: ≤ 1280 px). An image stored before the variants "
    "existed, until `manage.py backfill_media` runs: `thumb` and `medium` are the original, sizes and "
    "blurhash null.",
}


def media_representation(image, request=None, *, url: str | None = None) -> dict:
    """One entry of a post's `media`, from a selectors.ImageMedia row; `url`: the image's own
    stored URL when the caller has it already (a post's `images` hold the same ones)."""
    if url is None:
        url = stored_name_url(image.file, request)
    width, height = image.width, image.height
    thumb, medium = image.thumb, image.medium
    return {
        "url": url,
        "width": width,
        "height": height,
        "blurhash": image.blurhash or None,
        # Without a variant (stored before they existed): the original in its place.
        "thumb": {"url": stored_name_url(thumb, request), "width": image.thumb_width, "height": image.thumb_height}
        if thumb
        else {"url": url, "width": width, "height": height},
        "medium": {"url": stored_name_url(medium, request), "width": image.medium_width, "height": image.medium_height}
        if medium
        else {"url": url, "width": width, "height": height},
    }


# The format of every `created_at` (DRF's DateTimeField under the project's settings), one
# instance for every post: a field formats without being bound to a serializer.
_DATETIME = serializers.DateTimeField()


class PostSerializer(serializers.Serializer):
    """The contract's post object. Expects a post from `posts.selectors.posts_for`."""

    id = serializers.UUIDField()
    author = AuthorSerializer()
    description = serializers.CharField()
    images = serializers.SerializerMethodField()
    media = serializers.SerializerMethodField()
    likes = serializers.SerializerMethodField()
    likes_count = serializers.IntegerField()
    liked_by_me = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    views = serializers.IntegerField(source="views_count")
    comments_count = serializers.IntegerField()

    @extend_schema_field({"type": "array", "items": {"type": "string", "format": "uri"}})
    def get_images(self, post) -> list[str]:
        request = self.context.get("request")
        return [stored_name_url(name, request) for name in post.image_names]

    @extend_schema_field(MEDIA_SCHEMA)
    def get_media(self, post) -> list[dict]:
        request = self.context.get("request")
        return [media_representation(image, request) for image in post.image_media]

    @extend_schema_field(UserSerializer(many=True))
    def get_likes(self, post) -> list[dict]:
        request = self.context.get("request")
        return [
            user_representation(
                user_id=liker.user_id,
                username=liker.username,
                email=embedded_email(liker.email),
                avatar_name=liker.avatar_name,
                request=request,
            )
            for liker in post.recent_likers
        ]

    def to_representation(self, post):
        # The declared fields, built directly: a feed page is the hottest read of the API and
        # DRF's per-field machinery cost more than the rest of the serialization
        # (README "Performance and tuning"). Same keys, same values. `self.fields` is not
        # touched: its first use deep-copies every declared field, once per post encoded.
        return post_detail_representation(
            post_detail_of(post), self.context.get("request"), liked_by_me=bool(post.liked_by_me)
        )


def liker_representation(liker, request=None, *, emails_shown: bool) -> dict:
    """One of a post's `likes` (the contract's `user` object) from a `posts.selectors.Liker`
    row; `emails_shown`: accounts.privacy.embedded_emails_shown()."""
    return user_representation(
        user_id=liker.user_id,
        username=liker.username,
        email=liker.email if emails_shown else "",
        avatar_name=liker.avatar_name,
        request=request,
    )


def post_head_representation(detail, request=None) -> dict:
    """The fields of the post object before its `likes` (post_detail_representation)."""
    images = detail.image_media
    urls = [stored_name_url(image.file, request) for image in images]
    return {
        "id": str(detail.id),
        "author": {
            "id": str(detail.author_id),
            "username": detail.author_username,
            "avatar": stored_name_url(detail.author_avatar, request),
        },
        "description": detail.description,
        "images": urls,
        "media": [media_representation(image, request, url=url) for image, url in zip(images, urls, strict=True)],
    }


def post_tail_representation(detail, zone=None) -> dict:
    """The fields of the post object after its `liked_by_me` (post_detail_representation)."""
    return {
        "created_at": datetime_json(detail.created_at, zone),
        "views": detail.views_count,
        "comments_count": detail.comments_count,
    }


def post_detail_representation(
    detail, request=None, *, liked_by_me: bool = False, zone=None, emails_shown: bool | None = None
) -> dict:
    """The contract's post object (PostSerializer's) from a `posts.selectors.PostDetail` row:
    the one place that builds it, for a single post and for the encodings of posts/fragments.py,
    which encode its head and tail apart and splice in the likers' kept encodings, the count and
    each viewer's `liked_by_me` between them (in this order). `zone` and `emails_shown`: read
    once for a page (social.renderers.datetime_json, accounts.privacy.embedded_email)."""
    if emails_shown is None:
        emails_shown = embedded_emails_shown()
    return {
        **post_head_representation(detail, request),
        "likes": [liker_representation(liker, request, emails_shown=emails_shown) for liker in detail.likers],
        "likes_count": detail.likes_count,
        "liked_by_me": liked_by_me,
        **post_tail_representation(detail, zone),
    }


class CommentInput(serializers.Serializer):
    """A new comment: 1–2000 characters, not only whitespace (kept as typed)."""

    text = serializers.CharField(max_length=COMMENT_MAX_LENGTH, trim_whitespace=False)

    def validate_text(self, text: str) -> str:
        if not text.strip():
            raise serializers.ValidationError(COMMENT_BLANK)
        return text


# Kept beside the input that raises it: the one text of a blank comment.
COMMENT_BLANK = "Комментарий не может быть пустым."


def comment_items(rows, request) -> list[dict]:
    """CommentOutput's objects (the same keys, order and values) from the bare rows of
    `posts.selectors.post_comments_page`, built directly: the comments page's hot path."""
    zone = get_current_timezone()
    return [
        {
            "id": str(comment_id),
            "post_id": str(post_id),
            "text": text,
            "created_at": datetime_json(created_at, zone),
            "user": {"id": str(author_id), "username": username, "avatar": stored_name_url(avatar, request)},
        }
        for comment_id, post_id, text, created_at, author_id, username, avatar in rows
    ]


class CommentOutput(serializers.Serializer):
    """A comment: `{id, post_id, text, created_at, user: {id, username, avatar}}`."""

    id = serializers.UUIDField()
    post_id = serializers.UUIDField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    user = AuthorSerializer(source="author")

    def to_representation(self, comment):
        # Built directly (a page is up to 100 of them); the same keys and values as the fields.
        return {
            "id": str(comment.pk),
            "post_id": str(comment.post_id),
            "text": comment.text,
            "created_at": _DATETIME.to_representation(comment.created_at),
            "user": author_representation(comment.author, self.context.get("request")),
        }
