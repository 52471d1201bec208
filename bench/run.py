"""`make bench`: load figures of the production shape on this machine, written to bench/RESULTS.md.

    .venv/bin/python -m bench.run [--quick] [--only-sockets | --only-photo] [--database-url URL] [--redis-url URL]

It uses its own services only: a database it drops and recreates (`social_bench` unless told),
a Redis database it flushes (DB 9 unless told) and a moto S3 server it starts. It seeds demo data
(manage.py seed_demo), starts the production shape (scripts.serve.Shape: nginx -> gunicorn +
daphne), a single daphne and the bare-Django floor (bench/floor, gunicorn), drives them with wrk
(HTTP, bench/load.py) and an asyncio WebSocket client (chat, bench/sockets.py), and stops every
process it started, also on an error or Ctrl-C. All traffic goes to 127.0.0.1. Every figure is
min / median / max over repeated runs (bench/stats.py); bench/report.py writes RESULTS.md.
"""

import argparse
import asyncio
import itertools
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.blocks import BLOCKS, blockers_seed, feed_plans  # noqa: E402
from bench.common import CORES, RESULTS, log, run  # noqa: E402
from bench.load import wrk_config, wrk_series  # noqa: E402
from bench.logins import login_figures, multipart, post_image_bytes  # noqa: E402
from bench.machine import FLUSH_COMMITS, commit_ms, load_average, machine  # noqa: E402
from bench.metrics_cost import metric_ops_us, metrics_cost, metrics_cost_lines  # noqa: E402
from bench.photo import photo_post_figures  # noqa: E402
from bench.report import http_summary, socket_lines, write_results  # noqa: E402
from bench.sockets import chat_fanout, idle_sockets  # noqa: E402
from bench.stats import fmt, mmm  # noqa: E402
from scripts.processes import BIN, daphne_command, free_port, stop, wait_http  # noqa: E402
from scripts.serve import Shape  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/social_bench"
REDIS_URL = "redis://127.0.0.1:6379/9"
BUCKET = "bench-media"

# What the run does; --quick shortens it for trying the driver out.
SETTINGS = {
    "duration": 5,  # seconds per wrk run
    "runs": 3,  # wrk runs per figure (min / median / max)
    "paired_runs": 5,  # runs of a goal's figure, each after a floor run (wrk_series)
    "warmup": 1,
    "small": {"users": 2000, "posts": 2000, "likes": 20000, "views": 5000, "chats": 100, "messages": 20000},
    "large": {"users": 3000, "posts": 48000, "likes": 480000, "views": 95000, "chats": 150, "messages": 80000},
    "chat_paced": 100,  # messages per paced run
    "chat_rate": 10,  # messages/s of a paced run: one socket's flood limit (CHAT_MESSAGE_RATE)
    "chat_flood": 300,  # messages per throughput run
    "idle_sockets": 1000,
    "logins": 30,
    "deep_pages": 2000,  # random cursors of the "pages from anywhere" feed figure
    "photo_runs": 5,  # posts with one 4000 × 3000 JPEG, timed in process (bench/photo.py)
    "comments": 1000,  # per post, on 20 posts (a post's comments page)
    "notifications": 1000,  # per reader (the notification list)
    "chats_per_reader": 200,  # chats of each reader (the messenger's chat list)
    "messages_per_chat": 5,
    "http_only": False,
}
# --only-sockets seeds just the users the socket figures need.
SOCKET_SEED = {"users": 200, "posts": 0, "likes": 0, "views": 0, "chats": 0, "messages": 0}
QUICK = {
    **SETTINGS,
    "duration": 2,
    "runs": 2,
    "paired_runs": 2,
    "chat_paced": 30,
    "chat_flood": 100,
    "idle_sockets": 200,
    "logins": 8,
    "photo_runs": 2,
}
QUICK["large"] = {"users": 500, "posts": 8000, "likes": 80000, "views": 8000, "chats": 20, "messages": 5000}
# --only-http: the HTTP figures alone on the full data, with shorter series, to iterate on a
# hot path in about four minutes (no sockets, logins, photos or metrics' cost; writes nothing
# but prints the figures and, with --output, their JSON).
ONLY_HTTP = {**SETTINGS, "duration": 3, "runs": 2, "paired_runs": 3, "http_only": True}


