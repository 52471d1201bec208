"""Private dependencies for fault tests: a PostgreSQL cluster, a Redis and a moto S3 server of
the test's own, on free ports, that the test may stop, start again, freeze and resume.

Never the machine's shared services (127.0.0.1:5432 / :6379): other test runs use those. `freeze()`
(SIGSTOP) stops a server and all its descendants (the PostgreSQL postmaster *and* its
backends): a frozen server keeps its sockets open and accepts connections into the
kernel's backlog, but answers nothing, which is what a hung host looks like to a client.

    with PrivatePostgres() as pg, PrivateRedis() as redis, PrivateS3() as s3:
        env = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url, **s3.env}
        pg.freeze(); ...; pg.resume()
        redis.stop(); ...; redis.start()
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from scripts.processes import free_port

BIN = Path(sys.executable).parent
PG_USER = "postgres"  # initdb refuses root: the cluster belongs to this (non-root) user


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not versions:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return str(versions[-1])


class PrivateService:
    """A server process of the test's own. Subclasses give `command()` and `ready()`."""

    name = "service"

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"fault-{self.name}-")
        self.process: subprocess.Popen | None = None
        self.frozen = False
        self._log = open(Path(self.dir) / "server.log", "ab")

    # --- to override ----------------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def popen_extra(self) -> dict:
        return {}

    def after_start(self) -> None:
        """Runs after every start (a restarted in-memory server must be set up again)."""

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> "PrivateService":
        # A new session: Ctrl-C at the terminal reaches the test, not the server directly.
        self.process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, **self.popen_extra()
        )
        self.frozen = False
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not come up in {timeout}s: {self.log_tail()}")
            time.sleep(0.1)
        self.after_start()
        return self

    def _processes(self) -> list[int]:
        """The server's pid and its descendants' (PostgreSQL's backends each lead a session of
        their own, so a process-group signal would miss them)."""
        if self.process is None or self.process.poll() is not None:
            return []
        parents: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            queue.extend(parents.get(pid, []))
        return found

    def _signal_all(self, signum: int, pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def freeze(self) -> None:
        """SIGSTOP the server and every descendant: connections stay open, nothing answers.
        The parent first, so it forks nothing new meanwhile."""
        self._signal_all(signal.SIGSTOP, self._processes())
        self.frozen = True

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT, list(reversed(self._processes())))
        self.frozen = False

    def stop_signal(self) -> int:
        return signal.SIGTERM

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (its clients see connections refused) and wait until it is gone."""
        if self.process is None or self.process.poll() is not None:
            return
        if self.frozen:
            self.resume()
        everyone = self._processes()
        self.process.send_signal(self.stop_signal())
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # Backends of a stopped cluster may linger an instant after the postmaster.
        self._signal_all(signal.SIGKILL, everyone[1:])

    def close(self) -> None:
        self.stop()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, size: int = 3000) -> str:
        self._log.flush()
        return (Path(self.dir) / "server.log").read_bytes()[-size:].decode(errors="replace")

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()


class PrivatePostgres(PrivateService):
    """A throwaway PostgreSQL cluster (initdb as the non-root `postgres` user, trust auth)."""

    name = "postgres"
    database = "social"

    def __init__(self):
        super().__init__()
        owner = pwd.getpwnam(PG_USER) if os.geteuid() == 0 else None
        self.data = Path(self.dir) / "data"
        self._user = PG_USER if owner else None
        if owner:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            os.chown(Path(self.dir) / "server.log", owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            user=self._user,
        )
        self._created = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def command(self) -> list[str]:
        return [
            _pg_bin("postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            self.dir,
            "-c",
            "fsync=off",
            "-c",
            "max_connections=300",
        ]

    def popen_extra(self) -> dict:
        return {"user": self._user} if self._user else {}

    def stop_signal(self) -> int:
        return signal.SIGINT  # "fast" shutdown: every client connection is cut at once

    def ready(self) -> bool:
        result = subprocess.run(
            [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], capture_output=True
        )
        return result.returncode == 0

    def after_start(self) -> None:
        if not self._created:
            subprocess.run(
                [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database],
                check=True,
                capture_output=True,
            )
            self._created = True


class PrivateRedis(PrivateService):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            shutil.which("redis-server") or "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
        ]

    def ready(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class PrivateS3(PrivateService):
    """moto's S3 server in a process of its own (so it can be frozen), with the bucket made.
    It keeps objects in memory: a stop loses them, a freeze does not."""

    name = "s3"
    bucket = "fault-media"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict:
        return {
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_S3_URL_PROTOCOL": "http:",
        }

    def command(self) -> list[str]:
        return [str(BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        try:
            requests.get(self.endpoint, timeout=0.5)
            return True
        except requests.RequestException:
            return False

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def after_start(self) -> None:
        self.client().create_bucket(Bucket=self.bucket)

    def keys(self) -> set[str]:
        listing = self.client().list_objects_v2(Bucket=self.bucket)
        return {item["Key"] for item in listing.get("Contents", [])}
