import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.usernames import UsernameValidator, username_normalize, username_skeleton
from social.uploads import random_upload_path


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, username: str, password: str | None = None, **extra):
        user = self.model(email=self.normalize_email(email), username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, username: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, username, password, **extra)

    def get_by_natural_key(self, email):
        # Email is the login, looked up case-insensitively.
        return self.get(email__iexact=email)


def avatar_path(instance, filename):
    return random_upload_path("avatars", filename)


class ChatInvites(models.TextChoices):
    """Who may put a user in a chat (EXTENSIONS.md §8): anyone, or only their friends."""

    EVERYONE = "everyone", "все"
    FRIENDS = "friends", "только друзья"


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email", max_length=254, unique=True)
    username = models.CharField("имя пользователя", max_length=150, validators=[UsernameValidator()])
    # The username's confusable skeleton (accounts/usernames.py), unique: `аlice` (Cyrillic а)
    # cannot sit beside `alice`. Derived from `username` by `save`; NULL only for users whose
    # skeleton collided when the column was added.
    username_skeleton = models.CharField(max_length=600, null=True, editable=False)  # noqa: DJ001 - NULL: no skeleton, never unique-checked
    avatar = models.ImageField("аватар", upload_to=avatar_path, null=True, blank=True, max_length=255)
    is_active = models.BooleanField("активен", default=True)
    is_staff = models.BooleanField("персонал", default=False)
    date_joined = models.DateTimeField("дата регистрации", default=timezone.now)
    # Privacy settings (EXTENSIONS.md §8, `GET/PATCH /api/auth/settings`).
    share_presence = models.BooleanField("показывать друзьям, в сети ли", default=True)
    share_read_receipts = models.BooleanField("показывать отметки о прочтении", default=True)
    chat_invites = models.CharField(
        "кто может добавлять в чаты", max_length=16, choices=ChatInvites.choices, default=ChatInvites.EVERYONE
    )
    # When the user's last socket closed (friends.presence writes it with an UPDATE of this
    # column alone); NULL: never seen online.
    last_seen = models.DateTimeField("был в сети", null=True, blank=True, editable=False)
    # Set when the user deleted their account (accounts.services.account_delete): the row stays
    # until the background purge has removed the rest, and meanwhile what they wrote is hidden
    # from everyone (comments, messages). Not `is_active`: a deactivated user's words stay.
    deleted_at = models.DateTimeField("удалён", null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    class Meta:
        verbose_name = "пользователь"
        verbose_name_plural = "пользователи"
        constraints = [
            # Case-insensitive uniqueness at the database level; these unique indexes also
            # serve the case-insensitive email lookup of login.
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(
                fields=["username_skeleton"],
                name="user_username_skeleton_unique",
                violation_error_message="Пользователь с таким именем уже существует.",
            ),
        ]
        indexes = [
            # The few accounts awaiting their purge (accounts.selectors.deleted_user_ids).
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="user_deleted_idx"),
        ]

    def __str__(self):
        return self.username

    def clean(self):
        # Forms (the admin) validate the normalized name and its skeleton's uniqueness.
        super().clean()
        self.username = username_normalize(self.username)
        self.username_skeleton = username_skeleton(self.username)

    def validate_constraints(self, exclude=None):
        # The skeleton is in no form, yet a form that edits the username must check it.
        if exclude is not None and "username" not in exclude:
            exclude = set(exclude) - {"username_skeleton"}
        super().validate_constraints(exclude=exclude)

    def save(self, *args, **kwargs):
        # The skeleton is an index of the username, like Lower("username"): kept beside it by
        # the one place every writer goes through (services, admin, createsuperuser, factories).
        self.username = username_normalize(self.username)
        self.username_skeleton = username_skeleton(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_skeleton"}
        super().save(*args, **kwargs)


class EndedSession(models.Model):
    """A session ended before its tokens expired (logout: accounts.services.session_end). Its
    access tokens are refused on every request of every process; the row is kept until no
    token of the session could still be presented, then pruned."""

    session_id = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "завершённая сессия"
        verbose_name_plural = "завершённые сессии"


class UserSessionsEnd(models.Model):
    """When all of a user's sessions were last ended (deactivation: user_sessions_end).
    Tokens issued until then are refused, even once the user is active again. A table of its
    own rather than a User column: saving a User loaded before the end (an admin form) must
    not write the older value back."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="+")
    ended_at = models.DateTimeField()
    # The one session that goes on (a password change ends every *other* session): its tokens
    # are not refused by `ended_at`. Empty when every session ended.
    kept_session_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = "завершение всех сессий"
        verbose_name_plural = "завершения всех сессий"


class UserSession(models.Model):
    """A session a user can see and end (`GET /api/auth/sessions`): one login or token pair,
    named by the `sid` claim of its tokens. Written at login and at each refresh (never on
    other requests: no write on the hot path); deleted when the session ends. Whether a token
    is refused is decided by EndedSession and UserSessionsEnd, not by this row."""

    id = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="")  # "" when unknown

    class Meta:
        verbose_name = "сессия"
        verbose_name_plural = "сессии"
        indexes = [models.Index(fields=["user", "-last_used_at"], name="user_session_recent")]
