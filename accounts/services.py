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

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import signals
from accounts.models import EndedSession, User, UserSession, UserSessionsEnd
from accounts.selectors import SESSION_CLAIM, token_user
from accounts.usernames import username_normalize, username_skeleton
from social import events
from social.exceptions import NotFound, Unauthenticated
from social.ratelimit import Rate, hit
from social.tasks import stored_files_release

USERNAME_TAKEN = "Пользователь с таким именем уже существует."
SESSION_NOT_FOUND = "Сессия не найдена."
PASSWORD_WRONG = "Неверный пароль."
OLD_PASSWORD_WRONG = "Неверный текущий пароль."
RESET_LINK_INVALID = "Ссылка для сброса пароля недействительна или устарела."
# One reset mail per address in this window, whoever asks (EXTENSIONS.md §6).
PASSWORD_RESET_MAIL_RATE = Rate(count=1, period=300)
EMAIL_TAKEN = "Пользователь с таким email уже существует."

# What the apps above show of a user (a post's author, its likers, a chat message's author).
SHOWN_FIELDS = frozenset({"username", "email", "avatar"})


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _username_taken(username: str, *, by_other_than=None) -> bool:
    """Whether another user has this name, in any case, or one that looks the same (its
    confusable skeleton: `аlice` with a Cyrillic а is `alice`)."""
    others = User.objects.filter(Q(username__iexact=username) | Q(username_skeleton=username_skeleton(username)))
    if by_other_than is not None:
        others = others.exclude(pk=by_other_than.pk)
    return others.exists()


def user_register(*, username: str, email: str, password: str) -> User:
    """Create an active user. Raises ValidationError naming the field that is taken or weak.
    `username` is stored NFKC-normalized (accounts/usernames.py)."""
    username = username_normalize(username)
    if _username_taken(username):
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
        if _username_taken(username):
            raise ValidationError({"username": [USERNAME_TAKEN]}) from error
        raise ValidationError({"email": [EMAIL_TAKEN]}) from error


def user_profile_update(*, user: User, username: str | None = None, avatar=None) -> User:
    """Change the caller's username and/or avatar (an already validated, re-encoded file)."""
    fields = []
    old_avatar = user.avatar.name if user.avatar else None
    if username is not None:
        username = username_normalize(username)
    if username is not None and username != user.username:
        if _username_taken(username, by_other_than=user):
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
                signals.user_shown_fields_changed.send(sender=User, user_id=user.pk)
        except IntegrityError as error:
            raise ValidationError({"username": [USERNAME_TAKEN]}) from error
        if avatar is not None and old_avatar:
            user.avatar.storage.delete(old_avatar)
    return user


def user_settings_update(*, user: User, changes: dict) -> User:
    """Change the caller's privacy settings (`changes`: validated values of
    `share_presence`, `share_read_receipts`, `chat_invites`). Each is read where it matters
    (presence, read receipts, chat admission) from the row, never from an object a socket
    loaded at its handshake, so a change counts from the next event on."""
    fields = [name for name, value in changes.items() if getattr(user, name) != value]
    for name in fields:
        setattr(user, name, changes[name])
    if fields:
        user.save(update_fields=fields)
    return user


USER_AGENT_MAX = UserSession._meta.get_field("user_agent").max_length


def session_start(*, user: User, user_agent: str = "", ip: str = "") -> TokenPair:
    """Mint the first token pair of a new session for an authenticated, active user, and
    record the session (its client's user agent and IP) for the user's sessions list."""
    refresh = RefreshToken.for_user(user)
    refresh[SESSION_CLAIM] = uuid.uuid4().hex
    # The rows of sessions whose refresh token has expired are of no use any more.
    UserSession.objects.filter(user=user, last_used_at__lt=timezone.now() - settings.REFRESH_TOKEN_LIFETIME).delete()
    UserSession.objects.create(id=refresh[SESSION_CLAIM], user=user, user_agent=user_agent[:USER_AGENT_MAX], ip=ip)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def session_refresh(*, raw_refresh: str) -> TokenPair:
    """Rotate a refresh token: the old one is blacklisted, the session id carries over.

    Raises Unauthenticated for an invalid, expired, blacklisted or revoked token, or an
    inactive user.
    """
    try:
        refresh = RefreshToken(raw_refresh)
    except TokenError as error:
        raise Unauthenticated() from error
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
        if refresh.get(SESSION_CLAIM):
            UserSession.objects.filter(pk=refresh[SESSION_CLAIM]).update(last_used_at=timezone.now())
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


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
    UserSession.objects.filter(pk=session_id).delete()
    events.session_ended(session_id=session_id)


