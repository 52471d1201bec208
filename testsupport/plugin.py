"""pytest plugin (loaded with `-p testsupport.plugin`, before pytest-django sets Django up).

It points the suite at real services: PostgreSQL, Redis (its own DB index) and an S3 endpoint
over HTTP — moto's threaded server, started here on a free port *before* Django reads its
settings, with the bucket created. A missing service stops the run with a clear message;
nothing is skipped.
"""

import os
import socket
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/social")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "test-only-key-3f7a9c1e5b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Tests talk plain HTTP to the test server.
os.environ.setdefault("COOKIE_SECURE", "0")
os.environ.setdefault("STATIC_MANIFEST", "0")
# Tasks run where they are enqueued; the fault tests (chaos/) run a real worker instead.
os.environ.setdefault("TASKS_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")

S3_BUCKET = "test-media"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _start_s3() -> None:
    if os.environ.get("AWS_S3_ENDPOINT_URL"):
        return  # an endpoint chosen by the caller (e.g. a shared moto server)
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        {
            "AWS_S3_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_STORAGE_BUCKET_NAME": S3_BUCKET,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_S3_URL_PROTOCOL": "http:",
        }
    )


def _create_bucket() -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ["AWS_S3_REGION_NAME"],
    )
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if os.environ["AWS_STORAGE_BUCKET_NAME"] not in existing:
        client.create_bucket(Bucket=os.environ["AWS_STORAGE_BUCKET_NAME"])


def _prepare() -> None:
    missing = []
    if not _reachable(os.environ["DATABASE_URL"], 5432):
        missing.append(f"PostgreSQL ({os.environ['DATABASE_URL']})")
    if not _reachable(os.environ["REDIS_URL"], 6379):
        missing.append(f"Redis ({os.environ['REDIS_URL']})")
    if missing:
        raise SystemExit(
            "The test suite needs real services; not reachable: " + ", ".join(missing) + ". `make test` starts them."
        )
    _start_s3()
    _create_bucket()


# At import, not in a hook: `-p` plugins are imported before pytest-django configures Django,
# while the order of hooks between plugins is not ours to choose.
_prepare()