# --- processes ---------------------------------------------------------------------------------
class Processes:
    """Every process the bench starts; `stop_all` ends them (children first-in, last-out)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.popen: list[subprocess.Popen] = []
        self.shapes: list[Shape] = []

    def spawn(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        output = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        output.close()
        self.popen.append(process)
        return process

    def daphne(self, name: str, env: dict) -> tuple[int, subprocess.Popen]:
        """A daphne on a free port, answering: (port, process)."""
        port = free_port()
        process = self.spawn(name, daphne_command(port), env)
        wait_http(f"http://127.0.0.1:{port}/api/health", processes=[process])
        return port, process

    def stop(self, process: subprocess.Popen) -> None:
        stop([process])
        if process in self.popen:
            self.popen.remove(process)

    def stop_all(self) -> None:
        for shape in reversed(self.shapes):
            shape.stop()
        self.shapes.clear()
        stop(reversed(self.popen))
        self.popen.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs and smaller data, to try the driver")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--database-url", default=DATABASE_URL, help="dropped and recreated")
    parser.add_argument("--redis-url", default=REDIS_URL, help="its database is flushed")
    parser.add_argument(
        "--only-photo",
        action="store_true",
        help="only step (7), post creation with one 4000 × 3000 JPEG; prints it, writes nothing",
    )
    parser.add_argument(
        "--only-blocks",
        action="store_true",
        help=f"only the feed query of a reader with 0 and {BLOCKS} blocks on the small data: "
        "EXPLAIN ANALYZE and in-process time; prints them, writes nothing",
    )
    parser.add_argument(
        "--only-http",
        action="store_true",
        help="only the HTTP figures (full data, shorter series); prints them, writes --output's JSON if given",
    )
    parser.add_argument(
        "--only-sockets",
        action="store_true",
        help="only steps (5) and (6), fan-out and idle sockets of both kinds; prints them, writes nothing",
    )
    options = parser.parse_args()
    settings = QUICK if options.quick else ONLY_HTTP if options.only_http else SETTINGS

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

    work = Path(tempfile.mkdtemp(prefix="social-bench-"))
    processes = Processes(work)
    began = time.monotonic()
    try:
        if options.only_photo:
            figures = photo_bench(processes, settings, database_url=options.database_url, redis_url=options.redis_url)
            print(
                f"post_create, one 4000x3000 JPEG: {fmt(figures['photo_post_s'], 3, ' s')}, "
                f"CPU {fmt(figures['photo_post_cpu_s'], 3, ' s')}",
                flush=True,
            )
            return
        if options.only_blocks:
            blocks_bench(settings, database_url=options.database_url, redis_url=options.redis_url)
            return
        if options.only_sockets:
            figures = sockets_bench(processes, settings, database_url=options.database_url, redis_url=options.redis_url)
            print("\n".join(socket_lines(figures)), flush=True)
            return
        figures = bench(processes, work, settings, database_url=options.database_url, redis_url=options.redis_url)
        figures["elapsed_s"] = time.monotonic() - began
        if options.only_http:
            for line in http_summary(figures):
                print(line, flush=True)
            if options.output != str(RESULTS):
                Path(options.output).write_text(json.dumps(figures, indent=1, default=str))
            return
        for line in write_results(Path(options.output), figures, quick=options.quick):
            print(line, flush=True)
        print(f"wrote {options.output} in {figures['elapsed_s']:.0f} s", flush=True)
    except KeyboardInterrupt:
        print("interrupted: stopping every process the bench started", file=sys.stderr)
        sys.exit(130)
    finally:
        processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)


# --- the steps of a run ------------------------------------------------------------------------
def services_reset(*, database_url: str, redis_url: str) -> None:
    """The bench's own database, recreated, and its Redis database, flushed."""
    database, redis = urlsplit(database_url), urlsplit(redis_url)
    name, redis_db = database.path.lstrip("/"), redis.path.lstrip("/") or "0"
    run(["scripts/ensure-services.sh"])
    log(f"database {name} (recreated), Redis DB {redis_db} (flushed)")
    server = ["-h", database.hostname or "127.0.0.1", "-p", str(database.port or 5432), "-U", database.username]
    run(["dropdb", *server, "--if-exists", "--force", name])
    run(["createdb", *server, name])
    redis_server = ["-h", redis.hostname or "127.0.0.1", "-p", str(redis.port or 6379)]
    run(["redis-cli", *redis_server, "-n", redis_db, "FLUSHDB"])