def user_sessions_end(*, user: User, keep_session_id: str = "") -> None:
    """End every session of a user on every process: tokens issued until now are refused even
    if the user is active again later, and their open sockets close with 4401. With
    `keep_session_id`, that one session goes on (a password change: the caller's own)."""
    # Whole seconds, as a token's `iat`: a token issued in this very second is refused too.
    ended_at = datetime.fromtimestamp(int(time.time()), tz=UTC)
    UserSessionsEnd.objects.update_or_create(
        user_id=user.pk, defaults={"ended_at": ended_at, "kept_session_id": keep_session_id}
    )
    UserSession.objects.filter(user_id=user.pk).exclude(pk=keep_session_id).delete()
    events.user_sessions_ended(user_id=user.pk, kept_session_id=keep_session_id)


def user_deactivate(*, user: User) -> None:
    """Deactivate a user and log them out everywhere at once (see user_sessions_end).
    Authentication also checks `is_active` on every request."""
    with transaction.atomic():
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
        user_sessions_end(user=user)


def user_password_set(*, user: User, password: str | None) -> None:
    """Give a user a new password (None: an unusable one, no password login) and end every
    session of theirs, sockets included: a new password is how a stolen session is taken back.
    Precondition: `password` passed the validators (the form or command that asked for it)."""
    with transaction.atomic():
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save(update_fields=["password"])
        user_sessions_end(user=user)


