"""The chat list's own membership (`mine`) as a plain join (before) and as a LATERAL lookup by
chat and user (after, chats/selectors.py), side by side on make bench's database: each form
prepared once, then EXPLAIN ANALYZE of both under a generic and a custom plan, alternating for 9
rounds, for the reader with the most chats (200); PostgreSQL's execution time in ms, least and
median. It checks that both forms answer the same rows. Read-only. Run it after `make bench`:

    .venv/bin/python bench/chat_list_mine_ab.py
"""

import os
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "JOIN chats_chatmember mine ON mine.chat_id = page.chat_id AND mine.user_id = %(user)s"
AFTER = """JOIN LATERAL (
    SELECT mine.last_read_message_id, mine.user_id FROM chats_chatmember mine
    WHERE mine.chat_id = page.chat_id AND mine.user_id = %(user)s LIMIT 1
) mine ON true"""
MODES = {"generic": "force_generic_plan", "custom": "force_custom_plan"}


def numbered(sql: str, params: dict) -> tuple[str, list]:
    """`sql` with $1, $2… for its named placeholders (PREPARE's form), and their values."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    return re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql), [params[n] for n in names]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/social_bench")
    os.environ.setdefault("SECRET_KEY", "chat-list-mine-ab")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
    import django

    django.setup()
    from django.db import connection

    from chats import selectors
    from social.db import sql_compact
    from social.pagination import PageRequest

    with connection.cursor() as cursor:
        cursor.execute("SELECT user_id FROM chats_chatmember GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        reader = cursor.fetchone()[0]
    first_page = PageRequest(limit=20, after=None)
    sql, params = selectors.chat_list_statement(user=selectors.ClaimedUser(reader), page=first_page)
    assert AFTER in sql, "the statement changed: update AFTER"
    forms = {"before": sql.replace(AFTER, BEFORE), "after": sql}
    times = {(form, mode): [] for form in forms for mode in MODES}
    answers = {}
    with connection.cursor() as cursor:
        for form, text in forms.items():
            prepared, values = numbered(sql_compact(text), params)
            cursor.execute(f"PREPARE mine_{form} AS {prepared}")
        execute = ", ".join(["%s"] * len(values))
        for _ in range(9):
            for form in forms:
                for mode, setting in MODES.items():
                    cursor.execute(f"SET plan_cache_mode = {setting}")
                    cursor.execute(f"EXPLAIN (ANALYZE) EXECUTE mine_{form}({execute})", values)
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                    times[(form, mode)].append(float(re.search(r"Execution Time: ([\d.]+)", plan).group(1)))
        cursor.execute("RESET plan_cache_mode")
        for form in forms:
            cursor.execute(f"EXECUTE mine_{form}({execute})", values)
            answers[form] = cursor.fetchall()
            cursor.execute(f"DEALLOCATE mine_{form}")
    assert answers["before"] == answers["after"], "the two forms answer different rows"
    for (form, mode), ms in times.items():
        print(f"{form:6} {mode:7} plan: least {min(ms):.3f} ms, median {statistics.median(ms):.3f} ms")


if __name__ == "__main__":
    main()
