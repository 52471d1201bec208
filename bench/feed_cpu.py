"""CPU per request of the feed's pages from anywhere and of the recommended first page (issue
#26), in process: Django's test client over the whole stack, `time.process_time` per request,
on a database seeded as `make bench` seeds its large data (`manage.py seed_demo --users=3000
--posts=48000 --likes=480000 --views=95000`), with the cache's Redis of REDIS_URL. Each page's
posts are met as a process would meet them:

- deep-cold: no encoding anywhere (every encoding forgotten before each request): the posts
  are read and encoded, and shared (the same pages met once before, unmeasured: the URLs
  already signed, the likers' encodings kept, the database's pages in memory, as in a server
  that has run a while);
- deep-shared: another process encoded them (this process's own forgotten before each request,
  the shared ones kept): one MGET;
- deep-local: this process encoded them already;
- first: the feed's first page, warm;
- recommended: the recommended first page from a kept ranking (ranked once per reader first).

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench.feed_cpu [requests] [--profile MODE]

It writes Redis keys (encodings, rankings) under the test client's origin; it changes no row
but the readers' sessions. With --profile, a cProfile of MODE's requests (top 40 by
cumulative time) follows the figures.
"""

import argparse
import cProfile
import os
import pstats
import random
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
os.environ.setdefault("SECRET_KEY", "feed-cpu-" + "x" * 40)
os.environ.setdefault("DEBUG", "0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", nargs="?", type=int, default=200)
    parser.add_argument("--profile", choices=["deep-cold", "deep-shared", "deep-local", "first", "recommended"])
    options = parser.parse_args()
    django.setup()
    import logging

    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from accounts.services import session_start
    from posts import fragments
    from posts.models import Post
    from social.pagination import encode_cursor

    logging.disable(logging.INFO)  # the request log line would be most of what is measured
    settings.ALLOWED_HOSTS = ["*"]
    rng = random.Random(26)
    readers = list(User.objects.filter(is_active=True).order_by("pk")[:20])
    tokens = [session_start(user=reader).access for reader in readers]
    client = Client()

    def get(path: str, index: int) -> None:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {tokens[index % len(tokens)]}")
        assert response.status_code == 200, response.content[:300]

    ids = list(Post.objects.order_by("created_at", "id").values_list("created_at", "id"))
    anywhere = [ids[rng.randrange(len(ids))] for _ in range(options.requests)]
    deep = [f"/api/posts/all?limit=20&cursor={encode_cursor([at.isoformat(), pk])}" for at, pk in anywhere]
    recommended = "/api/posts/recommended?limit=20"
    for index in range(len(tokens)):
        get(recommended, index)  # each reader's kept ranking
        get("/api/posts/all?limit=20", index)

    def forget_all(_):
        try:
            fragments.cache_clear(likers=False)
        except TypeError:  # a tree before the likers' encodings
            fragments.cache_clear()

    def forget_own(_):
        try:
            fragments.cache_clear(shared=False, likers=False)
        except TypeError:  # a tree before the shared encodings or the likers' encodings
            try:
                fragments.cache_clear(shared=False)
            except TypeError:  # a tree before the shared encodings: there is nothing but its own
                fragments.cache_clear()

    def keep(_):
        pass

    modes = {
        "deep-cold": (deep, forget_all),
        "deep-shared": (deep, forget_own),
        "deep-local": (deep, keep),
        "first": (["/api/posts/all?limit=20"] * options.requests, keep),
        "recommended": ([recommended] * options.requests, keep),
    }
    profile = cProfile.Profile(time.process_time)  # CPU: a wait on PostgreSQL or Redis is not ours
    for mode, (paths, before_each) in modes.items():
        if mode == "deep-cold":
            # Once through the same pages first, as a running server has met such posts before:
            # "cold" means no encoding of them anywhere, not a first presigned URL for each
            # avatar (botocore's signing) nor PostgreSQL's first read of their pages from disk.
            for index, path in enumerate(paths):
                get(path, index)
        if mode in ("deep-shared", "deep-local"):
            for index, path in enumerate(paths):  # encoded (and shared) by "another process"
                get(path, index)
        spent = 0.0
        profiling = mode == options.profile
        for index, path in enumerate(paths):
            before_each(index)
            if profiling:
                profile.enable()
            start = time.process_time()
            get(path, index)
            spent += time.process_time() - start
            if profiling:
                profile.disable()
        print(f"{mode:12s} {spent * 1000 / len(paths):6.2f} ms CPU/request ({len(paths)} requests)")
    if options.profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
