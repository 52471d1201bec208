"""An index that serves people search (`GET /api/users?search=`) on PostgreSQL.

The search filters `LOWER(username) COLLATE "C" LIKE 'prefix%'`, orders by
(`LOWER(username) COLLATE "C"`, id) and pages by keyset on the same pair. A btree in the "C"
collation serves all three from one index: PostgreSQL turns a prefix LIKE into an index range
only for a "C" collation or a *_pattern_ops opclass, and unlike text_pattern_ops the "C"
collation also serves ORDER BY and the keyset's `>` compare, so a page is one range scan that
stops after `limit + 1` rows. Partial on is_active, since inactive users are never listed.

It lives in `friends` because people search is this app's feature; the table is accounts'.
SQLite (the embedded default) has no "C" collation and no such planner, so the migration does
nothing there. CONCURRENTLY: building it must not lock the users table for writes.
"""

from django.db import migrations

INDEX_NAME = "user_username_search_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("accounts", "User")._meta.db_table)
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX_NAME} "
        f'ON {table} ((LOWER("username") COLLATE "C"), "id") WHERE "is_active"'
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX_NAME}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("accounts", "0001_initial"),
        ("friends", "0002_friendship_recent_idx"),
    ]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
