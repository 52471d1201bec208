"""URL resolution of the hot paths, the API's patterns spliced (social/urls.py) against the
apps included under an empty prefix as before (tests/included_urls.py), alternating in one
process, 11 rounds of 2,000 resolutions each (issue #26). Not collected by the suite; run it:

    DEBUG=0 SECRET_KEY=x PYTHONPATH=. .venv/bin/python bench/resolve_ab.py
"""

import os
import statistics
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
django.setup()

from django.urls import resolve  # noqa: E402

from social import urls as spliced  # noqa: E402
from tests import included_urls  # noqa: E402

PATHS = [
    "/api/health",
    "/api/posts/all",
    f"/api/posts/{uuid.uuid4()}/like/{uuid.uuid4()}",
    "/api/chats",
    "/api/notifications",
    "/api/auth/current_user",
]


def main() -> None:
    figures = {path: {"before": [], "after": []} for path in PATHS}
    confs = (("before", included_urls), ("after", spliced))
    for number in range(11):
        for label, conf in confs if number % 2 == 0 else confs[::-1]:
            for path in PATHS:
                resolve(path, conf)
                start = time.process_time()
                for _ in range(2000):
                    resolve(path, conf)
                figures[path][label].append((time.process_time() - start) / 2000 * 1e6)
    for path in PATHS:
        before, after = figures[path]["before"], figures[path]["after"]
        ratios = sorted(a / b for b, a in zip(before, after, strict=True))
        print(
            f"{path[:40]:40s} before {min(before):5.1f}/{statistics.median(before):5.1f}"
            f"  after {min(after):5.1f}/{statistics.median(after):5.1f} µs (least/median)"
            f"  after/before {statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
        )
    print("load average", open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
