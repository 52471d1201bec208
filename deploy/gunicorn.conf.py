"""gunicorn settings shared by `make serve` (scripts/serve.py) and compose's api service."""


def child_exit(server, worker):
    # A worker that ended (restarted, killed) no longer has open sockets or pool connections:
    # its live gauges leave the metrics' sum (prometheus-client multiprocess mode).
    from social.metrics import worker_exit

    worker_exit(worker.pid)
