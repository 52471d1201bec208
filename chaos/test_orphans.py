"""Files whose post was deleted while the storage hung are deleted later, by the task worker."""

import subprocess
import sys
import time

import pytest
import requests

from chaos.conftest import app_env, signed_up
from scripts.serve import ROOT
from testsupport.images import image_bytes

pytestmark = pytest.mark.chaos


def test_a_post_deleted_while_the_storage_hangs_loses_its_files_once_the_storage_is_back(healthy, deps, tmp_path):
    base, s3 = healthy.base, deps["s3"]
    user = signed_up(base)
    created = requests.post(
        f"{base}/api/posts/create",
        data={"author": user["id"], "description": "orphan"},
        files={"images": ("a.jpg", image_bytes(), "image/jpeg")},
        headers=user["headers"],
        timeout=30,
    )
    assert created.status_code == 201, created.text
    stored = {key for key in s3.keys() if key.startswith("posts/")}
    assert stored

    s3.freeze()
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.3", "--no-startup-delay"],
        cwd=ROOT,
        env=app_env(deps),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        deleted = requests.delete(f"{base}/api/posts/{created.json()['id']}", headers=user["headers"], timeout=30)
        delete_seconds = time.monotonic() - started
        # The worker's first try meets the hung storage and gives up on it (timeouts).
        deadline = time.monotonic() + 30
        while b"could not delete stored file" not in log_path.read_bytes():
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-2000:]
            time.sleep(0.3)
        s3.resume()
        # moto, woken up, may still carry out the request the worker gave up on: put the file
        # back, so that only the retry can delete it (a real store that hung may do either).
        for key in stored:
            s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"still here")
        assert stored <= s3.keys()
        deadline = time.monotonic() + 40
        while stored & s3.keys():
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-2000:]
            time.sleep(0.5)
    finally:
        s3.resume()
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
    assert deleted.status_code == 204
    assert delete_seconds < 3, delete_seconds  # the request never waited on the storage