def environment(processes: Processes, *, database_url: str, redis_url: str) -> dict:
    """The servers' environment, with a moto S3 server of the bench's own and its bucket."""
    moto_port = free_port()
    moto_command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)]
    moto = processes.spawn("moto", moto_command, dict(os.environ))
    wait_http(f"http://127.0.0.1:{moto_port}/moto-api/", processes=[moto])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "social.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "COOKIE_SECURE": "0",
        "STATIC_MANIFEST": "0",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_S3_ADDRESSING_STYLE": "path",
        "AWS_S3_URL_PROTOCOL": "http:",
        # The bench logs in and chats far faster than one client may: lift those limits only.
        "AUTH_RATE_LIMIT": "1000000/min",
        "SOCIAL_RATE_LIMITS": "off",
        "CHAT_MESSAGE_RATE": "100000",
        "CHAT_MESSAGE_BURST": "100000",
        # 1,000 idle sockets over 101 users, run after run: a stopped daphne's slots outlive
        # it for WS_SOCKET_SLOT_TTL, and the per-user cap would refuse the next run's sockets.
        "WS_MAX_SOCKETS_PER_USER": "100000",
    }
    for key in ("WEB_CONCURRENCY", "DB_POOL", "PORT"):
        env.pop(key, None)
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    return env


def manage(*args: str, env: dict) -> str:
    try:
        return run([str(BIN / "python"), "manage.py", *args], env).stdout
    except subprocess.CalledProcessError as failed:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{failed.stderr[-3000:]}") from None


def seed(counts: dict, *, env: dict) -> dict:
    """manage.py seed_demo with `counts`; its timings."""
    log(f"seeding {counts}")
    started = time.perf_counter()
    # No statement timeout: one COPY of 480k likes outlasts the servers' 15 s on a loaded machine.
    seed_env = {**env, "DB_STATEMENT_TIMEOUT_MS": "0"}
    out = manage("seed_demo", *[f"--{key}={value}" for key, value in counts.items()], "-v", "2", env=seed_env)
    total = time.perf_counter() - started
    pool = re.search(r"in ([\d.]+) s \(([\d.]+) s without", out)
    log(out.strip().splitlines()[-1])
    return {"counts": counts, "wall_s": total, "command_s": float(pool.group(1)), "no_pool_s": float(pool.group(2))}


def driver_setup(env: dict) -> None:
    """Django in this process too, on the bench's database: it mints tokens, picks ids and
    creates the bench chat. Persistent connections: the driver is one sync process."""
    os.environ.update({key: value for key, value in env.items() if key != "DB_POOL"})
    os.environ["DB_POOL"] = "0"
    import django

    django.setup()


def tokens_for(users) -> list[tuple[str, str]]:
    """(user id, access token of a new session) of each user."""
    from accounts.services import session_start

    return [(str(user.pk), session_start(user=user).access) for user in users]


def tokens_renewed(readers) -> list[tuple[str, str]]:
    """`readers` (from `tokens_for`) with new access tokens, in the same order: a token lives
    ACCESS_TOKEN_LIFETIME (15 minutes) and the whole run is longer, so a step that started
    late answered 401 to every request (the post creations of one run)."""
    from accounts.models import User

    users = {str(user.pk): user for user in User.objects.filter(pk__in=[pk for pk, _ in readers])}
    return tokens_for(users[pk] for pk, _ in readers)


@dataclass
class Servers:
    """What the HTTP figures run against: the shape, one daphne and the bare-Django floor."""

    env: dict
    shape: Shape
    shape_log: object
    shape_base: str
    daphne_base: str
    floor_base: str


