import os
import uuid

from django.utils import timezone


def random_upload_path(prefix: str, filename: str, *, extension: str | None = None) -> str:
    """A storage name that can neither collide nor be guessed from the client's file name:
    only the extension survives, and only when it is a plain one."""
    ext = (extension or os.path.splitext(filename)[1].lstrip(".")).lower()
    if not ext.isalnum() or len(ext) > 5:
        ext = "bin"
    return f"{prefix}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{ext}"
