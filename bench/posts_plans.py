"""The plan choices of the posts app's hot prepared statements at scale (issue #26): on a
database seeded as `make bench` seeds its large data (`manage.py seed_demo --users=3000
--posts=48000 --likes=480000 --views=95000`), plus, if the database has no comments yet, 1,000
comments on each of the 20 most recent posts as bench/run.py writes them (the seeding makes
none). On the suite's few rows even a bound LIMIT gets a kept generic plan: the choices that
matter are these.

Runs each statement READS times with the parameters a request gives it (20 readers in turn,
their posts, a page of the feed's post ids; a Bearer request's comments page before and after
the user check was folded into its statement; a user's posts page with the author's existence
checked apart and in its statement, and a Bearer request's before and after the user check and
that existence were folded into it; a Bearer request's recommended first page from a kept
ranking before and after the user check was folded into its statement, with the cache of
REDIS_URL), then prints how often the server planned each
(pg_prepared_statements: a statement re-planned on every execution has 0 generic plans), and
then, alternating ROUNDS rounds of N reads of each, this process's CPU ms and the CPU ms of the
connection's PostgreSQL backend (utime + stime from /proc: the server must run on this
machine) per read, least and median. It changes no row but the comments it adds once.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench.posts_plans [N]
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
os.environ.setdefault("SECRET_KEY", "posts-plans-" + "x" * 40)
os.environ.setdefault("DEBUG", "0")
# The kept rankings stay fresh for the whole run (no refresh task is enqueued).
os.environ.setdefault("RECO_RANKING_TTL", "3600")

ROUNDS = 9
READS = 30
COMMENTS = 1000  # per post, on 20 posts, as bench/run.py's `comments`


def comments_seed() -> None:
    from accounts.models import User
    from posts.models import Comment, Post
    from posts.state import post_state_move

    if Comment.objects.exists():
        return
    recent = list(Post.objects.order_by("-created_at").values_list("pk", flat=True)[:20])
    authors = list(User.objects.order_by("?").values_list("pk", flat=True)[:200])
    for post_id in recent:
        Comment.objects.bulk_create(
            Comment(post_id=post_id, author_id=authors[i % len(authors)], text=f"Комментарий {i}")
            for i in range(COMMENTS)
        )
        post_state_move(posts=Post.objects.filter(pk=post_id), comments=COMMENTS)


def statements() -> dict:
    """{name: a callable of i reading the statement's i-th request}."""
    from accounts.models import User
    from accounts.selectors import SessionClaims, session_user
    from posts import selectors
    from posts.models import Comment, Post
    from posts.recommendations import kept_page_of_session, recommended_page
    from posts.recommendations.pages import ranking_refresh
    from social.pagination import PageRequest, decode_cursor

    readers = list(User.objects.filter(is_active=True).order_by("pk")[:20])
    authors = list(Post.objects.values_list("author_id", flat=True).distinct()[:20])
    feed = [ref.id for ref in selectors.feed_page(viewer=readers[0], page=PageRequest(limit=20, after=None)).items]
    commented = list(Comment.objects.values_list("post_id", flat=True).distinct())
    first = PageRequest(limit=20, after=None)

    def comments_next(i):
        post_id = commented[i % len(commented)]
        page = selectors.post_comments_page(post_id=post_id, viewer=readers[i % 20], page=first)
        after = PageRequest(limit=20, after=decode_cursor(page.next_cursor, size=selectors.KEY_SIZE))
        return selectors.post_comments_page(post_id=post_id, viewer=readers[i % 20], page=after)

    # No session of theirs was ended: the check reads the same rows as for a real token.
    claims = [SessionClaims(reader.pk, "bench-posts-plans", int(time.time())) for reader in readers]

    def comments_checked_before(i):  # the user check, then post_comments_page: three statements
        claim = claims[i % 20]
        viewer = session_user(user_id=claim.user_id, session_id=claim.session_id, issued_at=claim.issued_at)
        return viewer, selectors.post_comments_page(post_id=commented[i % len(commented)], viewer=viewer, page=first)

    def comments_checked_after(i):  # one statement
        return selectors.post_comments_page_of_session(
            claims=claims[i % 20], post_id=commented[i % len(commented)], page=first
        )

    for i in range(20):
        assert comments_checked_before(i) == comments_checked_after(i)

    def user_posts(i):  # the author's existence in the page's statement: one statement
        return selectors.user_posts_page(user_id=authors[i % 20], viewer=readers[i % 20], page=first)

    def user_posts_two(i):  # as before: the author's existence, then the page
        if not User.objects.filter(pk=authors[i % 20]).exists():
            raise AssertionError
        return selectors._refs_page(viewer=readers[i % 20], page=first, author_id=authors[i % 20])

    def user_posts_checked_before(i):  # the user check, the author's existence, the page
        claim = claims[i % 20]
        viewer = session_user(user_id=claim.user_id, session_id=claim.session_id, issued_at=claim.issued_at)
        return viewer, user_posts_two(i)

    def user_posts_checked_after(i):  # one statement
        return selectors.user_posts_page_of_session(claims=claims[i % 20], user_id=authors[i % 20], page=first)

    # A recommended first page of 20 from each reader's kept ranking (ranked once here, fresh
    # for RECO_RANKING_TTL s): the user check, the cache read and the page's rows.
    for reader in readers:
        ranking_refresh(viewer=reader, limit=20)

    def recommended_before(i):  # the user check, then recommended_page: two statements
        claim = claims[i % 20]
        viewer = session_user(user_id=claim.user_id, session_id=claim.session_id, issued_at=claim.issued_at)
        return viewer, recommended_page(viewer=viewer, limit=20, cursor=None)

    def recommended_after(i):  # one statement
        return kept_page_of_session(claims=claims[i % 20], limit=20)

    for i in range(20):
        assert recommended_before(i) == recommended_after(i)
        assert user_posts(i) == user_posts_two(i)
        assert user_posts_checked_before(i) == user_posts_checked_after(i)

    return {
        "post_details": lambda i: selectors.post_details(ids=feed[i % 20 :] + feed[: i % 20]),
        "comments_first": lambda i: selectors.post_comments_page(
            post_id=commented[i % len(commented)], viewer=readers[i % 20], page=first
        ),
        "comments_next": comments_next,
        "user_posts": user_posts,
        "user_posts_two": user_posts_two,
        "posts_before": user_posts_checked_before,
        "posts_after": user_posts_checked_after,
        "refs_of": lambda i: selectors.post_refs_of(viewer=readers[i % 20], ids=feed),
        "comments_before": comments_checked_before,
        "comments_after": comments_checked_after,
        "reco_before": recommended_before,
        "reco_after": recommended_after,
    }


def plans_print(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans, left(regexp_replace(statement, '\\s+', ' ', 'g'), 90)"
            " FROM pg_prepared_statements ORDER BY statement"
        )
        for generic, custom, statement in cursor.fetchall():
            print(f"plans: {generic:5d} generic {custom:5d} custom  {statement}")


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    django.setup()
    from django.db import connection

    comments_seed()
    reads = statements()
    for read in reads.values():
        for i in range(READS):
            read(i)
    plans_print(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat_path = f"/proc/{cursor.fetchone()[0]}/stat"

    def backend_ms() -> float:
        with open(stat_path) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    figures = {name: ([], []) for name in reads}
    for _ in range(ROUNDS):
        for name, read in reads.items():
            own, backend = figures[name]
            started, server = time.process_time(), backend_ms()
            for i in range(requests):
                read(i)
            own.append((time.process_time() - started) * 1000 / requests)
            backend.append((backend_ms() - server) / requests)
    middle = ROUNDS // 2
    for name, (own, backend) in figures.items():
        own.sort(), backend.sort()
        print(
            f"{name:15s} process min {own[0]:.3f} med {own[middle]:.3f} | "
            f"PostgreSQL backend min {backend[0]:.3f} med {backend[middle]:.3f} ms CPU/read"
        )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
