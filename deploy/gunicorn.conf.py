"""gunicorn settings shared by `make serve` (scripts/serve.py) and compose's api service."""


def child_exit(server, worker):
    # A worker that ended (restarted, killed) no longer has open sockets or pool connections:
    # its live gauges leave the metrics' sum (prometheus-client multiprocess mode).
    from social.metrics import worker_exit

    worker_exit(worker.pid)


def post_worker_init(worker):
    # A page from deep in the feed allocates ~14,000 objects (its posts' rows and encodings),
    # and a worker keeps many more (post encodings, presigned URLs, likers' encodings): with
    # CPython's thresholds the collector ran ~12 times per 60 such pages, 0.06-0.09 ms of each
    # page's CPU (issue #26, gc.callbacks around bench/deep_trees.py's pages). As daphne does
    # (social/gc_tuning.py): start-up's objects frozen, rarer collections.
    from social.gc_tuning import tune_for_server

    tune_for_server()
