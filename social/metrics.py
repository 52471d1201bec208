"""Every Prometheus metric the app exports, defined once (README "Operations").

prometheus-client's multiprocess mode aggregates the processes of one deployment: with
PROMETHEUS_MULTIPROC_DIR set (scripts/serve.py and compose set it, emptied at start), each
process writes its values to memory-mapped files there and `/api/metrics`, answered by any
one process, reads them all — every gunicorn worker and every daphne. Without it (tests,
`make run`), values live in the process, which is then the whole deployment.

Labels stay bounded: a request is counted by its route *template* (`api/posts/<int:pk>`),
never its raw path, and every other label takes a value from a fixed set in the code.
"""

import atexit
import os
import threading
import time
from contextlib import contextmanager

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # A one-off command in a container that shares the app's environment (compose's migrate)
    # has no prepared folder: prometheus-client would fail at the first metric below.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# Requests: what fails, what is slow.
HTTP_REQUESTS = Counter(
    "social_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "social_http_request_duration_seconds",
    "Time from the first middleware to the answer, by route template and method.",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Sockets. A gauge summed over the live processes only: a dead process's sockets are gone.
WEBSOCKETS_OPEN = Gauge("social_websockets_open", "Open WebSockets, by kind.", ["kind"], multiprocess_mode="livesum")
WEBSOCKET_FRAMES = Counter("social_websocket_frames_total", "WebSocket frames, by direction (in/out).", ["direction"])

# The channel layer: fan-out of events to every process's sockets.
CHANNEL_SEND_SECONDS = Histogram(
    "social_channel_layer_send_seconds",
    "Time of one group_send (fan-out of an event to a group's sockets on every process).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
CHANNEL_SEND_FAILURES = Counter("social_channel_layer_send_failures_total", "group_send calls that raised.")

# Domain.
MESSAGES_STORED = Counter("social_messages_stored_total", "Chat messages stored.")
# Defined before the notifications exist, so dashboards and alerts need no change when they come.
NOTIFICATIONS_DELIVERED = Counter("social_notifications_delivered_total", "Notifications delivered, by kind.", ["kind"])
RATE_LIMIT_REFUSALS = Counter(
    "social_rate_limit_refusals_total", "Requests or frames refused by a rate limit, by the limit's name.", ["limit"]
)
POST_CACHE = Counter(
    "social_post_cache_lookups_total",
    "Lookups of the post encodings (posts/fragments.py), by result: hit (this process), shared, miss (read).",
    ["result"],
)
IMAGE_PROCESSING_SECONDS = Histogram(
    "social_image_processing_seconds",
    "Time to validate and re-encode one uploaded image.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# The database pool (psycopg's, the daphne processes'): sampled every POOL_SAMPLE_SECONDS.
DB_POOL_CONNECTIONS = Gauge(
    "social_db_pool_connections",
    "Connections of the psycopg pools, by state (in_use, idle, waiting: requests waiting for one).",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_SAMPLE_SECONDS = 2.0

OUR_METRICS = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    WEBSOCKETS_OPEN,
    WEBSOCKET_FRAMES,
    CHANNEL_SEND_SECONDS,
    CHANNEL_SEND_FAILURES,
    MESSAGES_STORED,
    NOTIFICATIONS_DELIVERED,
    RATE_LIMIT_REFUSALS,
    POST_CACHE,
    IMAGE_PROCESSING_SECONDS,
    DB_POOL_CONNECTIONS,
)

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_names() -> set[str]:
    """Every sample name the endpoint can show (what a dashboard query may name)."""
    names = set()
    for metric in OUR_METRICS:
        for family in metric.describe():
            names.add(family.name)
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


@contextmanager
def channel_send():
    """Time one channel-layer send and count it as failed if it raises (the error goes on)."""
    started = time.perf_counter()
    try:
        yield
    except Exception:
        CHANNEL_SEND_FAILURES.inc()
        raise
    finally:
        CHANNEL_SEND_SECONDS.observe(time.perf_counter() - started)


def exposition() -> tuple[bytes, str]:
    """The text format of every process of this deployment (or of this process alone)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exit(pid: int) -> None:
    """A gunicorn worker ended: its live gauges (sockets, pool) stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def live_gauges_drop_at_exit() -> None:
    """A daphne that stops (a restart under a supervisor) takes its sockets with it: drop its
    live gauges on a clean exit. A killed process's stay until the folder is emptied at start."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        atexit.register(multiprocess.mark_process_dead, os.getpid())


def pool_sampler_start() -> None:
    """Sample this process's database pool into DB_POOL_CONNECTIONS in a daemon thread.

    A gauge in multiprocess mode cannot be read at scrape time from another process, so each
    process with a pool writes its own figures; the endpoint sums the live ones."""
    from django.conf import settings

    if "pool" not in settings.DATABASES["default"].get("OPTIONS", {}):
        return
    thread = threading.Thread(target=_sample_pool_forever, name="db-pool-metrics", daemon=True)
    thread.start()


def _sample_pool_forever() -> None:
    from django.db import connections

    while True:
        time.sleep(POOL_SAMPLE_SECONDS)
        # Django keeps one pool per alias for the process, made on first use. Its `pool`
        # property would make (and open) it: read the map instead, so an idle process opens nothing.
        pool = type(connections["default"])._connection_pools.get("default")
        if pool is None:
            continue
        stats = pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        DB_POOL_CONNECTIONS.labels(state="in_use").set(size - idle)
        DB_POOL_CONNECTIONS.labels(state="idle").set(idle)
        DB_POOL_CONNECTIONS.labels(state="waiting").set(stats.get("requests_waiting", 0))
