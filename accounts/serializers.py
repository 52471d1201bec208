from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ChatInvites, User
from accounts.privacy import email_for, embedded_email
from accounts.usernames import UsernameValidator, username_normalize
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
    """The contract's `user` object in an answer to one caller. The email follows
    accounts.privacy.email_for: the viewer is `context["viewer"]` (register and login, where the
    request has no user yet) or the request's user; `context["friends"]` says every user rendered
    is the viewer's friend (their friends list)."""

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
            email=self.email_of(user),
            avatar_name=user.avatar.name if user.avatar else None,
            request=self.context.get("request"),
        )

    def email_of(self, user) -> str:
        request = self.context.get("request")
        viewer = self.context.get("viewer") or getattr(request, "user", None)
        return email_for(user=user, viewer=viewer, friend=self.context.get("friends", False))


class EmbeddedUserSerializer(UserSerializer):
    """A `user` object embedded in a shared object (chat members, message authors): the same
    encoding for every viewer, so the email is `""` unless `USER_EMAIL_VISIBILITY=everyone`."""

    def email_of(self, user) -> str:
        return embedded_email(user.email)


def embedded_users(users, request=None) -> list[dict]:
    """EmbeddedUserSerializer(users, many=True).data, built directly: a chat list page embeds
    the members of each of its chats, where a list serializer per chat cost more than the rest
    of the chat's encoding."""
    return [
        user_representation(
            user_id=user.pk,
            username=user.username,
            email=embedded_email(user.email),
            avatar_name=user.avatar.name if user.avatar else None,
            request=request,
        )
        for user in users
    ]


class AuthorSerializer(AvatarUrlMixin, serializers.ModelSerializer):
    """The contract's `author` object (no email)."""

    avatar = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "avatar"]

    def to_representation(self, user):
        return author_representation(user, self.context.get("request"))


def author_representation(user, request=None) -> dict:
    """AuthorSerializer's object, built directly: one per post of a feed page, where a nested
    serializer instance (its fields deep-copied on first use) cost more than the rest of the
    post's encoding."""
    return {"id": str(user.pk), "username": user.username, "avatar": absolute_file_url(user.avatar, request)}


class UsernameField(serializers.CharField):
    """A username, NFKC-normalized before it is checked (accounts/usernames.py): fullwidth
    `ａｌｉｃｅ` is `alice`; invisible and format characters are refused."""

    def __init__(self, **kwargs):
        super().__init__(max_length=150, validators=[UsernameValidator()], **kwargs)

    def to_internal_value(self, data):
        # Validators (max_length too: NFKC can lengthen a name) run on the normalized name.
        return username_normalize(super().to_internal_value(data))


class RegisterInput(serializers.Serializer):
    username = UsernameField()
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class CredentialsInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class PasswordChangeInput(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class AccountDeleteInput(serializers.Serializer):
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class PasswordResetInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmInput(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=2048, required=False, allow_blank=True)


class ProfileUpdateInput(serializers.Serializer):
    username = UsernameField(required=False)
    avatar = CleanImageField(square=True, required=False, max_length=255)


class StrictBooleanField(serializers.BooleanField):
    """A JSON `true`/`false` only: DRF's field would also take "yes", "0" or 1, which a client
    sending a wrong type should hear about."""

    default_error_messages = {"invalid": "Ожидается true или false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class PrivacySettingsSerializer(serializers.ModelSerializer):
    """The caller's privacy settings (EXTENSIONS.md §8): the answer of GET and PATCH, and PATCH's
    input (partial: any of them)."""

    share_presence = StrictBooleanField()
    share_read_receipts = StrictBooleanField()
    chat_invites = serializers.ChoiceField(choices=ChatInvites.choices)

    class Meta:
        model = User
        fields = ["share_presence", "share_read_receipts", "chat_invites"]


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


class SessionOutput(serializers.Serializer):
    """One of the caller's sessions; `current` is the one the request was made with
    (`context["current_session_id"]`)."""

    id = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    user_agent = serializers.CharField()
    ip = serializers.CharField()
    current = serializers.SerializerMethodField()

    def get_current(self, session) -> bool:
        return session.pk == self.context.get("current_session_id")