def servers_start(processes: Processes, work: Path, env: dict) -> Servers:
    floor_port, shape_port = free_port(), free_port()
    floor = processes.spawn(
        "floor",
        [
            str(BIN / "gunicorn"),
            "bench.floor.wsgi:application",
            "--bind",
            f"127.0.0.1:{floor_port}",
            "--workers",
            str(CORES),
            "--control-socket",
            str(work / "floor.ctl"),
        ],
        {**env, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"},
    )
    shape_log = open(work / "shape.log", "ab")
    shape = Shape(shape_port, env=env, log=shape_log)
    processes.shapes.append(shape)
    shape.start()
    daphne_port, _ = processes.daphne("daphne-single", env)
    wait_http(f"http://127.0.0.1:{floor_port}/floor", processes=[floor])
    shape.wait_ready()
    return Servers(
        env=env,
        shape=shape,
        shape_log=shape_log,
        shape_base=f"http://127.0.0.1:{shape_port}",
        daphne_base=f"http://127.0.0.1:{daphne_port}",
        floor_base=f"http://127.0.0.1:{floor_port}",
    )


def feed_figures(figures: dict, servers: Servers, processes: Processes, settings: dict, work: Path, readers) -> None:
    """(1) the floor and /api/health; (2) the feed at 2k and 50k posts, from anywhere, without
    the encodings, and the recommended feed."""

    def cfg(name, requests, **kwargs):
        return wrk_config(work / f"{name}.lua", requests, **kwargs)

    shape_base, daphne_base, floor_base = servers.shape_base, servers.daphne_base, servers.floor_base
    log("(1) floor and /api/health")
    floor_cfg = cfg("floor", [{"path": "/floor"}])
    figures["floor"] = wrk_series(floor_base, floor_cfg, settings)
    paired = {"floor": (floor_base, floor_cfg)}
    health = cfg("health", [{"path": "/api/health"}])
    figures["health_shape"] = wrk_series(shape_base, health, settings, **paired)
    if not settings["http_only"]:
        figures["health_daphne"] = wrk_series(daphne_base, health, settings)

    feed = cfg("feed", [{"path": "/api/posts/all?limit=20", "token": token} for _, token in readers])
    log("(2) feed at 2k posts")
    figures["feed_small"] = wrk_series(shape_base, feed, settings, **paired)
    if not settings["http_only"]:
        figures["feed_small_daphne"] = wrk_series(daphne_base, feed, settings)
        metrics_figures(figures, servers, processes, settings, health=health, feed=feed)
    large_figures(figures, servers, processes, settings, work, readers, feed=feed, paired=paired)


def metrics_figures(figures: dict, servers: Servers, processes: Processes, settings: dict, *, health, feed) -> None:
    """(2b) metrics on vs off: health and feed at 2k posts, paired."""
    log("(2b) metrics on vs off: health and feed at 2k posts, paired")

    def start_shape(extra: dict) -> Shape:
        other = Shape(free_port(), env={**servers.env, **extra}, log=servers.shape_log)
        processes.shapes.append(other)
        other.start()
        other.wait_ready()
        return other

    figures["metrics_cost"] = metrics_cost(
        wrk_series=wrk_series,
        start_shape=start_shape,
        on_base=servers.shape_base,
        configs={"`/api/health`": health, "feed at 2k posts": feed},
        settings=settings,
    )
    figures["metrics_cost"]["ops_us"] = metric_ops_us(str(BIN / "python"), ROOT)
    for line in metrics_cost_lines(figures["metrics_cost"], fmt)[-5:-1]:
        log(line)  # now: the run may end early, its figures are written at the end


def large_figures(
    figures: dict, servers: Servers, processes: Processes, settings: dict, work: Path, readers, *, feed, paired
) -> None:
    """(2) the feed at 50k posts: first page, pages from anywhere, encodings off, recommended."""
    from posts.models import Like, Post
    from social.pagination import encode_cursor

    def cfg(name, requests, **kwargs):
        return wrk_config(work / f"{name}.lua", requests, **kwargs)

    shape_base = servers.shape_base
    figures["seed_large"] = seed(settings["large"], env=servers.env)
    from accounts.models import User

    figures["rows"] = {"posts": Post.objects.count(), "likes": Like.objects.count(), "users": User.objects.count()}
    log("(2) feed at 50k posts")
    figures["feed_large"] = wrk_series(shape_base, feed, settings, **paired)
    # The same page for readers who each block BLOCKS users (EXTENSIONS.md §5): the block rule
    # is one anti-join in the page query, which must not cost a reader with blocks much more.
    blockers = tokens_for(blockers_seed(count=BLOCKS, readers=len(readers), exclude_ids=[pk for pk, _ in readers]))
    feed_blocked = cfg("feed_blocked", [{"path": "/api/posts/all?limit=20", "token": token} for _, token in blockers])
    log(f"(2) feed at 50k posts, readers with {BLOCKS} blocks each")
    figures["feed_large_blocks"] = wrk_series(shape_base, feed_blocked, settings, **paired)
    figures["feed_blocks"] = BLOCKS
    # Pages from all over the table: each process meets posts it has not encoded yet
    # (posts/fragments.py) until its POST_CACHE_BYTES is full, then evicts the oldest.
    anywhere = Post.objects.order_by("?").values_list("created_at", "pk")[: settings["deep_pages"]]
    deep = cfg(
        "feed_deep",
        [
            {"path": f"/api/posts/all?limit=20&cursor={encode_cursor([at.isoformat(), pk])}", "token": token}
            for (at, pk), (_, token) in zip(anywhere, itertools.cycle(readers), strict=False)
        ],
    )
    log("(2) feed at 50k posts, pages from anywhere")
    figures["feed_deep"] = wrk_series(shape_base, deep, settings, **paired)
    if not settings["http_only"]:  # a shape of its own: a minute on a loaded machine
        log("(2) feed at 50k posts, encodings off (POST_CACHE_BYTES=0, POST_SHARED_CACHE_TTL=0)")
        off = {"POST_CACHE_BYTES": "0", "POST_SHARED_CACHE_TTL": "0"}
        uncached = Shape(free_port(), env={**servers.env, **off}, log=servers.shape_log)
        processes.shapes.append(uncached)
        uncached.start()
        uncached.wait_ready()
        figures["feed_large_uncached"] = wrk_series(f"http://127.0.0.1:{uncached.port}", feed, settings)
        uncached.stop()
    # Every request is a first page: the recommended feed's heavy path (candidates, scores,
    # snapshot); next pages cost what a feed page costs.
    recommended = cfg(
        "recommended", [{"path": "/api/posts/recommended?limit=20", "token": token} for _, token in readers]
    )
    log("(2) recommended feed at 50k posts")
    figures["recommended_large"] = wrk_series(shape_base, recommended, settings, **paired)


def social_figures(figures: dict, servers: Servers, settings: dict, work: Path, readers) -> None:
    """(2) the notification list and a post's comments page at the large data, each paired
    with floor runs (their ratio to the floor). The seeding makes neither, so they are written
    here: `settings["comments"]` comments on each of 20 recent posts (counters through
    posts/state.py, as the service moves them) and `settings["notifications"]` notifications
    for each reader."""
    from accounts.models import User
    from notifications.models import Notification
    from posts.models import Comment, Post
    from posts.state import post_state_move

    recent = list(Post.objects.order_by("-created_at").values_list("pk", "author_id")[:20])
    authors = list(User.objects.order_by("?").values_list("pk", flat=True)[:200])
    per_post = settings["comments"]
    for post_id, _ in recent:
        Comment.objects.bulk_create(
            Comment(post_id=post_id, author_id=authors[i % len(authors)], text=f"Комментарий {i}")
            for i in range(per_post)
        )
        post_state_move(posts=Post.objects.filter(pk=post_id), comments=per_post)
    for user_id, _ in readers:
        Notification.objects.bulk_create(
            Notification(
                recipient_id=user_id,
                actor_id=authors[i % len(authors)],
                type=Notification.Type.POST_COMMENTED,
                post_id=recent[i % len(recent)][0],
                text=f"Комментарий {i}",
                read=i % 3 == 0,
            )
            for i in range(settings["notifications"])
        )
    floor = wrk_config(work / "floor.lua", [{"path": "/floor"}])
    paired = {"floor": (servers.floor_base, floor)}
    log("(2) notification list, a post's comments page")
    notifications = wrk_config(
        work / "notifications.lua", [{"path": "/api/notifications?limit=20", "token": token} for _, token in readers]
    )
    figures["notifications_list"] = wrk_series(servers.shape_base, notifications, settings, **paired)
    comments = wrk_config(
        work / "comments.lua",
        [
            {"path": f"/api/posts/{recent[i % len(recent)][0]}/comments?limit=20", "token": token}
            for i, (_, token) in enumerate(readers)
        ],
    )
    figures["comments_page"] = wrk_series(servers.shape_base, comments, settings, **paired)
    chat_list_figures(figures, servers, settings, work, readers, paired=paired)


def chat_list_figures(figures: dict, servers: Servers, settings: dict, work: Path, readers, *, paired) -> None:
    """(2) the messenger's chat list `/api/chats?limit=20` of readers with
    `settings["chats_per_reader"]` chats each (two members, a few messages each, written here
    in bulk as the seeding does: the chat's `last_message_at` beside its messages)."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import User
    from chats.models import Chat, ChatMember, Message

    reader_ids = [user_id for user_id, _ in readers]
    others = list(User.objects.exclude(pk__in=reader_ids).order_by("?").values_list("pk", flat=True)[:500])
    per_reader, per_chat = settings["chats_per_reader"], settings["messages_per_chat"]
    now = timezone.now()
    for r, (user_id, _) in enumerate(readers):
        chats = Chat.objects.bulk_create(
            Chat(title=f"Чат {r}-{i}", last_message_at=now - timedelta(minutes=i), messages_count=per_chat)
            for i in range(per_reader)
        )
        ChatMember.objects.bulk_create(
            member
            for i, chat in enumerate(chats)
            for member in (ChatMember(chat=chat, user_id=user_id), ChatMember(chat=chat, user_id=others[i % 500]))
        )
        Message.objects.bulk_create(
            Message(chat=chat, user_id=(user_id if k % 2 else others[i % 500]), text=f"Сообщение {k}")
            for i, chat in enumerate(chats)
            for k in range(per_chat)
        )
    log(f"(2) chat list of {per_reader} chats")
    chat_list = wrk_config(
        work / "chat_list.lua", [{"path": "/api/chats?limit=20", "token": token} for _, token in readers]
    )
    figures["chat_list"] = wrk_series(servers.shape_base, chat_list, settings, **paired)


def write_figures(figures: dict, servers: Servers, settings: dict, work: Path, readers) -> None:
    """(3) like toggles and post creation through the shape."""
    from posts.models import Post

    log("(3) like toggle, post create")
    recent = list(Post.objects.order_by("-created_at").values_list("pk", flat=True)[:200])
    likes = wrk_config(
        work / "like.lua",
        [
            {"path": f"/api/posts/{recent[(i * 7 + j) % len(recent)]}/like/{user_id}", "token": token}
            for i, (user_id, token) in enumerate(readers)
            for j in range(10)
        ],
        method="PATCH",
    )
    floor = wrk_config(work / "floor.lua", [{"path": "/floor"}])
    figures["like_toggle"] = wrk_series(servers.shape_base, likes, settings, floor=(servers.floor_base, floor))
    if settings["http_only"]:
        return
    boundary = "benchboundary" + secrets.token_hex(8)
    image = post_image_bytes()
    creates = []
    for i, (user_id, token) in enumerate(readers):
        body = work / f"create-{i}.body"
        body.write_bytes(multipart(boundary, {"author": user_id, "description": f"Пост из бенчмарка {i}"}, image))
        creates.append({"path": "/api/posts/create", "token": token, "body_file": body})
    create = wrk_config(
        work / "create.lua", creates, method="POST", content_type=f"multipart/form-data; boundary={boundary}"
    )
    figures["post_create"] = wrk_series(servers.shape_base, create, settings)
    figures["post_create_image_kb"] = len(image) / 1024


def chat_figures(figures: dict, processes: Processes, env: dict, settings: dict) -> None:
    """(5) fan-out over two daphne processes, on the chat socket and on the user socket; (6) the
    memory of idle sockets of both kinds."""
    from accounts.models import User
    from chats.models import Chat, ChatMember

    members_users = list(User.objects.order_by("?")[:101])
    chat = Chat.objects.create(title="Бенчмарк")
    ChatMember.objects.bulk_create([ChatMember(chat=chat, user=u) for u in members_users])
    members = tokens_for(members_users)
    figures["chat_members"] = len(members) - 1
    for kind, key in (("chat", "chat"), ("user", "user_fanout")):
        log(f"(5) fan-out on two daphne processes, {kind} sockets")
        daphnes = [processes.daphne(f"daphne-{kind}-{i}", env) for i in range(2)]
        ports = tuple(port for port, _ in daphnes)
        pids = tuple(process.pid for _, process in daphnes)
        figures[key] = asyncio.run(chat_fanout(ports, chat.pk, members[0], members[1:], settings, kind, pids))
        for _, process in daphnes:
            processes.stop(process)

    for kind, key in (("chat", "idle"), ("user", "idle_user")):
        log(f"(6) memory of idle {kind} sockets")
        samples = []
        for i in range(settings["runs"]):
            port, process = processes.daphne(f"daphne-idle-{kind}-{i}", env)
            samples.append(
                asyncio.run(idle_sockets(port, process.pid, chat.pk, members, settings["idle_sockets"], kind))
            )
            processes.stop(process)
        figures[key] = {name: mmm([sample[name] for sample in samples]) for name in samples[0]}
    figures["idle_sockets"] = settings["idle_sockets"]


def bench(processes: Processes, work: Path, settings: dict, *, database_url: str, redis_url: str) -> dict:
    figures: dict = {"load_before": load_average(), "settings": settings}
    services_reset(database_url=database_url, redis_url=redis_url)
    env = environment(processes, database_url=database_url, redis_url=redis_url)
    manage("migrate", "--noinput", "-v", "0", env=env)
    driver_setup(env)
    figures["machine"] = machine()
    # What a durable commit waits for here: the like toggle's figure is bound by it (bench/commit_wait.py).
    figures["commit_ms"] = {**commit_ms(database_url), "count": FLUSH_COMMITS}
    figures["seed_small"] = seed(settings["small"], env=env)

    from accounts.models import User

    readers = tokens_for(User.objects.order_by("?")[:16])
    servers = servers_start(processes, work, env)
    figures["workers"] = servers.shape.workers
    feed_figures(figures, servers, processes, settings, work, readers)
    readers = tokens_renewed(readers)
    social_figures(figures, servers, settings, work, readers)
    readers = tokens_renewed(readers)
    write_figures(figures, servers, settings, work, readers)
    if settings["http_only"]:
        processes.stop_all()
        servers.shape_log.close()
        figures["load_after"] = load_average()
        return figures
    log("(4) login")
    figures["login"] = login_figures(servers.shape.port, settings, work)
    chat_figures(figures, processes, env, settings)
    photo_post_figures(figures, settings)

    processes.stop_all()
    servers.shape_log.close()
    figures["load_after"] = load_average()
    return figures


def blocks_bench(settings: dict, *, database_url: str, redis_url: str) -> None:
    """The feed query for a reader with 0 and BLOCKS blocks, on the small seeded data: its
    EXPLAIN ANALYZE and median time in process. No server: a minute, not the whole run."""
    services_reset(database_url=database_url, redis_url=redis_url)
    processes = Processes(Path(tempfile.mkdtemp(prefix="social-bench-blocks-")))
    try:
        env = environment(processes, database_url=database_url, redis_url=redis_url)
        manage("migrate", "--noinput", "-v", "0", env=env)
        driver_setup(env)
        seed(settings["small"], env=env)
        from accounts.models import User

        plain = User.objects.order_by("?").first()
        (blocker,) = blockers_seed(count=BLOCKS, readers=1, exclude_ids=[plain.pk])
        for name, figures in feed_plans(plain=plain, blocker=blocker).items():
            print(f"--- feed page query, reader with {name}: median {figures['median_ms']:.3f} ms in process")
            print(figures["plan"], flush=True)
    finally:
        processes.stop_all()


def sockets_bench(processes: Processes, settings: dict, *, database_url: str, redis_url: str) -> dict:
    """Steps (5) and (6) alone, on the bench's own services: the socket figures in minutes."""
    figures: dict = {"load_before": load_average(), "settings": settings}
    services_reset(database_url=database_url, redis_url=redis_url)
    env = environment(processes, database_url=database_url, redis_url=redis_url)
    manage("migrate", "--noinput", "-v", "0", env=env)
    driver_setup(env)
    seed(SOCKET_SEED, env=env)
    chat_figures(figures, processes, env, settings)
    figures["load_after"] = load_average()
    return figures


def photo_bench(processes: Processes, settings: dict, *, database_url: str, redis_url: str) -> dict:
    """Step (7) alone, on the bench's own services: a minute instead of the whole run's seven."""
    figures: dict = {"settings": settings}
    services_reset(database_url=database_url, redis_url=redis_url)
    env = environment(processes, database_url=database_url, redis_url=redis_url)
    manage("migrate", "--noinput", "-v", "0", env=env)
    driver_setup(env)
    photo_post_figures(figures, settings)
    return figures


if __name__ == "__main__":
    main()
