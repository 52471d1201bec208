"""The session rule has two forms (accounts.selectors): Python's, `_session_user_checked`, on the
row SESSION_USER_SQL reads (every request's check, and the reads that carry it), and SQL's,
SESSION_ACCEPTED_SQL, which gates a write in its own statement (the like toggle's, issue #26). A
token one form accepts and the other refuses would be a write answered 401, or a 200 for a
token refused everywhere else: they are held equal here over every case."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from accounts.models import EndedSession, User, UserSessionsEnd
from accounts.selectors import (
    SESSION_USER_ACCEPTED_SQL,
    SessionClaims,
    claims_user,
    session_accepted_params,
    session_user_of_row,
)
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ISSUED = 1_800_000_000  # a token's `iat`: whole seconds
ISSUED_AT = datetime.fromtimestamp(ISSUED, tz=UTC)
SESSION, OTHER_SESSION = "session-a", "session-b"

# When all the user's sessions ended, against the token's `iat`: the boundary both ways.
SESSIONS_ENDED = {
    "never": None,
    "a second before": ISSUED_AT - timedelta(seconds=1),
    "a microsecond before": ISSUED_AT - timedelta(microseconds=1),
    "in the issuing second, at its start": ISSUED_AT,
    "in the issuing second, later": ISSUED_AT + timedelta(milliseconds=500),
    "a second after": ISSUED_AT + timedelta(seconds=1),
}
# The session that end kept going (a password change keeps the caller's).
KEPT = {"none": "", "the token's": SESSION, "another": OTHER_SESSION}
TOKEN_SESSIONS = {"its session": SESSION, "no session claim": None}


def _accepted_by_sql(claims: SessionClaims):
    with connection.cursor() as cursor:
        cursor.execute(SESSION_USER_ACCEPTED_SQL, session_accepted_params(claims))
        rows = cursor.fetchall()
    assert len(rows) <= 1
    return rows[0] if rows else None


def test_the_sql_rule_accepts_exactly_the_tokens_the_python_rule_accepts():
    user = UserFactory()
    cases = itertools.product((True, False), (False, True), SESSIONS_ENDED, KEPT, TOKEN_SESSIONS)
    seen, disagreements = {True: 0, False: 0}, []
    for active, logged_out, ended, kept, token_session in cases:
        User.objects.filter(pk=user.pk).update(is_active=active)
        EndedSession.objects.all().delete()
        if logged_out:
            EndedSession.objects.create(session_id=SESSION, expires_at=ISSUED_AT + timedelta(days=30))
        UserSessionsEnd.objects.filter(user=user).delete()
        if SESSIONS_ENDED[ended] is not None:
            UserSessionsEnd.objects.create(user=user, ended_at=SESSIONS_ENDED[ended], kept_session_id=KEPT[kept])
        claims = SessionClaims(user.pk, TOKEN_SESSIONS[token_session], ISSUED)

        by_python = claims_user(claims)  # SESSION_USER_SQL's row, then _session_user_checked
        row = _accepted_by_sql(claims)

        seen[by_python is not None] += 1
        if (row is not None) != (by_python is not None):
            disagreements.append((active, logged_out, ended, kept, token_session, by_python is not None))
        elif row is not None:
            # The accepted row reads as the standalone check's user, field by field.
            read = session_user_of_row(row, issued_at=ISSUED)
            assert read is not None
            assert [getattr(read, f.attname) for f in User._meta.concrete_fields] == [
                getattr(by_python, f.attname) for f in User._meta.concrete_fields
            ]

    assert disagreements == []
    assert seen[True] and seen[False]  # both answers were met: the cases cover the rule


@pytest.mark.parametrize("user_id", ["unknown", "deleted"])
def test_neither_rule_accepts_a_token_of_no_user(user_id):
    user = UserFactory()
    if user_id == "deleted":
        user.delete()
    else:
        user = User(pk="00000000-0000-0000-0000-000000000000")
    claims = SessionClaims(user.pk, SESSION, ISSUED)

    assert claims_user(claims) is None
    assert _accepted_by_sql(claims) is None
