from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from social.files import absolute_file_url, stored_name_url
from social.images import CleanImageField


def user_representation(*, user_id, username: str, email: str, avatar_name: str | None, request=None) -> dict:
    """The contract's `user` object from bare values (also for rows read without a model
    instance, such as a feed page's embedded likers)."""
    return {
        "id": str(user_id),
        "username": username,
        "email": email,
        "avatar": stored_name_url(avatar_name, request),
    }


class AvatarUrlMixin:
    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_avatar(self, user) -> str | None:
        return absolute_file_url(user.avatar, self.context.get("request"))


class UserSerializer(AvatarUrlMixin, serializers.ModelSerializer):
    """The contract's `user` object."""

    avatar = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "avatar"]

    def to_representation(self, user):
        # The same output as the declared fields, built directly: a feed page embeds up to
        # 20 × POST_LIKES_EMBEDDED of these, where DRF's per-field machinery costs more than
        # the rest of the encoding.
        return user_representation(
            user_id=user.pk,
            username=user.username,
            email=user.email,
            avatar_name=user.avatar.name if user.avatar else None,
            request=self.context.get("request"),
        )


class AuthorSerializer(AvatarUrlMixin, serializers.ModelSerializer):
    """The contract's `author` object (no email)."""

    avatar = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "avatar"]

    def to_representation(self, user):
        # Built directly, as UserSerializer's (one per post of a feed page).
        return {"id": str(user.pk), "username": user.username, "avatar": self.get_avatar(user)}


class RegisterInput(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class CredentialsInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=2048, required=False, allow_blank=True)


class ProfileUpdateInput(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False, validators=[UnicodeUsernameValidator()])
    avatar = CleanImageField(required=False, max_length=255)


class RegisterOutput(serializers.Serializer):
    message = serializers.CharField()
    new_user = UserSerializer()


class LoginOutput(serializers.Serializer):
    detail = serializers.CharField()
    user = UserSerializer()


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class DetailOutput(serializers.Serializer):
    detail = serializers.CharField()


class CsrfOutput(serializers.Serializer):
    csrfToken = serializers.CharField()  # noqa: N815 - the contract's field name
