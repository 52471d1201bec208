"""A feed page from anywhere (`make bench`'s "pages from anywhere": GET /api/posts/all at a
random cursor), two trees or more side by side: one child process per tree, each running it in
process through Django's test client (authentication, DRF dispatch, statements, encoding), the
trees alternating round by round on the same random pages (issue #26: the machine is shared,
and separate runs differ by more than the cuts measured). What is measured:

- cold: no process holds their encodings, neither this one nor the shared Redis (the likers'
  encodings stay, as in a process that has served a while): each page reads and encodes them;
- shared: another process encoded them (in Redis), this one has not;
- warm: this process holds them;
- first: the feed's first page, warm (for comparison: `make bench`'s first-page figure);
- like: a like toggle of a page's first post by its reader, each undone by a second toggle
  (both counted: the data stays as it was).

Each child runs its tree's gunicorn `post_worker_init` hook first, as a worker of the shape
would. CPU ms per request of the child (`time.process_time`) and of its PostgreSQL backend
(/proc, in clock ticks: coarse), least and median of the rounds. On the data of `make bench`
(`manage.py seed_demo --users=3000 --posts=48000 --likes=480000 --views=95000`) with the
bench's storage (a moto S3 server, presigned URLs), as bench/deep_ab.py:

    DATABASE_URL=... REDIS_URL=... AWS_STORAGE_BUCKET_NAME=... AWS_S3_ENDPOINT_URL=... \\
        .venv/bin/python bench/deep_trees.py /work/main,/work/wt-x [--rounds 9] [--pages 60]

A commit's tree: `git archive <commit> | tar -x -C <dir>`. With `--profile TREE:STATE`, only a
cProfile (CPU time) of that tree's pages in that state. It writes Redis keys (shared
encodings) and the readers' sessions; the like toggles leave the likes as they were, but move
the posts' revs and add the authors' notifications.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

# Runs in a child, in the tree under test (its code on sys.path first).
CHILD = r"""
import json, os, random, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
import django
django.setup()
import logging
from django.conf import settings
from django.test import Client
from accounts.models import User
from accounts.services import session_start
from bench.like_cpu import backend_cpu_ms
from posts import fragments
from posts.models import Post
from social.pagination import encode_cursor

logging.disable(logging.INFO)
settings.ALLOWED_HOSTS = ["*"]
pages_wanted = int(sys.argv[2])
rng = random.Random(26)
readers = list(User.objects.filter(is_active=True).order_by("pk")[:20])
tokens = [session_start(user=reader).access for reader in readers]
client = Client()
ids = list(Post.objects.order_by("created_at", "id").values_list("created_at", "id"))
starts = [ids[rng.randrange(len(ids))] for _ in range(pages_wanted)]
pages = [f"/api/posts/all?limit=20&cursor={encode_cursor([at.isoformat(), pk])}" for at, pk in starts]
likes = [f"/api/posts/{pk}/like/{readers[index % len(readers)].pk}" for index, (_, pk) in enumerate(starts)]
del ids  # 48,000 rows no worker holds: the collector would walk them
# What the tree's gunicorn worker runs once the application is loaded (its post_worker_init).
import gc, runpy
gc.collect()
hook = runpy.run_path(os.path.join(sys.argv[1], "deploy", "gunicorn.conf.py")).get("post_worker_init")
if hook is not None:
    hook(None)

def get(index, state="cold"):
    token = f"Bearer {tokens[index % len(tokens)]}"
    if state == "like":  # twice: the like and its undoing, the data as it was
        for _ in range(2):
            response = client.patch(likes[index], HTTP_AUTHORIZATION=token)
            assert response.status_code == 200, response.content[:300]
        return response.content
    path = "/api/posts/all?limit=20" if state == "first" else pages[index]
    response = client.get(path, HTTP_AUTHORIZATION=token)
    assert response.status_code == 200, response.content[:300]
    return response.content

def forget(state):
    if state == "cold":
        fragments.cache_clear(likers=False)
    elif state == "shared":
        fragments.cache_clear(shared=False, likers=False)

def prepare(state, index):
    # A shared page: encoded once (by "another process") before this one forgets its own; a
    # warm one: met just before by this process.
    if state == "shared":
        fragments.cache_clear(likers=False)
        get(index)
    elif state in ("warm", "first"):
        get(index, state)
    forget(state)

for index in range(len(pages)):  # met once, cold: URLs signed, likers kept, pages in memory
    fragments.cache_clear(likers=False)
    get(index)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    state = command["state"]
    if command.get("profile"):
        import cProfile, io, pstats
        profile = cProfile.Profile(time.process_time)
        for index in range(len(pages)):
            prepare(state, index)
            profile.enable()
            get(index)
            profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(command.get("sort", "cumulative")).print_stats(60)
        print(json.dumps({"profile": out.getvalue()}), flush=True)
        continue
    total = 0.0
    server = 0.0
    for index in range(len(pages)):
        prepare(state, index)
        server_start = backend_cpu_ms()
        start = time.process_time()
        get(index, state)
        total += time.process_time() - start
        server += backend_cpu_ms() - server_start
    requests = len(pages) * (2 if state == "like" else 1)
    print(json.dumps({"cpu": total * 1000 / requests, "pg": server / requests}), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--states", default="cold,shared,warm,first,like")
    parser.add_argument("--profile", help="TREE:STATE, a cProfile of that tree's pages instead")
    parser.add_argument("--sort", default="cumulative")
    options = parser.parse_args()
    trees = options.trees.split(",")
    python = sys.executable
    children = {}
    for tree in trees:
        children[tree] = subprocess.Popen(
            [python, "-c", CHILD, tree, str(options.pages)],
            cwd=tree,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert json.loads(children[tree].stdout.readline())["ready"]

    def ask(tree: str, command: dict) -> dict:
        child = children[tree]
        child.stdin.write(json.dumps(command) + "\n")
        child.stdin.flush()
        return json.loads(child.stdout.readline())

    try:
        if options.profile:
            tree, state = options.profile.rsplit(":", 1)
            print(ask(tree, {"state": state, "profile": True, "sort": options.sort})["profile"])
            return
        states = options.states.split(",")
        figures = {(tree, state): [] for tree in trees for state in states}
        for number in range(options.rounds):
            for state in states:
                for tree in trees if number % 2 == 0 else trees[::-1]:
                    figures[tree, state].append(ask(tree, {"state": state}))
        print(f"load average {os.getloadavg()[0]:.1f}; {options.rounds} rounds of {options.pages} pages")
        for (tree, state), values in figures.items():
            cpu = [value["cpu"] for value in values]
            pg = [value["pg"] for value in values]
            print(
                f"{state:6s} {tree:18s} CPU min {min(cpu):5.2f} med {statistics.median(cpu):5.2f} ms/request"
                f" | PostgreSQL min {min(pg):5.2f} med {statistics.median(pg):5.2f} ms"
            )
    finally:
        for child in children.values():
            child.stdin.close()
            child.wait()


if __name__ == "__main__":
    main()
