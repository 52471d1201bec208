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
    statement sends (`sql_compacted`, called by social/postgresql's PreparingCursor on every
    statement). psycopg converts a statement's placeholders once per text only for texts of at
    most 4,096 bytes and 50 parameters (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH and
    MAX_CACHED_STATEMENT_PARAMS); a longer one is parsed again on every execution (~0.03 ms of
    CPU for the chat list's, issue #26). The server keeps the text of each prepared statement
    too, per connection."""
    lines = (line.strip() for line in sql.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


# sql_compact's answers by text: a statement runs on nearly every request and its text is one
# of a few hundred (a page statement per shape and limit), so it is compacted once per process.
# Bounded as the verified tokens are: emptied when full, refilled at one compaction per text.
_COMPACTED: dict[str, str] = {}
COMPACTED_MAX = 2048


def sql_compacted(sql: str) -> str:
    """`sql_compact(sql)`, kept per text: a dictionary lookup once the text was seen (its hash
    cached by the string when the text is a constant)."""
    compact = _COMPACTED.get(sql)
    if compact is None:
        if len(_COMPACTED) >= COMPACTED_MAX:
            _COMPACTED.clear()
        compact = _COMPACTED[sql] = sql_compact(sql)
    return compact


def page_limit(*, rows: int, whole_table: bool) -> tuple[str, dict]:
    """The `LIMIT` clause of a prepared page statement that reads `rows` rows (a page and the
    one that tells whether another follows) and the parameters it binds: written into the text
    (`LIMIT 21`) when the page is drawn from the whole table (`whole_table`: the feed, a user's
    posts), bound (`LIMIT %(limit)s`) when it is drawn from one owner's rows (a reader's
    notifications, a post's comments). Key a cache of statement texts by the clause: a written
    LIMIT makes one text, and one prepared statement per connection, per value a client asks
    for (at most MAX_LIMIT, few in practice; psycopg bounds them per connection).

    Why the two: PostgreSQL keeps a statement's plan for any value (a generic plan) after five
    executions when that plan is not dearer than the plans it makes per value.
    - Bound over a whole table, the generic plan expected the rows of a tenth of the table (a
      parallel scan and a sort), lost to a plan per value, and the feed's statement was planned
      on every execution (0 generic plans of 4,520 at 50k posts; planning ~0.4 ms against ~0.2
      of execution, issue #26). Written, the generic plan is the index range scan that stops at
      the LIMIT, and is kept (posts/tests/test_feed_session_check.py).
    - Written over one owner's rows, the planner compared the LIMIT with the rows of an owner of
      average size by the statistics, fewer than a page asks for, and planned to read, join and
      sort all of them: a reader's 1,000 notifications, 1.3 ms and 3,000 buffers a page against
      0.05 ms and 67 for the ordered scan of `notification_list_idx` that stops at the LIMIT
      (issue #26). Bound, the generic plan is that ordered scan; where PostgreSQL plans per
      value instead (an owner with more rows than most), it plans the same scan
      (notifications/tests/test_list_session_check.py holds every page shape to its LIMIT)."""
    if whole_table:
        return f"LIMIT {int(rows)}", {}
    return "LIMIT %(limit)s", {"limit": rows}


class SqlFragment(NamedTuple):
    """Common table expressions one app's statement composes from another's (`WITH …, {ctes}`),
    with their parameters (named, prefixed with their owner's name) and the columns its SELECT
    adds: the owner keeps its SQL, the composer saves a round trip."""

    ctes: str
    params: dict
    columns: str


def prepared_cursor(connection):
    """A cursor whose statements PostgreSQL plans once per connection (social/postgresql), each
    text sent compacted (`sql_compacted`: write them commented and indented); a plain cursor on
    other databases. For queries that run on (nearly) every request."""
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
