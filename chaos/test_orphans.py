"""Files whose post was deleted while the storage hung are deleted later, by the task worker."""

import io
import random
import re
import threading
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from chaos.conftest import signed_up, tasks_worker
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
    worker = tasks_worker(deps, log_path)
    try:
        started = time.monotonic()
        deleted = requests.delete(f"{base}/api/posts/{created.json()['id']}", headers=user["headers"], timeout=30)
        delete_seconds = time.monotonic() - started
        # The worker's first try meets the hung storage and gives up on each file (timeouts): a
        # post's original and its variants (#24), each in turn. The storage stays frozen until
        # that try has ended, so each of them is in the retry.
        deadline = time.monotonic() + 90
        while b"stored_files_delete state=SUCCESSFUL" not in log_path.read_bytes():
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-2000:]
            time.sleep(0.3)
        failed = set(re.findall(r"could not delete stored file (\S+): ", log_path.read_text(errors="replace")))
        assert failed == stored, (failed, stored)
        s3.resume()
        # moto, woken up, may still carry out the requests the worker gave up on: put the files
        # back, so that only the retry can delete them (a real store that hung may do either).
        for key in failed:
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
    assert deleted.status_code == 204
    assert delete_seconds < 3, delete_seconds  # the request never waited on the storage


def _noise_jpeg(number: int) -> bytes:
    # Noise does not compress: about a megabyte, so its upload takes a while.
    image = Image.frombytes("RGB", (1200, 900), random.Random(number).randbytes(1200 * 900 * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _freeze_at_upload(s3, uploads: int, deadline: float) -> None:
    """SIGSTOP the storage as soon as it has answered the existence check before the
    `uploads`-th file's upload (django-storages asks HEAD, 404, then PUTs): that PUT is then on
    its way, and the storage receives it but never answers it."""
    log = Path(s3.dir) / "server.log"
    with open(log, "rb") as reader:
        reader.seek(0, 2)
        seen, text = 0, b""
        while seen < uploads:
            assert time.monotonic() < deadline, text[-2000:]
            chunk = reader.read()
            if not chunk:
                time.sleep(0.0005)
                continue
            text += chunk
            seen = len(re.findall(rb'HEAD /[^ ]+/posts/[^ ]+ HTTP/1\.1[^"]*" 404', text))
    s3.freeze()


def test_files_stored_before_the_storage_froze_mid_upload_are_deleted_by_the_worker(healthy, deps, tmp_path):
    base, s3 = healthy.base, deps["s3"]
    user = signed_up(base)
    before = {key for key in s3.keys() if key.startswith("posts/")}
    answer: list[requests.Response] = []
    # Four photos, each stored as its original and two variants: twelve uploads in turn.
    files = [("images", (f"{number}.jpg", _noise_jpeg(number), "image/jpeg")) for number in range(4)]

    def create() -> None:
        answer.append(
            requests.post(
                f"{base}/api/posts/create",
                data={"author": user["id"], "description": "mid-upload"},
                files=files,
                headers=user["headers"],
                timeout=60,
            )
        )

    creator = threading.Thread(target=create)
    creator.start()
    try:
        # The second photo's original is in flight: three files are stored before it.
        _freeze_at_upload(s3, 4, deadline=time.monotonic() + 60)
        creator.join(timeout=60)
    finally:
        s3.resume()
    [created] = answer
    assert created.status_code == 503, created.text
    assert created.json() == {"detail": "Не удалось сохранить изображения, попробуйте позже."}

    # Woken up, the storage carries out what it had received, the upload it never answered
    # included: files of a post that does not exist.
    left, settled = set(), 0
    while settled < 5:
        now = {key for key in s3.keys() if key.startswith("posts/")} - before
        settled = settled + 1 if now == left else 0
        left = now
        time.sleep(0.2)
    assert left

    log_path = tmp_path / "worker.log"
    worker = tasks_worker(deps, log_path)
    try:
        deadline = time.monotonic() + 40
        while left & s3.keys():
            assert time.monotonic() < deadline, (left & s3.keys(), log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
