"""Django's PostgreSQL backend with two savings on the requests every client makes, and a
deadline on every wait for the server.

1. A connection health check that costs no round trip while nothing is wrong.
   Gunicorn's workers keep their connection across requests (CONN_MAX_AGE) and check it before
   each request's first query (CONN_HEALTH_CHECKS), so a connection the server dropped (a
   restart, a failover, an idle timeout, pg_terminate_backend) is replaced instead of failing
   the request. Django checks with a `SELECT 1`, one more round trip on every request. A server
   that drops a connection says so: it sends a FATAL error and closes the socket, which turns
   readable. An idle connection's socket has nothing to read (every answer was read to its
   end), so only a readable socket, or an error earlier on the connection, sends the check on to
   Django's `SELECT 1`. Looking costs one poll() with no wait. A peer that vanished without a
   word (no FIN, no RST) escapes both checks until a query times out, so nothing is lost.
   Daphne's pool checks the same way (`pool_check`) each connection it hands out, i.e. on every
   `database_sync_to_async` call of a socket; psycopg's own check was an empty query, one more
   round trip on every message a socket stores.

2. `prepared_cursor()`: a cursor whose statements the server parses and plans once per
   connection (server-side binding, prepared on first use). Django keeps psycopg's automatic
   preparation off, since connection poolers in transaction mode may not carry prepared
   statements; the few hot queries that ask for it (the authenticated user, a page of posts)
   are planned once instead of on every request. DB_PREPARED_STATEMENTS=0 turns it off for
   such a pooler (prepare_threshold None, as Django has it). Their SQL names its columns: a
   prepared `SELECT *` fails once a migration adds a column ("cached plan must not change
   result type"). Its timestamps are read by psycopg's own loader (compiled, with
   psycopg[binary]) instead of the pure-Python one Django derives from to apply the
   connection's time zone: with USE_TZ that zone is UTC, which psycopg's loader applies too,
   and a feed request (the user's row, a page's 21 `created_at`) costs less CPU with psycopg's
   (README "Performance and tuning"). Each text goes without its comments and indentation
   (social.db.sql_compacted), so that its placeholders are converted once per text.

3. A client-side deadline on every round trip (`DeadlineConnection`). PostgreSQL's
   statement_timeout is enforced by the server: a server that freezes (SIGSTOP, a hung host, a
   stalled disk) while a query is in flight never answers, and the kernel still ACKs, so no TCP
   timeout fires either; the request would wait for gunicorn's worker kill. psycopg's wait
   functions take a timeout: every wait on the connection (execute, fetch, commit, the pool's
   check) is given DB_QUERY_DEADLINE seconds, a little past statement_timeout, so a healthy
   server always answers first (with its own "canceling statement due to statement timeout").
   Past it the connection is closed (its state is unknown: the query may still run) and the
   caller gets an OperationalError, which REST answers as a JSON 503 and a socket as its
   outage frame; the next request takes a new connection.
"""

import select

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import postgres
from psycopg.connection import _WAIT_INTERVAL
from psycopg.pq import Format, TransactionStatus
from psycopg_pool import ConnectionPool

from social.db import sql_compacted

