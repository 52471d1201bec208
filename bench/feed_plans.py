"""The statements of the feed's first page at scale, before and after this pass (issue #26,
`first`): on a database seeded as `make bench` seeds its large data (`manage.py seed_demo
--users=3000 --posts=48000 --likes=480000 --views=95000`), where PostgreSQL's plan choices are
the production ones (on the suite's few rows even a bound LIMIT gets a kept generic plan).

- before: the user check (accounts.selectors.session_user), then the page with its LIMIT bound
  as a parameter: two prepared statements, the page's planned anew on every execution;
- after: posts.selectors.feed_page_of_session, one prepared statement with the LIMIT in its
  text, whose generic plan PostgreSQL keeps.

Alternating ROUNDS rounds of N first pages (20 readers in turn), per page: this process's CPU
ms and the CPU ms of the PostgreSQL backend of the connection (utime + stime from /proc: the
server must run on this machine), least and median of the rounds; then how often the server
planned each statement. It changes no row.

    DATABASE_URL=... .venv/bin/python -m bench.feed_plans [N]
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
os.environ.setdefault("SECRET_KEY", "feed-plans-" + "x" * 40)
os.environ.setdefault("DEBUG", "0")

ROUNDS = 15


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    django.setup()
    from django.db import connection

    from accounts.models import User
    from accounts.selectors import SessionClaims, session_user
    from posts import selectors
    from social.db import prepared_cursor
    from social.pagination import PageRequest, page_cut

    page = PageRequest(limit=20, after=None)
    readers = list(User.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)[:20])
    # No session of theirs was ended: the check reads the same rows as for a real token.
    claims = [SessionClaims(pk, "bench-feed-plans", int(time.time())) for pk in readers]

    def before(claim):
        viewer = session_user(user_id=claim.user_id, session_id=claim.session_id, issued_at=claim.issued_at)
        sql, params = selectors.refs_query(viewer_id=viewer.pk, page=page)
        sql = sql.replace(f"LIMIT {page.limit + 1}", "LIMIT %(limit)s")
        with prepared_cursor(connection) as db:
            db.execute(sql, {**params, "limit": page.limit + 1})
            rows = [selectors.PostRef(*row) for row in db.fetchall()]
        return viewer, page_cut(rows, limit=page.limit, key=selectors._row_key)

    def after(claim):
        return selectors.feed_page_of_session(claims=claim, page=page)

    for claim in claims:
        assert before(claim)[1] == after(claim)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat_path = f"/proc/{cursor.fetchone()[0]}/stat"

    def backend_ms() -> float:
        with open(stat_path) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    figures = {"before": ([], [], before), "after": ([], [], after)}
    for _ in range(ROUNDS):
        for own, backend, read in figures.values():
            started, server = time.process_time(), backend_ms()
            for i in range(requests):
                read(claims[i % len(claims)])
            own.append((time.process_time() - started) * 1000 / requests)
            backend.append((backend_ms() - server) / requests)
    middle = ROUNDS // 2
    for name, (own, backend, _) in figures.items():
        own.sort(), backend.sort()
        print(
            f"{name:6s} process min {own[0]:.3f} med {own[middle]:.3f} | "
            f"PostgreSQL backend min {backend[0]:.3f} med {backend[middle]:.3f} ms CPU/page"
        )
    print(f"load average {os.getloadavg()}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans, left(regexp_replace(statement, '\\s+', ' ', 'g'), 70)"
            " FROM pg_prepared_statements ORDER BY statement"
        )
        for generic, custom, statement in cursor.fetchall():
            print(f"plans: {generic:6d} generic {custom:6d} custom  {statement}")


if __name__ == "__main__":
    main()
