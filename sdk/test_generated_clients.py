"""Clients nobody here wrote must work the first time (`make sdk-check`): a TypeScript client
(openapi-typescript + openapi-fetch) and a Python client (openapi-python-client) are generated
from the schema a live server publishes, type-checked against it, and run the whole flow
(register, token, a post with two images, feed, like, friends, chat create and history,
logout) against that server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testsupport import live

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SDK = Path(__file__).resolve().parent
TYPESCRIPT = SDK / "typescript"
BIN = Path(sys.executable).parent


def run(command: list, cwd: Path, **env) -> str:
    """Run a step; its output is the failure message when it fails."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{command[:3]} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture
def server():
    """A live daphne on the test database; yields its base URL. Per-user rate limits are off:
    the flow is one user's burst."""
    with live.daphne(SOCIAL_RATE_LIMITS="off") as address:
        yield f"http://{address}"


def test_a_generated_typescript_client_type_checks_and_runs_the_whole_flow(server):
    assert (TYPESCRIPT / "node_modules").is_dir(), "run `make sdk-check` (it installs the npm packages)"
    (TYPESCRIPT / "generated").mkdir(exist_ok=True)
    run(["node", "generate.mjs", f"{server}/api/schema/?format=json", "generated/schema.d.ts"], TYPESCRIPT)
    run([TYPESCRIPT / "node_modules/.bin/tsc", "-p", "."], TYPESCRIPT)
    assert "flow ok" in run(["node", "build/flow.js", server], TYPESCRIPT)


def test_a_generated_python_client_imports_type_checks_and_runs_the_whole_flow(server, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("project_name_override: social-client\npackage_name_override: social_client\npost_hooks: []\n")
    run(
        [
            BIN / "openapi-python-client",
            "generate",
            "--url",
            f"{server}/api/schema/?format=json",
            "--config",
            config,
            "--meta",
            "none",
            "--output-path",
            tmp_path / "social_client",
        ],
        tmp_path,
    )
    flow = SDK / "python" / "flow.py"
    # Strict on the flow; the generated package's own style (a redundant cast) is not ours to judge.
    run([BIN / "mypy", "--strict", "--no-incremental", "--follow-imports=silent", flow], tmp_path, MYPYPATH=tmp_path)
    assert "flow ok" in run([sys.executable, flow, server], tmp_path, PYTHONPATH=tmp_path)
