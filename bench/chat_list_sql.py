"""PostgreSQL's side of the messenger's chat list (issue #26): the server backend's CPU per
execution of the list's prepared query (first page and a next page; its /proc stat, the same
machine) and EXPLAIN ANALYZE of the generic plan a prepared statement keeps (CHAT_PLAN=1 prints
it). The data is `bench/pages_cpu.py`'s (the reader's 200 chats of two members, 5 messages
each) plus, as `make bench` seeds it, other readers' chats (OTHER_READERS, 20 by default: the
chat table then holds ~4,200 chats) and 3,000 users, with the planner's statistics gathered.

CHAT_LIST_BASELINE=<a chats/selectors.py, e.g. `git show main:chats/selectors.py > /tmp/x.py`>
measures that revision's query beside the current one, alternating CHAT_LIST_ROUNDS rounds (5
by default; least and median printed), and fails unless both answer the same rows. Not
collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/chat_list_sql.py -q -s
"""

import importlib.util
import json
import os
import re
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from bench.pages_cpu import seeded  # noqa: F401 (the fixture)
from chats import selectors
from chats.models import Chat, ChatMember, Message
from social.db import prepared_cursor
from social.pagination import PageRequest, cursor_values, decode_cursor

RUNS = 300
ROUNDS = int(os.environ.get("CHAT_LIST_ROUNDS", "5"))
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def backend_cpu_ms(pid: int) -> float:
    """utime + stime of the server process `pid`, in ms."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def generic_plan(sql: str, params: list, *, analyze_format: str) -> str | dict:
    """EXPLAIN ANALYZE of the plan a prepared statement of `sql` keeps (generic: no values)."""
    if isinstance(params, dict):  # named parameters (chat_list_statement since the user check's fold)
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
        text = re.sub(r"%\((\w+)\)s", lambda match: f"${names.index(match.group(1)) + 1}", sql)
        params = [params[name] for name in names]
    else:
        numbered = iter(range(1, 100))
        text = re.sub(r"%s", lambda _: f"${next(numbered)}", sql)
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE chat_list_explained AS {text}")
        try:
            values = ", ".join(["%s"] * len(params))
            cursor.execute(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT {analyze_format}) EXECUTE chat_list_explained({values})", params
            )
            rows = cursor.fetchall()
        finally:
            cursor.execute("DEALLOCATE chat_list_explained")
            cursor.execute("RESET plan_cache_mode")
    if analyze_format == "TEXT":
        return "\n".join(row[0] for row in rows)
    raw = rows[0][0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]


def other_readers_seed(count: int) -> None:
    """`count` other pairs of users with 200 chats of 5 messages each, and 3,000 more users."""
    User.objects.bulk_create(User(email=f"bench{n}@example.org", username=f"bench{n}") for n in range(3000))
    now = timezone.now()
    for n in range(count):
        pair = UserFactory.create_batch(2)
        chats = Chat.objects.bulk_create(
            Chat(title=f"Чат {n}-{i}", last_message_at=now - timedelta(minutes=i, seconds=n + 1), messages_count=5)
            for i in range(200)
        )
        ChatMember.objects.bulk_create(ChatMember(chat=chat, user=member) for chat in chats for member in pair)
        Message.objects.bulk_create(
            Message(chat=chat, user=pair[k % 2], text=f"Сообщение {k}") for chat in chats for k in range(5)
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def statements_of(module, user, cursor: list) -> dict:
    """The first and the next page's (sql, params) as `module` (a revision of chats/selectors.py)
    runs them; revisions before `chat_list_statement` took the parameters of 018f3d4."""
    pages = {"first page": PageRequest(limit=20, after=None), "next page": PageRequest(limit=20, after=cursor)}
    if hasattr(module, "chat_list_statement"):
        return {name: module.chat_list_statement(user=user, page=page) for name, page in pages.items()}
    embedded = max(settings.CHAT_MEMBERS_EMBEDDED, 0)
    activity, chat_id = cursor_values([Chat._meta.get_field("created_at"), Chat._meta.pk], cursor)
    return {
        "first page": (module._CHAT_LIST_FIRST, [user.pk, 21, embedded]),
        "next page": (module._CHAT_LIST_NEXT, [user.pk, activity, activity, activity, chat_id, 21, embedded]),
    }


def test_chat_list_sql(user, seeded):  # noqa: F811
    other_readers_seed(int(os.environ.get("OTHER_READERS", "20")))
    modules = {"current": selectors}
    baseline = os.environ.get("CHAT_LIST_BASELINE")
    if baseline:
        spec = importlib.util.spec_from_file_location("chat_list_baseline", baseline)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules = {"baseline": module, **modules}
    first = selectors.chat_list_values(user=user, page=PageRequest(limit=20, after=None))
    cursor = decode_cursor(first.next_cursor, size=2)
    revisions = {revision: statements_of(module, user, cursor) for revision, module in modules.items()}
    answers = {}
    with connection.cursor() as db:
        db.execute("SELECT pg_backend_pid()")
        pid = db.fetchone()[0]
    cpu = {(revision, page): [] for revision in revisions for page in revisions[revision]}
    for _ in range(ROUNDS):
        for revision, statements in revisions.items():
            for page, (sql, params) in statements.items():
                with prepared_cursor(connection) as db:
                    for _ in range(10):  # past the custom plans: the generic one from here on
                        db.execute(sql, params)
                        answers[revision, page] = db.fetchall()
                    start = backend_cpu_ms(pid)
                    for _ in range(RUNS):
                        db.execute(sql, params)
                        db.fetchall()
                    cpu[revision, page].append((backend_cpu_ms(pid) - start) / RUNS)
    for (revision, page), values in cpu.items():
        sql, params = revisions[revision][page]
        if os.environ.get("CHAT_PLAN"):
            print(generic_plan(sql, params, analyze_format="TEXT"))
        explained = min(generic_plan(sql, params, analyze_format="JSON")["Execution Time"] for _ in range(20))
        values.sort()
        rounds = " ".join(f"{value:.3f}" for value in values)
        print(
            f"{revision:9s} {page:11s} server CPU min {values[0]:6.3f} med {values[len(values) // 2]:6.3f} "
            f"ms/execution (rounds: {rounds}); EXPLAIN ANALYZE {explained:6.3f} ms"
        )
    if baseline:  # the revisions answer the same rows
        for page in revisions["current"]:
            assert answers["baseline", page] == answers["current", page], page
