"""Every write of the accounts app: registration, profile changes, sessions and their end.

A *session* is one login (or one token pair from `auth/token`). Every token minted from it,
through all its refreshes, carries the same `sid` claim. Ending a session records its sid in
the database (EndedSession, read with the user on every request, so every server process
refuses its access tokens at once), blacklists its refresh token and closes its WebSockets.
"""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import EndedSession, User, UserSessionsEnd
from accounts.selectors import SESSION_CLAIM, token_user
from posts.services import post_representations_touch
from social import metrics
from social.exceptions import Unauthenticated

USERNAME_TAKEN = "Пользователь с таким именем уже существует."
EMAIL_TAKEN = "Пользователь с таким email уже существует."


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    session_id: str


def session_group(session_id: str) -> str:
    """Channel-layer group of every socket opened with a token of this session."""
    return f"session.{session_id}"


def user_group(user_id) -> str:
    """Channel-layer group of every socket of this user, whatever the session."""
    return f"user.{user_id}"


def _close_sockets(group: str) -> None:
    layer = get_channel_layer()
    if layer is not None:
        with metrics.channel_send():
            async_to_sync(layer.group_send)(group, {"type": "session.ended"})


def user_register(*, username: str, email: str, password: str) -> User:
    """Create an active user. Raises ValidationError naming the field that is taken or weak."""
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": [USERNAME_TAKEN]})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": [EMAIL_TAKEN]})
    candidate = User(username=username, email=email)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, username=username, password=password)
    except IntegrityError as error:
        # Two registrations raced past the checks above; the unique indexes decided.
        raise ValidationError({"email": [EMAIL_TAKEN]}) from error


def user_profile_update(*, user: User, username: str | None = None, avatar=None) -> User:
    """Change the caller's username and/or avatar (an already validated, re-encoded file)."""
    fields = []
    old_avatar = user.avatar.name if user.avatar else None
    if username is not None and username != user.username:
        if User.objects.filter(username__iexact=username).exclude(pk=user.pk).exists():
            raise ValidationError({"username": [USERNAME_TAKEN]})
        user.username = username
        fields.append("username")
    if avatar is not None:
        user.avatar.save(avatar.name, avatar, save=False)
        fields.append("avatar")
    if fields:
        try:
            with transaction.atomic():
                user.save(update_fields=fields)
                # Their posts and the posts they liked show the old name or avatar.
                post_representations_touch(user_id=user.pk)
        except IntegrityError as error:
            raise ValidationError({"username": [USERNAME_TAKEN]}) from error
        if avatar is not None and old_avatar:
            user.avatar.storage.delete(old_avatar)
    return user


def session_start(*, user: User) -> TokenPair:
    """Mint the first token pair of a new session for an authenticated, active user."""
    refresh = RefreshToken.for_user(user)
    session_id = uuid.uuid4().hex
    refresh[SESSION_CLAIM] = session_id
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh), session_id=session_id)


def session_refresh(*, raw_refresh: str) -> TokenPair:
    """Rotate a refresh token: the old one is blacklisted, the session id carries over.

    Raises Unauthenticated for an invalid, expired, blacklisted or revoked token, or an
    inactive user.
    """
    try:
        refresh = RefreshToken(raw_refresh)
    except TokenError as error:
        raise Unauthenticated() from error
    session_id = refresh.get(SESSION_CLAIM)
    if token_user(refresh) is None:
        raise Unauthenticated()
    with transaction.atomic():
        # Row lock: two concurrent refreshes of one token must not both succeed.
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=refresh["jti"]).first()
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise Unauthenticated()
        BlacklistedToken.objects.create(token=outstanding)
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh), session_id=session_id)


def session_end(*, session_id: str | None, raw_refresh: str | None = None) -> None:
    """End a session everywhere: access tokens refused, refresh blacklisted, sockets closed."""
    if raw_refresh:
        try:
            refresh = RefreshToken(raw_refresh)
            session_id = session_id or refresh.get(SESSION_CLAIM)
            refresh.blacklist()
        except TokenError:
            pass  # already blacklisted or expired: nothing left to refuse
    if not session_id:
        return
    now = timezone.now()
    # Kept for as long as any token of the session could still be presented; the rows of
    # sessions whose every token has expired are of no use any more.
    EndedSession.objects.filter(expires_at__lt=now).delete()
    ended = EndedSession(session_id=session_id, expires_at=now + settings.REFRESH_TOKEN_LIFETIME)
    EndedSession.objects.bulk_create([ended], ignore_conflicts=True)  # ended twice: the first stands
    transaction.on_commit(lambda: _close_sockets(session_group(session_id)))


def user_sessions_end(*, user: User) -> None:
    """End every session of a user on every process: tokens issued until now are refused even
    if the user is active again later, and their open sockets close with 4401."""
    # Whole seconds, as a token's `iat`: a token issued in this very second is refused too.
    ended_at = datetime.fromtimestamp(int(time.time()), tz=UTC)
    UserSessionsEnd.objects.update_or_create(user_id=user.pk, defaults={"ended_at": ended_at})
    transaction.on_commit(lambda: _close_sockets(user_group(user.pk)))


def user_deactivate(*, user: User) -> None:
    """Deactivate a user and log them out everywhere at once (see user_sessions_end).
    Authentication also checks `is_active` on every request."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    user_sessions_end(user=user)


def user_reactivate(*, user: User) -> None:
    """Let a deactivated user sign in again (their old sessions stay ended only if revoked)."""
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
