"""social/postgresql: the health check that polls before it asks (persistent and pooled
connections), prepared statements, and the deadline on every wait for the server."""

import select
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from psycopg.pq import Format

from accounts.models import User
from accounts.selectors import session_user
from accounts.tests.factories import UserFactory
from social.db import prepared_cursor, statements_unbounded
from social.outages import is_outage
from social.postgresql.base import _TIMESTAMPTZ, DatabaseWrapper, DeadlineConnection

pytestmark = pytest.mark.django_db(transaction=True)


def _wrapper(**options):
    """A connection to the test database of its own, as a gunicorn worker has it: persistent,
    health-checked, no pool (pytest-django's own connection comes from a pool, which Django
    does not health-check)."""
    settings_dict = {**connection.settings_dict, "CONN_MAX_AGE": 300, "CONN_HEALTH_CHECKS": True}
    settings_dict["OPTIONS"] = {key: value for key, value in settings_dict["OPTIONS"].items() if key != "pool"}
    settings_dict["OPTIONS"].update(options)
    return DatabaseWrapper(settings_dict, alias="health-check-test")


@pytest.fixture
def own_connection():
    wrapper = _wrapper()
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def _last_statement(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def _terminate(pid: int, wrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's FATAL message and FIN reach the client's socket shortly after.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _socket_readable(wrapper):
        time.sleep(0.01)


def _socket_readable(wrapper) -> bool:
    import select

    return bool(select.select([wrapper.connection.fileno()], [], [], 0)[0])


def test_an_idle_healthy_connection_is_usable_without_a_query(own_connection):
    pid = own_connection.connection.info.backend_pid
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT 'marker' /* before the check */")
    assert own_connection.is_usable() is True
    assert _last_statement(pid) == "SELECT 'marker' /* before the check */"


def test_a_connection_the_server_ended_is_not_usable(own_connection):
    _terminate(own_connection.connection.info.backend_pid, own_connection)
    assert own_connection.is_usable() is False


def test_the_request_after_a_server_side_disconnect_gets_a_new_connection(own_connection):
    """What CONN_HEALTH_CHECKS is for: no failed request after the server dropped the
    connection (a restart, an idle timeout)."""
    old_pid = own_connection.connection.info.backend_pid
    _terminate(old_pid, own_connection)
    own_connection.close_if_unusable_or_obsolete()  # what Django does when a request starts
    with own_connection.cursor() as cursor:  # the health check runs before the first query
        cursor.execute("SELECT pg_backend_pid()")
        new_pid = cursor.fetchone()[0]
    assert new_pid != old_pid


def test_after_an_error_the_check_asks_the_server(own_connection):
    pid = own_connection.connection.info.backend_pid
    own_connection.errors_occurred = True
    assert own_connection.is_usable() is True
    assert _last_statement(pid) == "SELECT 1"


@pytest.fixture
def pool():
    """A pool of its own, as daphne has it: health-checked (CONN_HEALTH_CHECKS) and one
    connection, so the connection handed out again is the one handed back."""
    settings_dict = {**connection.settings_dict, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True}
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 1, "timeout": 3}}
    wrapper = DatabaseWrapper(settings_dict, alias="pool-check-test")
    wrapper.pool.open(wait=True)
    yield wrapper.pool
    wrapper.close_pool()


def test_the_pool_hands_out_a_quiet_connection_without_asking_the_server(pool):
    """Daphne takes a pooled connection for every database call of a socket (each message
    stored): psycopg's check would be one more round trip each time."""
    pooled = pool.getconn()
    pid = pooled.info.backend_pid
    pooled.execute("SELECT 'marker' /* before the check */")
    pool.putconn(pooled)
    again = pool.getconn()
    try:
        assert again.info.backend_pid == pid
        assert _last_statement(pid) == "SELECT 'marker' /* before the check */"
    finally:
        pool.putconn(again)


def test_the_pool_replaces_a_connection_the_server_ended(pool):
    pooled = pool.getconn()
    pid = pooled.info.backend_pid
    pool.putconn(pooled)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not select.select([pooled.fileno()], [], [], 0)[0]:
        time.sleep(0.01)
    again = pool.getconn()
    try:
        assert again.info.backend_pid != pid
        assert again.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.putconn(again)


def test_pooled_and_persistent_connections_both_have_the_deadline(own_connection):
    connection.ensure_connection()
    assert type(connection.connection) is DeadlineConnection  # the suite's own, from a pool
    assert type(own_connection.connection) is DeadlineConnection  # gunicorn's, no pool


def test_a_server_silent_past_the_deadline_is_an_outage_and_its_connection_is_replaced(own_connection, settings):
    """What a server frozen mid-query looks like to the client: no answer. pg_sleep stands in
    for it (a frozen server is in chaos/test_hangs.py)."""
    settings.DB_QUERY_DEADLINE = 0.5
    old_pid = own_connection.connection.info.backend_pid
    started = time.monotonic()
    with pytest.raises(OperationalError) as raised:
        with own_connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(3)")
    assert time.monotonic() - started < 2
    assert is_outage(raised.value)  # REST: JSON 503; a socket: the "not stored" frame
    assert own_connection.connection.closed  # never reused: its state is unknown
    own_connection.close_if_unusable_or_obsolete()  # what Django does when a request ends
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid


