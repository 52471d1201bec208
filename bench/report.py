"""bench/RESULTS.md from a run's figures."""

import json
from datetime import UTC, datetime
from pathlib import Path

from bench.metrics_cost import metrics_cost_lines
from bench.stats import fmt

CPU_ROWS = [
    ("(1) floor", "floor"),
    ("(1) `/api/health` through the shape", "health_shape"),
    ("(2) feed at 2k posts", "feed_small"),
    ("(2) feed at 50k posts, first page", "feed_large"),
    ("(2) feed at 50k posts, readers with 500 blocks", "feed_large_blocks"),
    ("(2) feed at 50k posts, pages from anywhere", "feed_deep"),
    ("(2) feed at 50k posts, encodings off", "feed_large_uncached"),
    ("(2) recommended feed, first page", "recommended_large"),
    ("(2) notification list", "notifications_list"),
    ("(2) a post's comments page", "comments_page"),
    ("(2) chat list (200 chats)", "chat_list"),
    ("(3) like toggle", "like_toggle"),
]


# The HTTP goals (issue #26): a path's throughput as a ratio to the floor run beside it.
HTTP_GOALS = [
    ("`/api/health` through the shape", "health_shape", 0.5),
    ("feed at 50k posts, first page", "feed_large", 0.3),
    ("feed at 50k posts, pages from anywhere (random cursors)", "feed_deep", 0.1),
    ("recommended feed, first page", "recommended_large", 0.1),
    ("like toggle `PATCH …/like/<me>`", "like_toggle", 0.15),
    ("the messenger's chat list (200 chats)", "chat_list", 0.15),
    ("notifications page", "notifications_list", 0.15),
    ("a post's comments page", "comments_page", 0.15),
]
# A figure is called out when it is worse than the committed RESULTS.json by more than the
# noise: the larger relative spread (max − min over median) of the two runs' series, and at
# least NOISE_FLOOR (pairs of runs minutes apart on this shared machine differ by ~10%).
NOISE_FLOOR = 0.10


def ratio_of(f: dict, key: str) -> dict | None:
    """The figure's ratio to the floor as min/median/max: the pairs' ratios when it was paired
    with floor runs, else its req/s over the floor's median."""
    x = f.get(key)
    if not isinstance(x, dict) or "rps" not in x:
        return None
    if "ratio" in x:
        return x["ratio"]
    floor = f["floor"]["rps"]["median"]
    return {k: x["rps"][k] / floor for k in ("min", "median", "max")}


def goal_lines(f: dict) -> list[tuple[str, bool]]:
    """(line, met) of every HTTP goal the run measured."""
    lines = []
    for label, key, goal in HTTP_GOALS:
        r = ratio_of(f, key)
        if r is None:
            continue
        paired = f"over {r['n']} pairs" if "n" in r else "to the floor's median"
        text = f"{label} ≥ {goal} × floor: {r['median']:.3f} × ({r['min']:.3f}–{r['max']:.3f} {paired})"
        lines.append((text, r["median"] >= goal))
    return lines


def _spread(stats: dict) -> float:
    return (stats["max"] - stats["min"]) / stats["median"] if stats["median"] else 0.0


def regressions(f: dict, committed: dict) -> list[str]:
    """Figures worse than the committed run's by more than the noise, one line each."""
    found = []
    keys = [key for key, value in f.items() if isinstance(value, dict) and "rps" in value and key != "floor"]
    for key in keys:
        new, old = ratio_of(f, key), ratio_of(committed, key) if "floor" in committed else None
        if new is None or old is None:
            continue
        noise = max(NOISE_FLOOR, _spread(new), _spread(old))
        if new["median"] < old["median"] * (1 - noise):
            found.append(
                f"`{key}`: {new['median']:.3f} × floor, committed {old['median']:.3f} × "
                f"({new['median'] / old['median'] - 1:+.0%}; noise ±{noise:.0%})"
            )
    # Socket figures, where lower is better for latency and memory, higher for throughput.
    for section, key, higher_is_better in (
        ("chat", "paced_p99", False),
        ("chat", "flood_dps", True),
        ("idle", "growth_mb", False),
    ):
        new, old = f.get(section, {}).get(key), committed.get(section, {}).get(key)
        if not new or not old:
            continue
        noise = max(NOISE_FLOOR, _spread(new), _spread(old))
        change = new["median"] / old["median"] - 1
        if (change < -noise) if higher_is_better else (change > noise):
            found.append(
                f"`{section}.{key}`: {new['median']:.1f}, committed {old['median']:.1f} "
                f"({change:+.0%}; noise ±{noise:.0%})"
            )
    return found


