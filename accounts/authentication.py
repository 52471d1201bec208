"""JWT authentication for DRF: `Authorization: Bearer` (mobile) and the access cookie (web).

simplejwt has no cookie authentication; ours enforces CSRF the way DRF's
SessionAuthentication does, since a browser attaches the cookie to cross-site requests.
Both refuse tokens of an ended session (`accounts.services.session_end`) and inactive users.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.models import User
from accounts.services import token_is_revoked
from social.db import prepared_cursor
from social.exceptions import CSRF_MESSAGE

# Every column by name: the statement is prepared (social/postgresql/base.py), and a prepared
# `SELECT *` would fail once a migration adds a column.
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_USER_BY_ID = (
    f"SELECT {', '.join(field.column for field in User._meta.concrete_fields)} "
    f"FROM {User._meta.db_table} WHERE {User._meta.pk.column} = %s"
)


def _user_by_id(user_id) -> User | None:
    if connection.vendor != "postgresql":
        return next(iter(User.objects.raw(_USER_BY_ID, [user_id])), None)
    with prepared_cursor(connection) as cursor:
        cursor.execute(_USER_BY_ID, [user_id])
        row = cursor.fetchone()
    # psycopg hands back the Python types the fields hold (UUID, aware datetime, bool), so the
    # row needs none of the converters a RawQuerySet would apply for SQLite.
    return None if row is None else User.from_db(connection.alias, _USER_FIELDS, row)


class BearerAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"

    def raw_token(self, request) -> bytes | None:
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            raise exceptions.AuthenticationFailed()
        return raw

    def authenticate(self, request):
        raw = self.raw_token(request)
        if raw is None:
            return None
        return self.authenticate_raw(raw)

    def get_user(self, validated_token) -> User:
        """The token's user, refused when unknown or inactive, as simplejwt's get_user does,
        through a prepared raw query: on every authenticated request, building the ORM's query
        cost as much as running it (0.30 vs 0.19 ms in process; README "Performance and
        tuning")."""
        try:
            user_id = User._meta.pk.get_db_prep_value(validated_token[settings.SIMPLE_JWT["USER_ID_CLAIM"]], connection)
        except (KeyError, ValidationError):
            raise InvalidToken() from None
        user = _user_by_id(user_id)
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed()
        return user

    def authenticate_raw(self, raw):
        validated = self.get_validated_token(raw)
        if token_is_revoked(validated):
            raise exceptions.AuthenticationFailed()
        user = self.get_user(validated)  # refuses unknown and inactive users
        return user, validated


class CookieAuthentication(BearerAuthentication):
    def raw_token(self, request) -> bytes | None:
        value = request.COOKIES.get(settings.AUTH_COOKIE_ACCESS)
        return value.encode() if value else None

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            self.enforce_csrf(request)
        return result

    def enforce_csrf(self, request):
        def no_response(_request):
            return None  # pragma: no cover - never called, CsrfViewMiddleware needs one

        check = CsrfViewMiddleware(no_response)
        check.process_request(request)
        if check.process_view(request, None, (), {}) is not None:
            raise exceptions.PermissionDenied(CSRF_MESSAGE)


def user_from_access_token(raw: str):
    """(user, token) for a raw access token, or None: used by the WebSocket middleware."""
    try:
        return BearerAuthentication().authenticate_raw(raw.encode())
    except (exceptions.AuthenticationFailed, TokenError):
        return None
