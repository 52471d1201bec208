"""Post creation with one phone photo (4000 × 3000 JPEG), timed in the driver's process.

The image pipeline (social/images.py) is CPU-bound and runs inside the request: decoding,
re-encoding and, since #24, the WebP variants and the blurhash. This step times
`posts.services.post_create` itself (pipeline + S3 writes + rows) so the cost of the pipeline
is seen without the HTTP load around it. Self-contained: it needs Django set up on the
bench's database and S3 (bench/run.py's driver) and nothing else.
"""

import io
import time

from bench.common import log
from bench.stats import mmm


def photo_bytes(size=(4000, 3000)) -> bytes:
    """A phone-sized JPEG with detail everywhere (gradients and lines), so the encoders work
    as on a photo rather than on a flat colour."""
    from PIL import Image, ImageDraw

    width, height = size
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90).resize(size), gradient))
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 25):
        draw.line([(i, 0), (width - i, height)], fill=(255, (i * 7) % 256, (i * 3) % 256), width=3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def photo_post_figures(figures: dict, settings: dict) -> None:
    """(7) post_create with one 4000 × 3000 JPEG, `photo_runs` times: seconds per post."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.models import User
    from posts.services import post_create

    log("(7) post creation with one 4000 × 3000 JPEG, in process")
    data = photo_bytes()
    author = User.objects.order_by("pk").first() or User.objects.create_user(
        email="photo-bench@example.com", username="photo_bench", password="photo-bench-password"
    )
    samples, cpu = [], []
    for i in range(settings["photo_runs"] + 1):
        upload = SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")
        started, cpu_started = time.perf_counter(), time.process_time()
        post_create(author=author, description=f"Фото {i}", images=[upload])
        if i:  # the first run warms Pillow's codecs and the S3 connection
            samples.append(time.perf_counter() - started)
            # CPU of this process, every thread counted: what a post costs the machine, and a
            # figure the load of a shared machine moves far less than the wall clock.
            cpu.append(time.process_time() - cpu_started)
    figures["photo_post_s"] = mmm(samples)
    figures["photo_post_cpu_s"] = mmm(cpu)
    figures["photo_post_kb"] = len(data) / 1024
    log(
        f"post_create, one 4000x3000 JPEG ({len(data) / 1024:.0f} KB): {figures['photo_post_s']}, "
        f"CPU {figures['photo_post_cpu_s']}"
    )