def http_summary(f: dict, committed: dict | None = None) -> list[str]:
    """What `make bench` prints: every goal met or missed, then the figures worse than the
    committed RESULTS.json by more than the noise."""
    lines = [f"goal {'met' if ok else 'MISSED'}: {text}" for text, ok in goal_lines(f)]
    for key in [key for key, value in f.items() if isinstance(value, dict) and "rps" in value]:
        r = ratio_of(f, key)
        cpu = sum(f[key].get("cpu_ms_per_request", {}).values())
        lines.append(
            f"  {key}: {fmt(f[key]['rps'])} req/s, p50 {fmt(f[key]['p50_ms'], 1)} ms, "
            f"{r['median']:.3f} × floor, {cpu:.2f} ms CPU/request"
        )
    committed = committed_results() if committed is None else committed
    worse = regressions(f, committed) if committed else []
    worse_lines = [f"WORSE than the committed RESULTS: {line}" for line in worse]
    lines += worse_lines or ["no figure worse than the committed RESULTS by more than the noise"]
    return lines


def committed_results() -> dict:
    """The committed run's figures (bench/RESULTS.json), read before this run overwrites them."""
    path = Path(__file__).resolve().parent / "RESULTS.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def photo_lines(f: dict) -> list[str]:
    """(7), when the run had it (bench/photo.py)."""
    if "photo_post_s" not in f:
        return []
    return [
        f"## Post creation with one 4000 × 3000 JPEG (7), in process ({f['photo_post_kb']:.0f} KB upload)",
        "",
        f"- `posts.services.post_create`: {fmt(f['photo_post_s'], 3, ' s')} per post, "
        f"{fmt(f['photo_post_cpu_s'], 3, ' s')} of CPU (decode, re-encode, variants and blurhash, S3 "
        "writes, rows). Alone: `make bench BENCH_ARGS=--only-photo`.",
        "",
    ]


