"""Query helpers shared by the apps."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from django.db import connection as default_connection
from django.db.models import Func, IntegerField, QuerySet, Subquery


def count_subquery(queryset: QuerySet) -> Subquery:
    """A correlated COUNT(*) of `queryset` (filtered on an OuterRef): one scalar per row, 0
    when nothing matches, and no join fan-out when several counts annotate one query."""
    # A plain Func, not the Count aggregate: an aggregate would add a GROUP BY to the subquery
    # (and then no row, i.e. NULL, when nothing matches).
    counted = queryset.order_by().annotate(total=Func("pk", function="COUNT")).values("total")
    return Subquery(counted, output_field=IntegerField())


def sql_compact(sql: str) -> str:
    """`sql` without its whole-line `--` comments and its lines' indentation: the text a prepared
    statement sends. psycopg converts a statement's %s placeholders once per text only for texts
    of at most 4,096 bytes (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH); a longer one is
    parsed again on every execution (~0.03 ms of CPU for the chat list's, issue #26)."""
    lines = (line.strip() for line in sql.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


class SqlFragment(NamedTuple):
    """Common table expressions one app's statement composes from another's (`WITH …, {ctes}`),
    with their parameters (named, prefixed with their owner's name) and the columns its SELECT
    adds: the owner keeps its SQL, the composer saves a round trip."""

    ctes: str
    params: dict
    columns: str


def prepared_cursor(connection):
    """A cursor whose statements PostgreSQL plans once per connection (social/postgresql);
    a plain cursor on other databases. For queries that run on (nearly) every request."""
    make = getattr(connection, "prepared_cursor", None)
    return make() if make is not None else connection.cursor()


@contextmanager
def statements_unbounded(connection=default_connection) -> Iterator[None]:
    """Within the block, no statement_timeout and no client deadline on `connection`
    (social/postgresql/base.py, 3): for a batch job whose single statements may take long (a
    COPY of 500,000 likes took 4.9 s against the 5 s that bound every request). Nothing on
    other databases."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    raw.deadline_lifted = True
    try:
        yield
    finally:
        raw.deadline_lifted = False
        if not raw.closed:
            with connection.cursor() as cursor:
                # Back to the connection's own value (its start-up options, DB_STATEMENT_TIMEOUT_MS).
                cursor.execute("RESET statement_timeout")
