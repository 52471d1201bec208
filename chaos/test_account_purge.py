"""A deleted account's files, which the storage could not delete while it was down, are deleted
by the worker's later retry once it is back (accounts.tasks.account_purge, social/tasks.py)."""

import re
import time

import pytest
import requests

from chaos.conftest import PASSWORD, signed_up, tasks_worker
from testsupport.images import image_bytes

pytestmark = pytest.mark.chaos


def test_files_of_an_account_deleted_while_the_storage_is_down_are_deleted_once_it_is_back(healthy, deps, tmp_path):
    base, s3 = healthy.base, deps["s3"]
    user = signed_up(base)
    created = requests.post(
        f"{base}/api/posts/create",
        data={"author": user["id"], "description": "уйду"},
        files={"images": ("a.jpg", image_bytes(), "image/jpeg")},
        headers=user["headers"],
        timeout=30,
    )
    assert created.status_code == 201, created.text
    avatar = requests.patch(
        f"{base}/api/auth/current_user",
        files={"avatar": ("me.jpg", image_bytes(), "image/jpeg")},
        headers=user["headers"],
        timeout=30,
    )
    assert avatar.status_code == 200, avatar.text
    stored = {key for key in s3.keys() if key.startswith(("posts/", "avatars/"))}
    assert any(key.startswith("avatars/") for key in stored) and any(key.startswith("posts/") for key in stored)

    s3.stop()
    log_path = tmp_path / "worker.log"
    worker = tasks_worker(deps, log_path)
    try:
        deleted = requests.post(
            f"{base}/api/auth/account/delete", json={"password": PASSWORD}, headers=user["headers"], timeout=30
        )
        assert deleted.status_code == 204, deleted.text
        # The purge removes the rows; the deletes of the post's files and of the avatar meet
        # the stopped storage and are put off to a retry.
        deadline = time.monotonic() + 90
        failed: set[str] = set()
        while failed != stored:
            assert time.monotonic() < deadline, (stored, log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
            failed = set(re.findall(r"could not delete stored file (\S+): ", log_path.read_text(errors="replace")))
        assert b"account_purge state=SUCCESSFUL" in log_path.read_bytes()
        # The storage comes back empty (moto keeps objects in memory): the files are put back, so
        # only the retry can delete them.
        s3.start()
        for key in stored:
            s3.client().put_object(Bucket=s3.bucket, Key=key, Body=b"still here")
        deadline = time.monotonic() + 60
        while stored & s3.keys():
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
    finally:
        if s3.process.poll() is not None:
            s3.start()
        worker.terminate()
        worker.wait(timeout=20)
    assert requests.get(f"{base}/api/auth/current_user", headers=user["headers"], timeout=10).status_code == 401