def write_results(path: Path, f: dict, *, quick: bool, committed: dict | None = None) -> list[str]:
    """Write RESULTS.md and RESULTS.json; returns the summary lines (goals, regressions)."""
    committed = committed_results() if committed is None else committed
    summary = http_summary(f, committed)
    m = f["machine"]
    floor = f["floor"]["rps"]["median"]
    f["login_wrk"] = f["login"]["wrk"]

    def ratio(key: str) -> str:
        if "ratio" in f[key]:  # paired with floor runs (wrk_series)
            return f"{f[key]['ratio']['median']:.3f} (paired)"
        return f"{f[key]['rps']['median'] / floor:.2f}"

    def http_row(label: str, key: str, note: str = "") -> str:
        x = f[key]
        return (
            f"| {label} | {fmt(x['rps'])} | {fmt(x['p50_ms'], 1)} | {fmt(x['p99_ms'], 1)} | {ratio(key)} | "
            f"{x['errors']} | {note} |"
        )

    login = f["login"]
    argon_share = login["argon2_ms"]["median"] / login["latency_ms"]["median"]
    chat = f["chat"]
    idle = f["idle"]
    # The goals' ratios: medians of per-pair ratios (each run against a floor run just before).
    feed_ratio = f["feed_large"]["ratio"]["median"]
    feed_vs_small = feed_ratio / f["feed_small"]["ratio"]["median"]

    s = f["settings"]
    large = f["seed_large"]

    def cpu_row(label: str, key: str) -> str:
        cpu = f[key].get("cpu_ms_per_request", {})
        kinds = ["gunicorn", "postgres", "nginx", "redis-server", "daphne", "moto_server", "wrk"]
        cells = [f"{cpu.get(kind, 0):.3f}" for kind in kinds]
        idle_share = f[key].get("idle_share")  # absent from runs before it was measured
        idle_cell = f"{idle_share:.0%}" if idle_share is not None else "—"
        return f"| {label} | " + " | ".join(cells) + f" | {sum(cpu.get(kind, 0) for kind in kinds):.3f} | {idle_cell} |"

    def commit_lines(f: dict) -> list[str]:
        commit = f.get("commit_ms")  # absent from runs before it was measured
        if commit is None:
            return []
        durable, asynchronous = commit["durable"], commit["asynchronous"]
        return [
            f"- One commit of a one-row insert on the bench's PostgreSQL, timed alone "
            f"({commit['count']} each, median, least): durable {durable['median']:.3f} ms "
            f"({durable['min']:.3f}), without waiting for the WAL's flush (`synchronous_commit = off`, the "
            f"timing's own transactions only) {asynchronous['median']:.3f} ms ({asynchronous['min']:.3f}). "
            "Every write the API acknowledges waits for that flush; the servers never turn it off."
        ]

    def goal(ok: bool) -> str:
        return "met" if ok else "**missed**"

    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`bench/run.py`{' --quick: NOT the full run' if quick else ''}) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {f['elapsed_s']:.0f} s. Every figure: **median** "
        f"(min–max) over {s['runs']} runs of {s['duration']} s after a {s['warmup']} s warm-up; wrk `-t2 -c16`. "
        "Ratios are to the floor's median in the same run, except for the goals' figures: each of "
        f"their {s['paired_runs']} runs follows a run of the floor, and their ratio is the median of the "
        "pairs' ratios (the machine's speed drifts by tens of percent within minutes).",
        "",
        "## Machine",
        "",
        f"- {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB memory, Linux {m['kernel']}",
        f"- Python {m['python']}, Django {m['django']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}, "
        f"nginx {m['nginx']}, wrk {m['wrk']}, gunicorn {m['gunicorn']}, daphne {m['daphne']}; S3: moto server",
        f"- Load average (1/5/15 min) before: {f['load_before']}, after: {f['load_after']}. Other engineers run "
        "test suites on this machine: a load above ~1 before the run means the figures are lower than an idle "
        "machine would give.",
        *commit_lines(f),
        f"- Production shape: nginx → gunicorn ({f['workers']} sync workers, persistent DB connections) + daphne; "
        "the single daphne serves everything through Django's ASGI handler (psycopg pool).",
        "- The bench lifts the login rate limit, the chat flood control and the per-user socket cap (it sends "
        "faster and opens more sockets than one client may).",
        "",
        "## Goals",
        "",
        "Ratios to three decimals, so that a figure just under a goal does not print as the goal.",
        "",
        "| goal | figure | result |",
        "|---|---|---|",
        *[f"| {text.split(': ', 1)[0]} | {text.split(': ', 1)[1]} | {goal(ok)} |" for text, ok in goal_lines(f)],
        f"| feed at 50k within 0.8 of its 2k figure | {feed_vs_small:.3f} × (ratios to the floor: 2k "
        f"{f['feed_small']['ratio']['median']:.3f}, 50k {feed_ratio:.3f}) | {goal(feed_vs_small >= 0.8)} |",
        f"| chat fan-out to {f['chat_members']} members: p99 < 50 ms | {chat['paced_p99']['median']:.1f} ms "
        f"(worst run {chat['paced_p99']['max']:.1f}) | {goal(chat['paced_p99']['max'] < 50)} |",
        f"| {f['idle_sockets']} idle sockets < 100 MB | {idle['growth_mb']['median']:.1f} MB "
        f"(worst {idle['growth_mb']['max']:.1f}) | {goal(idle['growth_mb']['max'] * 1000 / f['idle_sockets'] < 100)} |",
        *socket_goal_rows(f),
        "",
        *(
            [
                "**Worse than the committed run** by more than the noise:",
                "",
                *[f"- {line.split(': ', 1)[1]}" for line in worse],
                "",
            ]
            if (worse := [line for line in summary if line.startswith("WORSE")])
            else ["No figure is worse than the committed run's by more than the noise.", ""]
        ),
        "The floor during the paired runs (req/s, median (min–max)): beside `/api/health` "
        f"{fmt(f['health_shape']['floor_rps'])}, beside the feed at 2k {fmt(f['feed_small']['floor_rps'])}, "
        f"beside the feed at 50k {fmt(f['feed_large']['floor_rps'])}; "
        f"on its own at the start {fmt(f['floor']['rps'])}.",
        "",
        *(metrics_cost_lines(f["metrics_cost"], fmt) if "metrics_cost" in f else []),
        "## HTTP (wrk -t2 -c16)",
        "",
        "| what | req/s | p50 ms | p99 ms | × floor | errors | notes |",
        "|---|---|---|---|---|---|---|",
        http_row("(1) floor: bare Django JSON view, gunicorn", "floor", f"{m['cores']} sync workers, no proxy"),
        http_row("(1) `/api/health` through the shape", "health_shape", "nginx → gunicorn"),
        http_row("(1) `/api/health` through one daphne", "health_daphne", "Django's ASGI handler"),
        http_row(
            f"(2) feed `/api/posts/all?limit=20` at {f['seed_small']['counts']['posts']:,} posts",
            "feed_small",
            "16 readers' Bearer tokens",
        ),
        http_row("(2) same feed through one daphne", "feed_small_daphne", "for comparison"),
        http_row(
            f"(2) feed at {f['rows']['posts']:,} posts ({f['rows']['likes']:,} likes)",
            "feed_large",
            "first page; its posts' encodings kept per process",
        ),
        *(
            [
                http_row(
                    f"(2) same feed, readers with {f['feed_blocks']} blocks each",
                    "feed_large_blocks",
                    "same data and page; the block rule is one anti-join in the page query",
                )
            ]
            if "feed_large_blocks" in f
            else []
        ),
        http_row(
            "(2) same data, pages from anywhere",
            "feed_deep",
            f"{s['deep_pages']:,} random cursors: {s['deep_pages'] * 20:,} posts to encode",
        ),
        http_row(
            "(2) same data, first page, encodings off",
            "feed_large_uncached",
            "`POST_CACHE_BYTES=0`, `POST_SHARED_CACHE_TTL=0`: every page reads and encodes its posts",
        ),
        http_row(
            "(2) recommended feed, first page, same data",
            "recommended_large",
            "the viewer's kept ranking, the page's rows in one statement",
        ),
        http_row(
            "(2) notification list `/api/notifications?limit=20`",
            "notifications_list",
            f"{s['notifications']:,} per reader, actors embedded",
        ),
        http_row(
            "(2) a post's comments page `/api/posts/<id>/comments?limit=20`",
            "comments_page",
            f"{s['comments']:,} comments per post, authors embedded",
        ),
        *(
            [
                http_row(
                    "(2) the messenger's chat list `/api/chats?limit=20`",
                    "chat_list",
                    f"{s['chats_per_reader']} chats per reader, {s['messages_per_chat']} messages each",
                )
            ]
            if "chat_list" in f
            else []
        ),
        http_row("(3) like toggle `PATCH /api/posts/<id>/like/<me>`", "like_toggle", "answers the post"),
        http_row(
            "(3) post create, one image",
            "post_create",
            f"{f['post_create_image_kb']:.0f} KB JPEG, re-encoded, stored in moto S3",
        ),
        http_row("(4) login `POST /api/auth/login`", "login_wrk", "Argon2 verify + session"),
        "",
        "### CPU per request (ms of CPU time, all processes of each kind, over the measured runs)",
        "",
        "Where a request's cost goes: the machine has 2 cores, so 2,000 ms ÷ the total is the most "
        "requests per second it could serve; wrk itself runs on the same cores. *Idle*: the share of the "
        "machine's cores that had nothing to run during those runs (/proc/stat). A path that is bound by its "
        "CPU leaves a few percent; one whose requests also wait on something that takes no CPU here (a "
        "commit's flush of the WAL to disk, see Machine) leaves more, and only more requests in flight "
        "would fill it.",
        "",
        "| what | gunicorn | PostgreSQL | nginx | Redis | daphne | moto | wrk | total | idle |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[cpu_row(label, key) for label, key in CPU_ROWS if key in f],
        "",
        "## Login (4)",
        "",
        f"- One login, sequential through the shape: {fmt(login['latency_ms'], 1, ' ms')} over {s['logins']} logins.",
        f"- One Argon2 verification (Django's default parameters), in process: {fmt(login['argon2_ms'], 1, ' ms')}.",
        f"- Share of a login spent hashing: **{argon_share:.0%}** (measured apart, so noise can push it past "
        "100%: hashing is practically all of a login). Login throughput is bounded by "
        f"{m['cores']} cores / {login['argon2_ms']['median']:.0f} ms ≈ "
        f"{m['cores'] * 1000 / login['argon2_ms']['median']:.0f} logins/s.",
        "",
        *socket_lines(f),
        "",
        *photo_lines(f),
        "## Seeding (`manage.py seed_demo`, COPY)",
        "",
        f"- {f['seed_small']['counts']}: {f['seed_small']['command_s']:.1f} s "
        f"(image pool upload included; {f['seed_small']['no_pool_s']:.1f} s without).",
        f"- {large['counts']}: {large['command_s']:.1f} s ({large['no_pool_s']:.1f} s without the pool, "
        f"which was already stored).",
        "",
        "Reproduce: `make bench` (≈ 6–8 minutes; needs wrk, nginx, PostgreSQL and Redis on 127.0.0.1).",
        "",
    ]
    path.write_text("\n".join(lines))
    (path.with_suffix(".json")).write_text(json.dumps(f, indent=1, default=str))
    return summary


