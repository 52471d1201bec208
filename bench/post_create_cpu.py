"""CPU per post creation with one image, in process: `posts.services.post_create` (decode,
re-encode, WebP variants, blurhash, S3 writes, rows) on bench/run.py's 84 KB JPEG of step (3) and
on bench/photo.py's 4000 × 3000 photo, `time.process_time` (every thread of this process: the
media is made on a thread of its own) over N posts, the least of three batches. Not collected by
the suite (no `test_` file name); run it by path, with S3 in a process of its own so that its CPU
is not counted (as in the shape, where moto or S3 is another process):

    .venv/bin/moto_server -p 5999 &
    AWS_S3_ENDPOINT_URL=http://127.0.0.1:5999 AWS_STORAGE_BUCKET_NAME=test-media \\
    AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_S3_REGION_NAME=us-east-1 \\
    AWS_S3_ADDRESSING_STYLE=path AWS_S3_URL_PROTOCOL=http: \\
    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/post_create_cpu.py -q -s

POST_CREATE_PROFILE=1 adds a cProfile of 20 posts of the 84 KB JPEG, the media made on the
calling thread so that the profile sees it (top 40 functions by internal time).
"""

import gc
import os
import time
from concurrent.futures import Future

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from bench.common import cpu_profile_print
from bench.logins import post_image_bytes
from bench.photo import photo_bytes
from posts.services import post_create
from social import images

pytestmark = pytest.mark.django_db


def _post(author, data: bytes) -> None:
    post_create(author=author, description="пост", images=[SimpleUploadedFile("a.jpg", data, "image/jpeg")])


def cpu_ms(author, data: bytes, posts: int) -> float:
    for _ in range(3):  # warm: codecs, the S3 connection, prepared statements
        _post(author, data)
    gc.collect()
    batches = []
    for _ in range(3):
        start = time.process_time()
        for _ in range(posts):
            _post(author, data)
        batches.append((time.process_time() - start) * 1000 / posts)
    return min(batches)


class _OnThisThread:
    """An executor that runs the call at once on the calling thread (for cProfile)."""

    def submit(self, func, *args):
        future = Future()
        future.set_result(func(*args))
        return future


def test_post_create_cpu(user, monkeypatch):
    small, photo = post_image_bytes(), photo_bytes()
    print(f"\n84 KB JPEG (800x600, {len(small) / 1024:.0f} KB): {cpu_ms(user, small, 30):6.1f} ms CPU/post")
    print(f"4000x3000 JPEG ({len(photo) / 1024:.0f} KB): {cpu_ms(user, photo, 3):6.1f} ms CPU/post")
    if os.environ.get("POST_CREATE_PROFILE"):
        monkeypatch.setattr(images, "_MEDIA_THREADS", _OnThisThread())
        cpu_profile_print(lambda: _post(user, small), 20, sort="tottime", top=40)
