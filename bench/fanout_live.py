"""The fan-out (5) of `make bench` on live daphnes, the code before a change and after it
alternating in one run (issue #26): the machine's speed drifts by tens of percent within
minutes, so separate runs do not compare. Each round starts two daphnes of one code tree (this
checkout, or `--before REF` exported with `git archive` to a temporary directory and served
by the same virtualenv), runs `bench.sockets.chat_fanout` (one sender on the first daphne, 100
members over both) and stops them. It reports the daphnes' CPU per message sent (the
sender's and the other's, paced and back to back), the paced p50/p99 latency and the
back-to-back rate, each as min / median over the rounds of each tree.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<yours>_live REDIS_URL=redis://127.0.0.1:6379/<yours> \\
        .venv/bin/python -m bench.fanout_live --before REF [--rounds 3] [--kind chat|user] [--py-spy FILE]

The database named is dropped and recreated; the Redis database is left as it is (the
flood limit is lifted for these runs only).
"""

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import log, run  # noqa: E402
from bench.machine import load_average  # noqa: E402
from bench.sockets import chat_fanout  # noqa: E402
from scripts.processes import BIN, daphne_command, free_port, stop, wait_http  # noqa: E402

MEMBERS = 100
FIGURES = (
    "paced_cpu_sender_ms",
    "paced_cpu_other_ms",
    "flood_cpu_sender_ms",
    "flood_cpu_other_ms",
    "paced_p50",
    "paced_p99",
    "flood_mps",
)


def environment(database_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "social.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "COOKIE_SECURE": "0",
        "STATIC_MANIFEST": "0",
        "AUTH_RATE_LIMIT": "1000000/min",
        "SOCIAL_RATE_LIMITS": "off",
        "CHAT_MESSAGE_RATE": "100000",
        "CHAT_MESSAGE_BURST": "100000",
        "WS_MAX_SOCKETS_PER_USER": "100000",
    }
    for key in ("WEB_CONCURRENCY", "DB_POOL", "PORT"):
        env.pop(key, None)
    return env


def database_recreate(database_url: str, env: dict) -> None:
    database = urlsplit(database_url)
    server = ["-h", database.hostname or "127.0.0.1", "-p", str(database.port or 5432), "-U", database.username]
    run(["dropdb", *server, "--if-exists", "--force", database.path.lstrip("/")])
    run(["createdb", *server, database.path.lstrip("/")])
    run([str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"], env)


def chat_seed(env: dict):
    """A group chat of MEMBERS + 1 users: (chat id, sender, members), each (user id, token)."""
    os.environ.update({key: value for key, value in env.items() if key != "DB_POOL"})
    os.environ["DB_POOL"] = "0"
    import django

    django.setup()
    from accounts.services import session_start
    from accounts.tests.factories import UserFactory
    from chats.models import Chat, ChatMember

    users = UserFactory.create_batch(MEMBERS + 1)
    chat = Chat.objects.create(title="Бенчмарк")
    ChatMember.objects.bulk_create([ChatMember(chat=chat, user=user) for user in users])
    tokens = [(str(user.pk), session_start(user=user).access) for user in users]
    return chat.pk, tokens[0], tokens[1:]


def daphnes_start(tree: Path, env: dict, logs: Path, name: str) -> list[tuple[int, subprocess.Popen]]:
    started = []
    for index in range(2):
        port = free_port()
        with open(logs / f"{name}-{index}.log", "ab") as output:
            # cwd: daphne puts the current directory first on sys.path, so the tree's code is served.
            process = subprocess.Popen(daphne_command(port), cwd=tree, env=env, stdout=output, stderr=subprocess.STDOUT)
        started.append((port, process))
    for port, process in started:
        wait_http(f"http://127.0.0.1:{port}/api/health", processes=[process])
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the git ref of the code before the change")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each tree")
    parser.add_argument("--kind", choices=("chat", "user"), default="chat")
    parser.add_argument("--py-spy", metavar="FILE", help="py-spy's collapsed stacks of the last sender daphne (after)")
    args = parser.parse_args()
    spy = None
    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    env = environment(database_url, redis_url)
    settings = {"runs": 1, "chat_paced": 100, "chat_rate": 10, "chat_flood": 300}
    with tempfile.TemporaryDirectory(prefix="fanout-before-") as before_dir:
        before = Path(before_dir)
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        logs = Path(tempfile.mkdtemp(prefix="fanout-logs-"))
        database_recreate(database_url, env)
        chat_id, sender, members = chat_seed(env)
        load_before = load_average()
        results: dict[str, list[dict]] = {"before": [], "after": []}
        for round_index in range(args.rounds):
            for name, tree in (("before", before), ("after", ROOT)):
                log(f"round {round_index + 1}: {name} ({args.kind} sockets)")
                daphnes = daphnes_start(tree, env, logs, f"{name}-{round_index}")
                try:
                    ports = tuple(port for port, _ in daphnes)
                    pids = tuple(process.pid for _, process in daphnes)
                    spy = None
                    if args.py_spy and name == "after" and round_index == args.rounds - 1:
                        spy = subprocess.Popen(
                            [str(BIN / "py-spy"), "record", "--format", "raw", "--gil", "-r", "250"]
                            + ["-o", args.py_spy, "--pid", str(pids[0])],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    figures = asyncio.run(chat_fanout(ports, chat_id, sender, members, settings, args.kind, pids))
                finally:
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(timeout=60)
                    stop([process for _, process in daphnes])
                results[name].append({key: figures[key]["median"] for key in FIGURES})
    print(f"\n{args.kind} sockets, 1 → {MEMBERS} members on two daphnes, {args.rounds} rounds of each tree")
    for key in FIGURES:
        cells = []
        for name in ("before", "after"):
            values = [round_figures[key] for round_figures in results[name]]
            cells.append(f"{name} min {min(values):8.2f} median {statistics.median(values):8.2f}")
        print(f"  {key:20} {' | '.join(cells)}")
    print(f"load average before {load_before}, after {load_average()}; daphne logs in {logs}")


if __name__ == "__main__":
    main()