def _goal(ok: bool) -> str:
    return "met" if ok else "**missed**"


def socket_goal_rows(f: dict) -> list[str]:
    """Issue #26's fan-out goals, as rows of the goals table: the user socket's fan-out (the
    chat socket's p99 row is above) and the idle sockets of both kinds."""
    user = f["user_fanout"]
    per_socket = {kind: f[key]["growth_mb"]["max"] * 1024 / f["idle_sockets"] for kind, key in IDLE_KINDS}
    worst = max(per_socket.values())
    return [
        f"| user-socket fan-out to {f['chat_members']} members at 10 msg/s: p99 < 20 ms | "
        f"{user['paced_p99']['median']:.1f} ms (worst run {user['paced_p99']['max']:.1f}) | "
        f"{_goal(user['paced_p99']['max'] < 20)} |",
        f"| fan-out back to back ≥ 15,000 deliveries/s | chat sockets {f['chat']['flood_dps']['median']:,.0f}, "
        f"user sockets {user['flood_dps']['median']:,.0f} | "
        f"{_goal(min(f['chat']['flood_dps']['median'], user['flood_dps']['median']) >= 15000)} |",
        f"| {f['idle_sockets']} idle sockets ≤ 40 KB each, both kinds | chat {per_socket['chat']:.0f} KB, "
        f"user {per_socket['user']:.0f} KB (worst runs) | {_goal(worst <= 40)} |",
    ]