_TIMESTAMPTZ = postgres.types["timestamptz"].oid
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server ends after DB_QUERY_DEADLINE
    seconds (see the module's docstring, 3), unless a batch job lifted it
    (social.db.statements_unbounded)."""

    deadline_lifted = False

    def wait(self, gen, interval=_WAIT_INTERVAL, timeout=None):
        if timeout is None and self.deadline_lifted:
            return super().wait(gen, interval=interval)
        deadline = settings.DB_QUERY_DEADLINE if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=deadline)
        except psycopg.errors._WaitTimeout as error:  # psycopg's own (private) class for it
            # The protocol is mid-exchange and the server may still be running the query:
            # nothing more can be sent on this connection. Closing it sends a Terminate without
            # waiting (the socket is non-blocking) and frees the socket; Django and the pool
            # then see a closed connection and never hand it out again.
            self.close()
            raise psycopg.OperationalError(f"the database did not answer within {deadline:g} s") from error


def _quiet(connection) -> bool:
    """An idle connection whose socket has nothing to read: the server said nothing (no FATAL,
    no FIN) since its last answer (the module's docstring, 1)."""
    if connection.info.transaction_status != TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


def pool_check(connection) -> None:
    """The pool's check of a connection before it hands it out (CONN_HEALTH_CHECKS): psycopg's
    `check_connection` (an empty query) only when the connection is not quiet. Raises, as
    psycopg's does, for a connection the pool must drop."""
    if connection.closed or connection.broken:
        raise psycopg.OperationalError("the connection is closed")
    if not _quiet(connection):
        ConnectionPool.check_connection(connection)


class PreparingCursor(base.ServerBindingCursor):
    # Lent out by DatabaseWrapper.prepared_cursor and not yet given back (closed by its user).
    lent = False
    # The connection's kept cursor (DatabaseWrapper.prepared_cursor): giving it back keeps it open.
    kept = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if settings.USE_TZ:  # Django's connections then run in UTC (see the module's docstring)
            self.adapters.register_loader(_TIMESTAMPTZ, _TIMESTAMPTZ_LOADER)

    def close(self):
        self.lent = False
        if not self.kept:
            super().close()

    def execute(self, query, params=None, *, prepare=None, binary=None):
        # Sent without comments and indentation, so that a commented text stays within psycopg's
        # cache of converted statements (social.db.sql_compact).
        if type(query) is str:
            query = sql_compacted(query)
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class DatabaseOperations(base.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        # A prepared statement carries its values apart from its text: compose them for the
        # query log (DEBUG's connection.queries, the django.db.backends logger), as Django
        # does when all its cursors bind on the server.
        if isinstance(cursor, PreparingCursor):
            try:
                return self.compose_sql(sql, params)
            except psycopg.errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def __init__(self, settings_dict, *args, **kwargs):
        pool = settings_dict.get("OPTIONS", {}).get("pool")
        if pool:
            # The pool (daphne's threads) makes its connections of this class.
            settings_dict["OPTIONS"]["pool"] = {
                **(pool if isinstance(pool, dict) else {}),
                "connection_class": DeadlineConnection,
            }
        super().__init__(settings_dict, *args, **kwargs)

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if type(connection) is psycopg.Connection:
            # A connection Django opened itself (DB_POOL=0, gunicorn's workers): psycopg.connect
            # takes no class, and DeadlineConnection adds behaviour only, no state, so the
            # instance can take its class.
            connection.__class__ = DeadlineConnection
        return connection

    @property
    def pool(self):
        pool = super().pool
        # Django gives the pool psycopg's check when CONN_HEALTH_CHECKS is on; ours costs no
        # round trip while nothing is wrong. psycopg_pool takes the check only in its
        # constructor, which Django calls: hence its attribute.
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = pool_check
        return pool

    def is_usable(self):
        connection = self.connection
        if connection is None or connection.broken or connection.closed:
            return False
        if not self.errors_occurred and _quiet(connection):
            return True
        return super().is_usable()

    # The connection's kept PreparingCursor (prepared_cursor): one per wrapper, i.e. per thread.
    _kept_cursor = None

    def prepared_cursor(self):
        """A cursor like `cursor()` (health check, error wrapping, query logging) whose
        statements are prepared, unless the connection's prepare_threshold is None.

        The same psycopg cursor serves every call on one connection while it is not lent out:
        a new cursor per statement cost ~60 µs of CPU more than reusing one (its adapters and
        its transformer's dumpers and loaders built again, for the user's query of every
        request and a page's; issue #26). Closing it gives it back; a call while it is lent out
        (a prepared statement inside another's block: a like's notification) gets a cursor of
        its own, closed as before."""
        # What BaseDatabaseWrapper._cursor does, with our cursor class instead of create_cursor().
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = self._kept_cursor
            if cursor is None or cursor.closed or cursor.connection is not self.connection:
                cursor = self._kept_cursor = PreparingCursor(self.connection)
                cursor.kept = True
            elif cursor.lent:
                cursor = PreparingCursor(self.connection)
            cursor.lent = True
            return self._prepare_cursor(cursor)