def test_a_statement_timeout_is_the_servers_answer_before_the_deadline(own_connection, settings):
    settings.DB_QUERY_DEADLINE = 2.0
    with own_connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 200")
        with pytest.raises(OperationalError, match="statement timeout"):
            cursor.execute("SELECT pg_sleep(1)")
    # The server answered: the connection stays open and usable.
    assert not own_connection.connection.closed
    own_connection.close_if_unusable_or_obsolete()
    with own_connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _user_by_id(user_id):
    return session_user(user_id=user_id, session_id=None, issued_at=int(time.time()))


def _prepared_statements(cursor) -> list[str]:
    cursor.execute("SELECT statement FROM pg_prepared_statements")
    return [row[0] for row in cursor.fetchall()]


def test_a_prepared_cursor_prepares_and_is_logged_like_any_query():
    user = UserFactory()
    with CaptureQueriesContext(connection) as queries:
        assert _user_by_id(user.pk) == user
    # Counted, and logged with its values, as any query is (DEBUG, query-count tests).
    assert len(queries.captured_queries) == 1
    assert "FROM accounts_user AS u" in queries.captured_queries[0]["sql"]
    assert user.pk.hex in queries.captured_queries[0]["sql"]
    with prepared_cursor(connection) as cursor:
        assert [sql for sql in _prepared_statements(cursor) if "FROM accounts_user AS u" in sql]


def test_prepared_statements_can_be_turned_off():
    wrapper = _wrapper(prepare_threshold=None)  # DB_PREPARED_STATEMENTS=0
    try:
        with wrapper.prepared_cursor() as cursor:
            cursor.execute("SELECT 'not prepared'")
            assert _prepared_statements(cursor) == []
    finally:
        wrapper.close()


def test_the_prepared_user_query_survives_a_migration_that_adds_a_column(own_connection):
    """Why its SQL names the columns: once another connection (a deploy's `migrate`) adds a
    column, a prepared `SELECT *` fails with "cached plan must not change result type"."""
    user = UserFactory()
    assert _user_by_id(user.pk) == user
    with own_connection.cursor() as cursor:
        cursor.execute("ALTER TABLE accounts_user ADD COLUMN added_later integer")
    try:
        found = _user_by_id(user.pk)
        assert found == user and found.email == user.email
    finally:
        with own_connection.cursor() as cursor:
            cursor.execute("ALTER TABLE accounts_user DROP COLUMN added_later")


def test_a_prepared_statement_inside_anothers_block_reads_its_own_rows():
    """The connection keeps one prepared cursor; a second one asked for while the first is
    open (a like's notification inside the like's block) is a cursor of its own."""
    users = UserFactory.create_batch(3)
    with prepared_cursor(connection) as outer:
        outer.execute("SELECT id FROM accounts_user WHERE id = ANY(%s) ORDER BY id", [[u.pk for u in users]])
        first = outer.fetchone()
        with prepared_cursor(connection) as inner:
            inner.execute("SELECT email FROM accounts_user WHERE id = %s", [users[0].pk])
            assert inner.fetchone() == (users[0].email,)
        assert [first, *outer.fetchall()] == [(pk,) for pk in sorted(u.pk for u in users)]
    with prepared_cursor(connection) as again:
        again.execute("SELECT count(*) FROM accounts_user WHERE id = ANY(%s)", [[u.pk for u in users]])
        assert again.fetchone() == (3,)


def test_the_kept_prepared_cursor_follows_a_new_connection():
    wrapper = _wrapper()
    try:
        for _ in range(2):
            with wrapper.prepared_cursor() as cursor:
                cursor.execute("SELECT %s::int + 1", [41])
                assert cursor.fetchone() == (42,)
            wrapper.close()  # what gunicorn's workers do past CONN_MAX_AGE, or after an error
    finally:
        wrapper.close()


def test_the_prepared_cursor_reads_timestamps_as_the_orm_does():
    user = UserFactory()
    with prepared_cursor(connection) as cursor:
        cursor.execute("SELECT date_joined FROM accounts_user WHERE id = %s", [user.pk])
        (value,) = cursor.fetchone()
        # psycopg's own loader, not Django's pure-Python subclass (social/postgresql/base.py)
        assert "django" not in cursor.cursor.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT).__module__
    from_orm = User.objects.values_list("date_joined", flat=True).get(pk=user.pk)
    assert value == from_orm
    assert value.utcoffset() == timedelta(0) and value.isoformat() == from_orm.isoformat()


def test_a_batch_job_lifts_both_bounds_for_its_block_only(settings):
    settings.DB_QUERY_DEADLINE = 0.5
    with statements_unbounded():
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0"
            cursor.execute("SELECT pg_sleep(1)")  # past the deadline, and answered
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] != "0"  # the connection's own again (DB_STATEMENT_TIMEOUT_MS)
        with pytest.raises(OperationalError):
            cursor.execute("SELECT pg_sleep(1)")
    connection.close()  # the timed-out connection, as Django drops it at the end of a request
