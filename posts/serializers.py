from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.privacy import embedded_email
from accounts.serializers import AuthorSerializer, UserSerializer, user_representation
from posts.services import MAX_DESCRIPTION
from social.exceptions import INVALID_USER_ID
from social.files import stored_name_url


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


class PostSerializer(serializers.Serializer):
    """The contract's post object. Expects a post from `posts.selectors.posts_for`."""

    id = serializers.UUIDField()
    author = AuthorSerializer()
    description = serializers.CharField()
    images = serializers.SerializerMethodField()
    likes = serializers.SerializerMethodField()
    likes_count = serializers.IntegerField()
    liked_by_me = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    views = serializers.IntegerField(source="views_count")

    @extend_schema_field({"type": "array", "items": {"type": "string", "format": "uri"}})
    def get_images(self, post) -> list[str]:
        request = self.context.get("request")
        return [stored_name_url(name, request) for name in post.image_names]

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
        # (README "Performance and tuning"). Same keys, same values.
        return {
            "id": str(post.pk),
            "author": AuthorSerializer(post.author, context=self.context).data,
            "description": post.description,
            "images": self.get_images(post),
            "likes": self.get_likes(post),
            "likes_count": post.likes_count,
            "liked_by_me": bool(post.liked_by_me),
            "created_at": self.fields["created_at"].to_representation(post.created_at),
            "views": post.views_count,
        }
