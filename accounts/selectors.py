from collections import namedtuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from accounts.models import EndedSession, User, UserSession, UserSessionsEnd
from social.db import prepared_cursor
from social.exceptions import NotFound, Unauthenticated

# The claim naming a token's session: every token of one login, through its refreshes, has it.
SESSION_CLAIM = "sid"
USER_NOT_FOUND = "Пользователь с таким именем не найден!"
WRONG_CREDENTIALS = "Проверьте введеные данные!"


def deleted_user_ids() -> QuerySet:
    """The ids of the accounts deleted by their owners whose purge has not finished: what they
    wrote is hidden (`.exclude(author_id__in=deleted_user_ids())`). Used as `NOT IN`, PostgreSQL
    reads it once per statement (a hashed subplan, through a partial index of a few rows), so
    the index walk of a list or of a chat's last message stays as it was."""
    return User.objects.filter(deleted_at__isnull=False).values("pk")


def user_by_credentials(*, email: str, password: str) -> User:
    """The user these credentials belong to. Unknown email → NotFound (404, the contract's
    message); wrong password or an inactive account → Unauthenticated (401)."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        raise NotFound(USER_NOT_FOUND)
    if not user.check_password(password) or not user.is_active:
        raise Unauthenticated(WRONG_CREDENTIALS)
    return user


# The query of every authenticated request and socket, written out and prepared on PostgreSQL
# (social/postgresql/base.py): building it with the ORM cost more than running it (README
# "Performance and tuning"). Every column by name: a prepared `SELECT *` would fail once a
# migration adds a column. A hot read may run it as a subquery of its own statement (the feed,
# posts.selectors.feed_page_of_session): its row then starts with these SESSION_USER_WIDTH
# columns, read by `session_user_of_row`.
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
SESSION_USER_SQL = f"""
SELECT {", ".join(f"u.{field.column}" for field in User._meta.concrete_fields)},
       (SELECT e.ended_at FROM {UserSessionsEnd._meta.db_table} AS e
        WHERE e.user_id = u.id AND e.kept_session_id IS DISTINCT FROM %(session)s),
       EXISTS (SELECT 1 FROM {EndedSession._meta.db_table} AS s WHERE s.session_id = %(session)s)
FROM {User._meta.db_table} AS u
WHERE u.id = %(user)s
"""
SESSION_USER_WIDTH = len(_USER_FIELDS) + 2

# `_session_user_checked`'s rule as a condition on the user's row `u`, for a write whose one
# statement must change nothing for a refused token (posts.services.like_toggle_of_session): a
# read can decide in Python after its statement, a write has to be gated before it. Its
# parameters: `session`, as in SESSION_USER_SQL, and `issued`, the token's `iat` (whole seconds:
# a token issued in the very second all sessions ended is refused, as `issued_at <= ended_at`).
# accounts/tests/test_session_rule_sql.py holds it equal to the Python rule over every case.
SESSION_ACCEPTED_SQL = f"""u.is_active
    AND NOT EXISTS (SELECT FROM {EndedSession._meta.db_table} WHERE session_id = %(session)s)
    AND NOT EXISTS (SELECT FROM {UserSessionsEnd._meta.db_table} AS e WHERE e.user_id = u.id
        AND e.kept_session_id IS DISTINCT FROM %(session)s AND e.ended_at >= to_timestamp(%(issued)s))"""

# SESSION_USER_SQL's row for a token the rule above accepts, and no row for any other: a
# statement that must write nothing for a refused token reads (and may lock) its caller's row
# with it. Its row is read by `session_user_of_row` like SESSION_USER_SQL's; no session end
# applies to an accepted token, hence the two constant columns. Terse (no `u.` before the
# columns of its one table): the like toggle's text, which embeds it, must stay within
# psycopg's 4,096 bytes of converted texts (tests/test_prepared_texts.py).
SESSION_USER_ACCEPTED_SQL = f"""
SELECT {", ".join(field.column for field in User._meta.concrete_fields)}, NULL::timestamptz, false
FROM {User._meta.db_table} AS u
WHERE u.id = %(user)s AND {SESSION_ACCEPTED_SQL}
"""


# The claims of a token that `session_user` checks: its user id, its session, when it was issued.
SessionClaims = namedtuple("SessionClaims", ["user_id", "session_id", "issued_at"])


def session_accepted_params(claims: SessionClaims) -> dict:
    """The parameters of SESSION_USER_ACCEPTED_SQL (and SESSION_ACCEPTED_SQL) for a token's claims."""
    return {"user": claims.user_id, "session": claims.session_id, "issued": claims.issued_at}


