"""docker-compose refuses to start without its secrets (issue #19 item 3): the S3 store's root
password used to default to `social-secret`, known to every reader of this repository.

Debian's docker-compose validates and renders the file without an engine (`make test` installs
it); the file is copied to an empty directory so that no `.env` beside it is read."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def compose_config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: `make test` installs it"
    return subprocess.run(
        [binary, "config"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True
    )


@pytest.mark.parametrize("missing", ["S3_SECRET", "SECRET_KEY"])
def test_compose_refuses_to_start_without_a_secret(tmp_path, missing):
    env = {"SECRET_KEY": "a-key", "S3_SECRET": "an-s3-password"}
    del env[missing]

    result = compose_config(tmp_path, **env)

    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_the_s3_secret_given_is_the_only_one_in_the_rendered_file(tmp_path):
    result = compose_config(tmp_path, SECRET_KEY="a-key", S3_SECRET="an-s3-password")

    assert result.returncode == 0, result.stderr
    # The store's root password, the bucket job's and the app's key (api, ws, the tasks worker,
    # migrate) are the one given.
    assert result.stdout.count("an-s3-password") == 6
    assert "social-secret" not in result.stdout


def test_env_example_names_the_s3_secret():
    assert "S3_SECRET=" in (ROOT / ".env.example").read_text()