def _password_validate(*, user: User, password: str, field: str) -> None:
    """Django's validators (AUTH_PASSWORD_VALIDATORS) as a field error on `field`."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as error:
        raise ValidationError({field: error.messages}) from error


def user_session_end(*, user: User, session_id: str) -> None:
    """End one of the user's own sessions (its tokens refused, its sockets closed 4401).
    Raises NotFound when the user has no such active session (another user's included)."""
    if not UserSession.objects.filter(pk=session_id, user=user).exists():
        raise NotFound(SESSION_NOT_FOUND)
    session_end(session_id=session_id)


def user_password_change(*, user: User, old_password: str, new_password: str, session_id: str | None) -> None:
    """Change the caller's password, knowing the old one. Every *other* session ends (tokens
    refused, sockets 4401); the caller's session `session_id` goes on. Raises ValidationError
    on `old_password` (wrong) or `new_password` (refused by the validators)."""
    if not user.check_password(old_password):
        raise ValidationError({"old_password": [OLD_PASSWORD_WRONG]})
    _password_validate(user=user, password=new_password, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        user_sessions_end(user=user, keep_session_id=session_id or "")


def password_reset_request(*, email: str) -> None:
    """Mail a password reset link to the active user with this email, if any. The caller learns
    nothing either way (the answer is the same); at most one mail per address per
    PASSWORD_RESET_MAIL_PERIOD, whoever asks, so nobody can flood an inbox. The mail goes
    out from the background worker (accounts.tasks), which makes the token: it never sits in
    the queue, the request or a log line."""
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None or not user.has_usable_password():
        return  # no such user, or one whose password login staff turned off
    if hit(scope="password_reset_mail", ident=str(user.pk), rate=PASSWORD_RESET_MAIL_RATE):
        return  # a mail went to this address a moment ago
    from accounts.tasks import password_reset_mail_send  # the task module imports this one

    password_reset_mail_send.enqueue(user_id=str(user.pk))


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Set a new password from a reset link's `uid` and `token`, and end every session of the
    user. A token works once (it signs the password hash, which changes here) and until
    PASSWORD_RESET_TIMEOUT. Raises ValidationError on `uid` (malformed or unknown), `token`
    (used, expired, another user's) or `new_password` (the validators)."""
    try:
        user_id = uuid.UUID(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError({"uid": [RESET_LINK_INVALID]}) from None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise ValidationError({"uid": [RESET_LINK_INVALID]})
    if not default_token_generator.check_token(user, token):
        raise ValidationError({"token": [RESET_LINK_INVALID]})
    _password_validate(user=user, password=new_password, field="new_password")
    user_password_set(user=user, password=new_password)
    return user


def password_reset_link(*, user: User) -> str:
    """The link of a reset mail: RESET_URL with the user's `uid` and a fresh `token`."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return settings.RESET_URL.format(uid=uid, token=default_token_generator.make_token(user))


def user_edited(*, user: User, fields) -> None:
    """After a staff edit saved `fields` of `user` (the admin's change form), in its
    transaction: what shows the user is refreshed, and unticking "active" ends their sessions
    as the deactivate action does, so ticking it again brings no old token back."""
    if SHOWN_FIELDS & set(fields):
        signals.user_shown_fields_changed.send(sender=User, user_id=user.pk)
    if "is_active" in fields and not user.is_active:
        user_deactivate(user=user)


def user_delete(*, user: User) -> None:
    """Delete a user, whichever way they go (the admin's page or bulk action, the last step of
    a deleted account's purge): their sockets close with 4401 after commit, and the apps above
    take back, in the same transaction, what the cascade alone would leave wrong (counters,
    stored files; `signals.user_deleting`); their avatar's file goes once it has committed.
    Their tokens die with the row."""
    with transaction.atomic():
        # The one service that ends sessions, as for every other way out: its record goes
        # with the row, its sockets close after commit.
        user_sessions_end(user=user)
        signals.user_deleting.send(sender=User, user_id=user.pk)
        avatar = user.avatar.name if user.avatar else ""
        user.delete()
        stored_files_release([avatar])


def account_delete(*, user: User, password: str) -> None:
    """The user deletes their own account, confirming with their password (ValidationError on
    `password` otherwise, nothing deleted). At once, in this transaction: the account can no
    longer sign in, every session ends (sockets 4401), the email and username are free to
    register again, and `deleted_at` hides what they wrote from everyone. The rows and stored
    files go after commit, in the background, in bounded steps (accounts.tasks.account_purge)."""
    if not user.check_password(password):
        raise ValidationError({"password": [PASSWORD_WRONG]})
    with transaction.atomic():
        # A placeholder unique to the user frees the email and the username at once.
        user.email = f"deleted-{user.pk.hex}@deleted.invalid"
        user.username = f"deleted-{user.pk.hex}"
        user.is_active = False
        user.deleted_at = timezone.now()
        user.set_unusable_password()
        user.save(update_fields=["email", "username", "is_active", "deleted_at", "password"])
        # The placeholder name shows in the posts they liked until the purge removes the likes:
        # their encodings (posts/fragments.py) must learn it like any other rename.
        signals.user_shown_fields_changed.send(sender=User, user_id=user.pk)
        user_sessions_end(user=user)
        from accounts.tasks import account_purge  # the task module imports this one

        user_id = str(user.pk)
        transaction.on_commit(lambda: account_purge.enqueue(user_id=user_id))


def account_purge_step(*, user_id) -> bool:
    """One bounded step of removing a deleted account (accounts.tasks.account_purge); returns
    whether there is more to do.

    In one short transaction that holds the user's row: each app above removes at most
    ACCOUNT_PURGE_BATCH rows of one kind it owns for the user (the first kind it still has),
    with the counters that count them (`signals.user_purging`); once none is left, the user's
    row goes through user_delete.
    A step that fails rolls back whole, and a second run of the purge waits on the row, then
    finds those rows gone: running it again (or twice at once) only finishes the job, counting
    nothing twice. Nothing for a user not deleted by account_delete (or already gone).
    """
    with transaction.atomic():
        # FOR NO KEY UPDATE: serializes purge steps of this user, without blocking rows that
        # merely reference the user.
        user = User.objects.select_for_update(no_key=True).filter(pk=user_id, deleted_at__isnull=False).first()
        if user is None:
            return False
        limit = settings.ACCOUNT_PURGE_BATCH
        removed = sum(count for _, count in signals.user_purging.send(sender=User, user_id=user.pk, limit=limit))
        if removed:
            return True
        user_delete(user=user)
        return False


def user_reactivate(*, user: User) -> None:
    """Let a deactivated user sign in again (their old sessions stay ended only if revoked)."""
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
