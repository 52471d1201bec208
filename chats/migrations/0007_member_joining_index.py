"""chat_member_joining_idx: a chat's memberships in joining order, (chat, id).

The chat list and the chat objects embed a chat's first CHAT_MEMBERS_EMBEDDED members in joining
order, and the members page walks them in that order: with this index each reads them in order
and stops at its LIMIT, where the chat's own index read every membership of the chat and sorted
them (issue #26). CONCURRENTLY on PostgreSQL: building it must not lock the memberships for
writes; other databases (the SQLite of `make run`) build it as Django would.
"""

from django.db import migrations, models

INDEX = models.Index(fields=["chat", "id"], name="chat_member_joining_idx")


def create_index(apps, schema_editor):
    model = apps.get_model("chats", "ChatMember")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(model, INDEX)
        return
    table = schema_editor.quote_name(model._meta.db_table)
    schema_editor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name} ON {table} ("chat_id", "id")')


def drop_index(apps, schema_editor):
    model = apps.get_model("chats", "ChatMember")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("chats", "0006_message_images"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create_index, drop_index, elidable=False)],
            state_operations=[migrations.AddIndex(model_name="chatmember", index=INDEX)],
        )
    ]
