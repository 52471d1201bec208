import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.utils.functional import LazyObject, empty

from social.generations import TwoGenerations

# Presigned URLs, per storage and stored name: signing costs botocore CPU per URL, and a feed
# page names many files (images, authors' and likers' avatars). A URL is reused for half its
# lifetime, so every URL handed out stays valid for at least AWS_QUERYSTRING_EXPIRE / 2 (30 min
# by default). Figures: README "Performance and tuning".
_SIGNED_MAX = 50_000


class _PresignedUrls:
    """One storage's presigned URLs by stored name, with the end of each one's reuse window,
    for at most _SIGNED_MAX names (social.generations: a full cache keeps the names in use)."""

    __slots__ = ("storage", "reuse", "signed")

    def __init__(self, storage, reuse: float):
        self.storage = storage
        self.reuse = reuse
        self.signed = TwoGenerations(_SIGNED_MAX)

    def get(self, name: str) -> tuple[float, str]:
        """(until when it may be handed out, the URL) of `name`."""
        now = time.monotonic()
        cached = self.signed.get(name)
        if cached is None or cached[0] <= now:
            cached = (now + self.reuse, self.storage.url(name))
            self.signed.put(name, cached)
        return cached


# Per storage object, its _PresignedUrls (None: its URLs are not signed). A changed STORAGES
# setting builds new storage objects, so a new expiry never meets the URLs of an old one.
_PRESIGNED: dict = {}


def _presigned_urls(storage) -> _PresignedUrls | None:
    urls = _PRESIGNED.get(storage, False)
    if urls is False:
        expire = getattr(storage, "querystring_expire", 0) if getattr(storage, "querystring_auth", False) else 0
        urls = _PresignedUrls(storage, expire / 2) if expire else None
        if len(_PRESIGNED) >= 8:  # storages replaced by settings changes (tests)
            _PRESIGNED.clear()
        _PRESIGNED[storage] = urls
    return urls


@dataclass
class UrlLease:
    """Until when (time.monotonic()) the URLs handed out inside `url_lease()` may still be
    handed out: the earliest end of their reuse windows, infinite for unsigned URLs."""

    until: float = math.inf


_LEASE: ContextVar[UrlLease | None] = ContextVar("url_lease", default=None)


@contextmanager
def url_lease() -> Iterator[UrlLease]:
    """Track the URLs handed out in the block, for a caller that keeps what it builds from
    them (posts/fragments.py): kept past `lease.until`, a presigned URL could reach a client
    with less than half its lifetime left."""
    lease = UrlLease()
    token = _LEASE.set(lease)
    try:
        yield lease
    finally:
        _LEASE.reset(token)


def _unwrapped(storage):
    # `default_storage` is a LazyObject, whose every attribute read (`__class__` included) runs
    # its Python `__getattribute__`: `type()` and object's own lookup skip that (a page of
    # posts reaches here up to 200 times: issue #26).
    if issubclass(type(storage), LazyObject):
        wrapped = object.__getattribute__(storage, "_wrapped")
        if wrapped is empty:
            storage._setup()
            wrapped = object.__getattribute__(storage, "_wrapped")
        return wrapped
    return storage


def _stored_url(storage, name: str) -> str:
    storage = _unwrapped(storage)
    urls = _presigned_urls(storage)
    if urls is None:
        return storage.url(name)
    until, url = urls.get(name)
    lease = _LEASE.get()
    if lease is not None and until < lease.until:
        lease.until = until
    return url


def absolute_file_url(file, request=None) -> str | None:
    """An absolute URL for a stored file, or None when there is none.

    S3 URLs are already absolute (presigned or on the custom domain); local media URLs are
    made absolute against the request's host."""
    if not file:
        return None
    return stored_name_url(file.name, request, storage=file.storage)


def stored_name_url(name: str | None, request=None, *, storage=None) -> str | None:
    """absolute_file_url for a bare storage name (as read with values_list), on the default
    storage unless another is given."""
    if not name:
        return None
    url = _stored_url(storage or default_storage, name)
    if url.startswith(("http://", "https://")) or request is None:
        return url
    return request.build_absolute_uri(url)


def stored_file_copy(name: str, new_name: str, *, storage=None) -> str:
    """Copy a stored file to `new_name` (a fresh random name); return the stored name.

    On S3 the copy is made inside the bucket (CopyObject): the bytes never pass through this
    process, whatever the file's size. Other storages read and write it through Django's API.
    FileNotFoundError when `name` is gone; the storage's own error when it fails."""
    storage = storage or default_storage
    bucket = getattr(storage, "bucket_name", None)
    if bucket:
        from botocore.exceptions import ClientError  # only with django-storages configured
        from storages.utils import clean_name

        source = storage._normalize_name(clean_name(name))  # the key S3Storage itself would use
        target = clean_name(new_name)
        try:
            storage.bucket.Object(storage._normalize_name(target)).copy_from(
                CopySource={"Bucket": bucket, "Key": source}
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(name) from error
            raise
        return target
    with storage.open(name, "rb") as original:
        return storage.save(new_name, original)
