"""Query helpers shared by the apps."""

from django.db.models import Func, IntegerField, QuerySet, Subquery


def count_subquery(queryset: QuerySet) -> Subquery:
    """A correlated COUNT(*) of `queryset` (filtered on an OuterRef): one scalar per row, 0
    when nothing matches, and no join fan-out when several counts annotate one query."""
    # A plain Func, not the Count aggregate: an aggregate would add a GROUP BY to the subquery
    # (and then no row, i.e. NULL, when nothing matches).
    counted = queryset.order_by().annotate(total=Func("pk", function="COUNT")).values("total")
    return Subquery(counted, output_field=IntegerField())


def prepared_cursor(connection):
    """A cursor whose statements PostgreSQL plans once per connection (social/postgresql);
    a plain cursor on other databases. For queries that run on (nearly) every request."""
    make = getattr(connection, "prepared_cursor", None)
    return make() if make is not None else connection.cursor()
