from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from social.files import absolute_file_url


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


class AuthorSerializer(AvatarUrlMixin, serializers.ModelSerializer):
    """The contract's `author` object (no email)."""

    avatar = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "avatar"]


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
    avatar = serializers.FileField(required=False, max_length=255)


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