IDLE_KINDS = (("chat", "idle"), ("user", "idle_user"))


def paced_runs_line(x: dict) -> list[str]:
    """Each paced run's p99 beside the share of its time some task on the machine waited for a
    core: the judge of a worst run (bench/sockets.py)."""
    runs = x.get("paced_runs")
    if not runs:
        return []

    def waited(run: dict, kind: str) -> str:
        share = run.get(f"{kind}_wait_pct")  # "io" is absent from runs before it was measured
        return "?" if share is None else f"{share:.0f}%"

    shown = ", ".join(
        f"{run['p99']:.1f} ms ({waited(run, 'cpu')}, {waited(run, 'io')}, load {run['load'].split()[0]})"
        for run in runs
    )
    return [
        f"  - p99 of each paced run (the shares of the run during which a task on the machine waited for "
        f"a core and for the disk, /proc/pressure/cpu and io; the 1-minute load after it): {shown}."
    ]


def socket_lines(f: dict) -> list[str]:
    """Steps (5) and (6): fan-out on both kinds of socket, idle sockets of both kinds."""
    s = f["settings"]
    members = f["chat_members"]
    lines = [f"## Fan-out (5): 1 sender → {members} members on two daphne processes ({members // 2} sockets each)", ""]
    for label, key in (("Chat sockets (the contract's)", "chat"), ("User sockets (`/api/ws`)", "user_fanout")):
        x = f[key]
        lines += [
            f"- {label}: latency at {s['chat_rate']} messages/s ({s['chat_paced']} messages per run, send → "
            f"each member's receipt): p50 {fmt(x['paced_p50'], 1, ' ms')}, p99 {fmt(x['paced_p99'], 1, ' ms')}, "
            f"max {fmt(x['paced_max'], 1, ' ms')}; throughput ({s['chat_flood']} messages back to back, until "
            f"every member has every one): {fmt(x['flood_mps'])} messages/s = {fmt(x['flood_dps'])} deliveries/s."
            + (
                f" **Incomplete**: {x['missing']['max']:,.0f} deliveries still missing 120 s after a run's last send "
                "(figures of what arrived)."
                if x.get("missing", {}).get("max")
                else ""
            )
            + (
                f" daphne CPU per message sent, paced: sender's {fmt(x['paced_cpu_sender_ms'], 2, ' ms')}, "
                f"other's {fmt(x['paced_cpu_other_ms'], 2, ' ms')}; back to back: sender's "
                f"{fmt(x['flood_cpu_sender_ms'], 2, ' ms')}, other's {fmt(x['flood_cpu_other_ms'], 2, ' ms')}."
                if "flood_cpu_sender_ms" in x
                else ""
            ),
        ]
        lines += paced_runs_line(x)
    lines += [
        "- Every message is stored (one transaction), then fanned out after commit through Redis "
        '(docs/websocket.md "Fan-out"); each member gets each message exactly once (a duplicate fails '
        "the run). The client holding all 101 sockets is one asyncio process on the same machine.",
        "",
        f"## Idle WebSockets (6): one daphne, {f['idle_sockets']:,} open sockets of each kind",
        "",
    ]
    for kind, key in IDLE_KINDS:
        idle = f[key]
        per_socket_kb = idle["growth_mb"]["median"] * 1024 / f["idle_sockets"]
        lines.append(
            f"- {kind} sockets: RSS before (after 20 warm-up sockets) {fmt(idle['before_mb'], 1, ' MB')}, after "
            f"{fmt(idle['after_mb'], 1, ' MB')}; growth {fmt(idle['growth_mb'], 1, ' MB')} ≈ "
            f"**{per_socket_kb:.0f} KB per socket**."
        )
    if "load_before" in f:
        lines += ["", f"Load average (1/5/15 min) before: {f['load_before']}, after: {f.get('load_after', '?')}."]
    return lines
