"""The production shape on one machine: nginx in front, gunicorn (WSGI) for REST, daphne for
WebSockets. `make serve` runs it; the live tests start it through `Shape` too.

    python -m scripts.serve [PORT]

Every process gets the same environment (README, configuration), plus what its role needs:
gunicorn workers keep persistent database connections (DB_POOL=0), daphne uses psycopg's pool.
NUM_PROXIES (default 1: nginx alone; 2 behind a TLS proxy) goes to the app and to nginx's
configuration alike (deploy/nginx.conf.template). All write their metrics to one fresh
PROMETHEUS_MULTIPROC_DIR, so `/api/metrics` shows them summed (social/metrics.py). Ctrl-C (or
SIGTERM) stops every process it started. gunicorn listens on a Unix socket in the shape's own
directory and each daphne on a free port, so a second shape on another port runs beside it.

Supervision (`make serve`): a child that exits is started again, after a backoff that doubles
with each quick crash (1 s up to 30 s; back to 1 s once it ran for a minute), and logged; the
others keep serving. With WS_PROCESSES ≥ 2 daphnes (the default of `make serve`), nginx sends
the sockets of a crashed daphne's clients, when they reconnect, to the others. `make serve`
also runs the background tasks' worker (`manage.py db_worker`, django-tasks).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.processes import BIN, daphne_command, free_port, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
REDACT_TOKENS = ROOT / "deploy" / "redact-tokens.awk"


def render_nginx(*, listen: str, api: str, ws: str, run_dir: str, num_proxies: int = 1) -> str:
    values = {
        "LISTEN_PORT": listen,
        "API_UPSTREAM": api,
        "WS_UPSTREAM": ws,
        "RUN_DIR": run_dir,
        "NUM_PROXIES": str(num_proxies),
    }

    # Only our placeholders: nginx's own $variables stay as they are (like envsubst with a list).
    # Comment lines are left alone (a value may span lines: several daphnes).
    def fill(line: str) -> str:
        if line.lstrip().startswith("#"):
            return line
        return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), line)

    return "".join(fill(line) for line in TEMPLATE.read_text().splitlines(keepends=True))


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise SystemExit("nginx is not installed: `make serve` installs it (apt-get install nginx-light)")
    return found


RESTART_BACKOFF_FIRST = 1.0
RESTART_BACKOFF_MAX = 30.0
RESTART_STABLE_AFTER = 60.0  # a child that ran this long crashed "for the first time" again


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict
    redact: bool = False  # stderr through deploy/redact-tokens.awk (nginx)
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = RESTART_BACKOFF_FIRST
    restart_at: float | None = None  # when a child that exited is due to start again
    restarts: int = field(default=0)


class Shape:
    def __init__(
        self,
        port: int,
        env: dict | None = None,
        workers: int | None = None,
        log=None,
        ws_processes: int = 1,
        tasks_worker: bool = False,
    ):
        self.port = port
        self.env = dict(os.environ if env is None else env)
        self.workers = workers or int(self.env.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
        self.ws_processes = max(1, ws_processes)
        self.tasks_worker = tasks_worker  # django-tasks' db_worker (social/tasks.py)
        self.log = log  # a file for the children's output, or None to inherit ours
        self.children: list[Child] = []
        self.log_filters: list[subprocess.Popen] = []
        self.run_dir = ""
        self.upstreams: list[str] = []

    @property
    def processes(self) -> list[subprocess.Popen]:
        return [child.process for child in self.children if child.process is not None]

    def _start_child(self, child: Child) -> None:
        if child.redact:
            # nginx's error log prints request lines with their query string: a `?token=` of a
            # socket handshake that failed upstream would be logged. Its output passes through
            # deploy/redact-tokens.awk (as in compose), which ends by itself when nginx does.
            child.process = subprocess.Popen(
                child.command, cwd=ROOT, env=child.env, stdout=self.log, stderr=subprocess.PIPE
            )
            redactor = subprocess.Popen(
                ["awk", "-f", str(REDACT_TOKENS)],
                stdin=child.process.stderr,
                stdout=self.log or sys.stderr,
                stderr=self.log,
            )
            child.process.stderr.close()  # the redactor holds the pipe now
            self.log_filters.append(redactor)
        else:
            child.process = subprocess.Popen(
                child.command, cwd=ROOT, env=child.env, stdout=self.log, stderr=subprocess.STDOUT if self.log else None
            )
        child.started_at = time.monotonic()
        child.restart_at = None

    def _spawn(self, name: str, command: list[str], *, redact: bool = False, **extra_env) -> subprocess.Popen:
        child = Child(name, command, {**self.env, **{k: str(v) for k, v in extra_env.items()}}, redact=redact)
        self.children.append(child)
        self._start_child(child)
        return child.process

    def supervise(self) -> None:
        """One pass: start again, after its backoff, every child that exited."""
        now = time.monotonic()
        for child in self.children:
            if child.process is None or child.process.poll() is None:
                continue
            if child.restart_at is None:
                if now - child.started_at >= RESTART_STABLE_AFTER:
                    child.backoff = RESTART_BACKOFF_FIRST
                child.restart_at = now + child.backoff
                _say(
                    f"{child.name} (pid {child.process.pid}) exited with {child.process.returncode}; "
                    f"restarting in {child.backoff:.0f}s"
                )
                child.backoff = min(child.backoff * 2, RESTART_BACKOFF_MAX)
            elif now >= child.restart_at:
                self._start_child(child)
                child.restarts += 1
                _say(f"{child.name} restarted (pid {child.process.pid}, restart #{child.restarts})")

    def start(self) -> "Shape":
        # Before anything is spawned: a missing nginx must not leave gunicorn and daphne behind.
        nginx = nginx_binary()
        self.run_dir = tempfile.mkdtemp(prefix=f"social-serve-{self.port}-")
        os.chmod(self.run_dir, 0o755)  # nginx workers (another user) create temp files here
        ws_ports = [free_port() for _ in range(self.ws_processes)]
        # gunicorn listens on a Unix socket: nginx opens a connection per request (sync workers
        # close it after each answer), and a local socket costs less to open than TCP.
        api_socket = Path(self.run_dir) / "gunicorn.sock"
        self.upstreams = [f"unix:{api_socket}", *(f"127.0.0.1:{port}" for port in ws_ports)]
        # nginx is always one of the proxies; a TLS proxy in front of it makes two.
        num_proxies = max(1, int(self.env.get("NUM_PROXIES") or 1))
        common = {"NUM_PROXIES": num_proxies}
        if self.env.get("METRICS_ENABLED", "1").lower() not in ("0", "false", "off", "no"):
            # A new, empty folder per start: no counts of an earlier run are summed in.
            metrics_dir = Path(self.run_dir) / "metrics"
            metrics_dir.mkdir()
            common["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        self._spawn(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "social.wsgi:application",
                "--bind",
                f"unix:{api_socket}",
                "--workers",
                str(self.workers),
                "--graceful-timeout",
                "5",
                "--config",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                # nginx passes a request line up to its 8 KB header buffer; gunicorn's default
                # 4094 would answer the lines between with its own HTML 414.
                "--limit-request-line",
                "8190",
                # gunicorn 23+ opens a control socket at a fixed path; one per shape, so two
                # shapes side by side do not fight over it.
                "--control-socket",
                str(Path(self.run_dir) / "gunicorn.ctl"),
            ],
            DB_POOL=0,
            **common,
        )
        for number, ws_port in enumerate(ws_ports, 1):
            self._spawn(f"daphne-{number}", daphne_command(ws_port), DB_POOL=1, **common)
        if self.tasks_worker:
            self._spawn("tasks-worker", [sys.executable, "manage.py", "db_worker"], DB_POOL=0)
        config = Path(self.run_dir) / "nginx.conf"
        config.write_text(
            render_nginx(
                listen=f"127.0.0.1:{self.port}",
                api=f"unix:{api_socket}",
                # The template has one `server ${WS_UPSTREAM};` line: further daphnes continue it.
                ws=";\n        server ".join(f"127.0.0.1:{port}" for port in ws_ports),
                run_dir=self.run_dir,
                num_proxies=num_proxies,
            )
        )
        self._spawn(
            "nginx", [nginx, "-p", self.run_dir, "-c", str(config), "-e", "stderr", "-g", "daemon off;"], redact=True
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        # Through nginx (which reaches gunicorn), and daphne directly: both must be up.
        for url in [f"http://127.0.0.1:{self.port}/api/health"] + [
            f"http://{upstream}/api/health" for upstream in self.upstreams[1:]
        ]:
            wait_http(url, timeout=max(0.1, deadline - time.monotonic()), processes=self.processes)

    def stop(self) -> None:
        stop(self.processes)
        for log_filter in self.log_filters:  # they have read everything once their writers ended
            try:
                log_filter.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log_filter.kill()
                log_filter.wait()
        if self.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self):
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()


def _say(line: str) -> None:
    print(f"serve: {line}", file=sys.stderr, flush=True)


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8000"))
    shape = Shape(port, ws_processes=int(os.environ.get("WS_PROCESSES") or 2), tasks_worker=True)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    shape.start()
    print(
        f"serving on http://127.0.0.1:{port} (nginx -> gunicorn x{shape.workers} + daphne x{shape.ws_processes}"
        ", tasks worker); "
        "Ctrl-C stops",
        flush=True,
    )
    try:
        while not stopping:
            shape.supervise()
            time.sleep(0.2)
    finally:
        shape.stop()


if __name__ == "__main__":
    main()
