"""The production shape on one machine: nginx in front, gunicorn (WSGI) for REST, daphne for
WebSockets. `make serve` runs it; the live tests start it through `Shape` too.

    python -m scripts.serve [PORT]

Every process gets the same environment (README, configuration), plus what its role needs:
gunicorn workers keep persistent database connections (DB_POOL=0), daphne uses psycopg's pool,
both trust exactly one proxy (NUM_PROXIES=1), and all write their metrics to one fresh
PROMETHEUS_MULTIPROC_DIR, so `/api/metrics` shows them summed (social/metrics.py). Ctrl-C (or
SIGTERM) stops every process it started. gunicorn listens on a Unix socket in the shape's own
directory and daphne on a free port, so a second shape on another port runs beside it.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_nginx(*, listen: str, api: str, ws: str, run_dir: str) -> str:
    values = {"LISTEN_PORT": listen, "API_UPSTREAM": api, "WS_UPSTREAM": ws, "RUN_DIR": run_dir}
    # Only our placeholders: nginx's own $variables stay as they are (like envsubst with a list).
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), TEMPLATE.read_text())


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise SystemExit("nginx is not installed: `make serve` installs it (apt-get install nginx-light)")
    return found


class Shape:
    def __init__(self, port: int, env: dict | None = None, workers: int | None = None, log=None):
        self.port = port
        self.env = dict(os.environ if env is None else env)
        self.workers = workers or int(self.env.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
        self.log = log  # a file for the children's output, or None to inherit ours
        self.processes: list[subprocess.Popen] = []
        self.run_dir = ""
        self.upstreams: list[str] = []

    def _spawn(self, command: list[str], **extra_env) -> subprocess.Popen:
        env = {**self.env, **{k: str(v) for k, v in extra_env.items()}}
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT if self.log else None
        )
        self.processes.append(process)
        return process

    def start(self) -> "Shape":
        # Before anything is spawned: a missing nginx must not leave gunicorn and daphne behind.
        nginx = nginx_binary()
        self.run_dir = tempfile.mkdtemp(prefix=f"social-serve-{self.port}-")
        os.chmod(self.run_dir, 0o755)  # nginx workers (another user) create temp files here
        ws_port = free_port()
        # gunicorn listens on a Unix socket: nginx opens a connection per request (sync workers
        # close it after each answer), and a local socket costs less to open than TCP.
        api_socket = Path(self.run_dir) / "gunicorn.sock"
        self.upstreams = [f"unix:{api_socket}", f"127.0.0.1:{ws_port}"]
        common = {"NUM_PROXIES": 1}
        if self.env.get("METRICS_ENABLED", "1").lower() not in ("0", "false", "off", "no"):
            # A new, empty folder per start: no counts of an earlier run are summed in.
            metrics_dir = Path(self.run_dir) / "metrics"
            metrics_dir.mkdir()
            common["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        self._spawn(
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
                # gunicorn 23+ opens a control socket at a fixed path; one per shape, so two
                # shapes side by side do not fight over it.
                "--control-socket",
                str(Path(self.run_dir) / "gunicorn.ctl"),
            ],
            DB_POOL=0,
            **common,
        )
        self._spawn(
            [
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(ws_port),
                # Our own lines (social.request, social.socket) replace daphne's access log,
                # which is neither JSON with LOG_FORMAT=json nor carries the request id.
                "--access-log",
                os.devnull,
                "social.asgi:application",
            ],
            DB_POOL=1,
            **common,
        )
        config = Path(self.run_dir) / "nginx.conf"
        config.write_text(
            render_nginx(
                listen=f"127.0.0.1:{self.port}",
                api=f"unix:{api_socket}",
                ws=f"127.0.0.1:{ws_port}",
                run_dir=self.run_dir,
            )
        )
        self._spawn([nginx, "-p", self.run_dir, "-c", str(config), "-e", "stderr", "-g", "daemon off;"])
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        # Through nginx (which reaches gunicorn), and daphne directly: both must be up.
        pending = [f"http://127.0.0.1:{self.port}/api/health"] + [
            f"http://{upstream}/api/health" for upstream in self.upstreams[1:]
        ]
        while pending and time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(pending[0], timeout=2) as response:
                    if response.status == 200:
                        pending.pop(0)
                        continue
            except OSError:
                pass
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"{pending[0]} did not answer 200 within {timeout}s")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
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


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8000"))
    shape = Shape(port)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    shape.start()
    print(f"serving on http://127.0.0.1:{port} (nginx -> gunicorn x{shape.workers} + daphne); Ctrl-C stops", flush=True)
    try:
        while not stopping and all(p.poll() is None for p in shape.processes):
            time.sleep(0.2)
    finally:
        shape.stop()
    failed = [p for p in shape.processes if p.returncode not in (0, -signal.SIGTERM, None)]
    sys.exit(1 if failed and not stopping else 0)


if __name__ == "__main__":
    main()