def session_user(*, user_id, session_id: str | None, issued_at: int) -> User | None:
    """The user that a token of session `session_id`, issued at `issued_at` (seconds since
    the epoch), speaks for. None when the user is unknown or inactive, the session was ended
    (logout), or all the user's sessions were ended since the token was issued (deactivation),
    unless this is the session kept by that end (a password change).
    One query."""
    if connection.vendor == "postgresql":
        with prepared_cursor(connection) as cursor:
            cursor.execute(SESSION_USER_SQL, {"user": user_id, "session": session_id})
            row = cursor.fetchone()
        return session_user_of_row(row, issued_at=issued_at)
    user = (
        User.objects.filter(pk=user_id)
        .annotate(
            sessions_ended_at=Subquery(
                UserSessionsEnd.objects.filter(user=OuterRef("pk"))
                .exclude(kept_session_id=session_id if session_id else None)
                .values("ended_at")
            ),
            session_ended=Exists(EndedSession.objects.filter(session_id=session_id or "")),
        )
        .first()
    )
    return _session_user_checked(user, issued_at=issued_at)


def session_user_of_row(row, *, issued_at: int) -> User | None:
    """`session_user`'s answer from a row that starts with SESSION_USER_SQL's columns (None:
    no such user), on PostgreSQL."""
    if row is None:
        return None
    # psycopg hands back the Python types the fields hold (UUID, aware datetime, bool):
    # the row needs none of the converters the ORM applies for SQLite.
    user = User.from_db(connection.alias, _USER_FIELDS, row[: SESSION_USER_WIDTH - 2])
    user.sessions_ended_at, user.session_ended = row[SESSION_USER_WIDTH - 2 : SESSION_USER_WIDTH]
    return _session_user_checked(user, issued_at=issued_at)


def claims_user(claims: SessionClaims) -> User | None:
    """`session_user` for a token's claims (as `token_user` reads them)."""
    return session_user(user_id=claims.user_id, session_id=claims.session_id, issued_at=claims.issued_at)


def session_statement_row(sql: str, params: dict, *, claims: SessionClaims) -> tuple[User | None, tuple | None]:
    """Run, on PostgreSQL, a hot read's prepared statement whose one row starts with
    SESSION_USER_SQL's columns (its `user` and `session` parameters set from `claims`): (the user
    the check accepts, the rest of the row), or (None, None) when it refuses the token or no
    such user exists. The caller decides nothing from the rest before the check has accepted."""
    params["user"], params["session"] = claims.user_id, claims.session_id
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    viewer = session_user_of_row(row, issued_at=claims.issued_at)
    return (viewer, row[SESSION_USER_WIDTH:]) if viewer is not None else (None, None)


def _session_user_checked(user: User | None, *, issued_at: int) -> User | None:
    # The rule of session_user, on a user read with `sessions_ended_at` and `session_ended`.
    if user is None or not user.is_active or user.session_ended:
        return None
    if user.sessions_ended_at is not None and issued_at <= user.sessions_ended_at.timestamp():
        return None
    return user


def token_claims(token) -> SessionClaims | None:
    """The claims `session_user` checks, of a signed token (access or refresh); None when its
    user id claim is missing or is not a user id (no user can match: refused)."""
    try:
        user_id = User._meta.pk.to_python(token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]))
    except ValidationError:
        return None
    if user_id is None:
        return None
    return SessionClaims(user_id, token.get(SESSION_CLAIM), int(token.get("iat", 0)))


def token_user(token) -> User | None:
    """`session_user` for a signed token's claims (access or refresh): also None when its
    user id claim is missing or is not a user id."""
    claims = token_claims(token)
    if claims is None:
        return None
    return session_user(user_id=claims.user_id, session_id=claims.session_id, issued_at=claims.issued_at)


def session_is_ended(session_id: str | None) -> bool:
    """Was this session ended (logout)? For a socket opened before."""
    return bool(session_id) and EndedSession.objects.filter(pk=session_id).exists()


def user_sessions_active(*, user: User) -> list[UserSession]:
    """The user's sessions that can still be used, the most recently used first. An ended
    session's row is deleted when it ends; one whose refresh token expired is left out."""
    since = timezone.now() - settings.REFRESH_TOKEN_LIFETIME
    return list(UserSession.objects.filter(user=user, last_used_at__gte=since).order_by("-last_used_at", "id"))
