"""A feed page from anywhere that no process has encoded (`bench/feed_cpu.py`'s deep-cold),
before and after the cuts of issue #26's deep pass, in one process: the machine is shared and
separate runs differ by more than the cuts, so the two forms alternate, round after round, on
the same random pages. "before" is the code as it was: every liker's object built and encoded
for every post it is embedded in, the whole post object built and cut at its fields, each
image's URL looked up twice, the posts' details read with an ORDER BY in each of 14
aggregates and the users' ids as UUIDs, the presigned URLs found through the LazyObject's
proxy in one (bucket, name) map cleared whole when full, and the shared encodings' keys made
and checked one by one by Django's cache (their prefix's digest computed on every read and
write). Both forms meet each page once first (unmeasured: URLs signed, likers' encodings
kept, the database's pages in memory); then every post's encoding is forgotten (its own and
the shared ones) before each measured request. CPU ms per request (`time.process_time`), and
the PostgreSQL backend's beside it (/proc), least and median of the rounds. On the data of
`make bench` (`manage.py seed_demo --users=3000 --posts=48000 --likes=480000 --views=95000`),
with the bench's storage (a moto S3 server and presigned URLs, as bench/run.py's environment
gives the shape):

    DATABASE_URL=... REDIS_URL=... AWS_STORAGE_BUCKET_NAME=... AWS_S3_ENDPOINT_URL=... \\
        .venv/bin/python -m bench.deep_ab [--rounds 9] [--pages 60]

It writes Redis keys (shared encodings) under the test client's origin and changes no row
but the readers' sessions.
"""

import argparse
import os
import random
import re
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "social.settings")
os.environ.setdefault("SECRET_KEY", "deep-ab-" + "x" * 40)
os.environ.setdefault("DEBUG", "0")


_SIGNATURE = re.compile(rb"\?[^\"]*")

# --- "before": the forms replaced, as they were ---------------------------------------------------
_SIGNED_BEFORE: dict = {}


def _unwrapped_before(storage):
    from django.utils.functional import LazyObject, empty

    if isinstance(storage, LazyObject):
        if storage._wrapped is empty:
            storage._setup()
        return storage._wrapped
    return storage


def _stored_url_before(storage, name: str) -> str:
    from social import files

    storage = _unwrapped_before(storage)
    expire = getattr(storage, "querystring_expire", 0) if getattr(storage, "querystring_auth", False) else 0
    if not expire:
        return storage.url(name)
    key = (getattr(storage, "bucket_name", ""), name)
    now = time.monotonic()
    cached = _SIGNED_BEFORE.get(key)
    if cached is None or cached[0] <= now:
        if len(_SIGNED_BEFORE) >= 50_000:
            _SIGNED_BEFORE.clear()
        cached = _SIGNED_BEFORE[key] = (now + expire / 2, storage.url(name))
    lease = files._LEASE.get()
    if lease is not None and cached[0] < lease.until:
        lease.until = cached[0]
    return cached[1]


def _media_before(image, request=None) -> dict:
    from social.files import stored_name_url

    url = stored_name_url(image.file, request)
    entry = {"url": url, "width": image.width, "height": image.height, "blurhash": image.blurhash or None}
    for variant in ("thumb", "medium"):
        name = getattr(image, variant)
        entry[variant] = {
            "url": stored_name_url(name, request) if name else url,
            "width": getattr(image, f"{variant}_width") if name else image.width,
            "height": getattr(image, f"{variant}_height") if name else image.height,
        }
    return entry


def _representation_before(detail, request, *, zone, emails_shown) -> dict:
    from accounts.serializers import user_representation
    from social.files import stored_name_url
    from social.renderers import datetime_json

    images = detail.image_media
    return {
        "id": str(detail.id),
        "author": {
            "id": str(detail.author_id),
            "username": detail.author_username,
            "avatar": stored_name_url(detail.author_avatar, request),
        },
        "description": detail.description,
        "images": [stored_name_url(image.file, request) for image in images],
        "media": [_media_before(image, request) for image in images],
        "likes": [
            user_representation(
                user_id=liker.user_id,
                username=liker.username,
                email=liker.email if emails_shown else "",
                avatar_name=liker.avatar_name,
                request=request,
            )
            for liker in detail.likers
        ],
        "likes_count": detail.likes_count,
        "liked_by_me": False,
        "created_at": datetime_json(detail.created_at, zone),
        "views": detail.views_count,
        "comments_count": detail.comments_count,
    }


def _encode_before(detail, *, request, zone, emails_shown, **_):
    from posts import fragments
    from social.files import url_lease
    from social.renderers import json_bytes

    with url_lease() as lease:
        data = _representation_before(detail, request, zone=zone, emails_shown=emails_shown)
    keys = list(data)
    likes, split = keys.index("likes"), keys.index("liked_by_me")
    pre = json_bytes({key: data[key] for key in keys[:likes]})
    pre = pre[:-1] + (b"," if len(pre) > 2 else b"") + b'"likes":'
    tail = json_bytes({key: data[key] for key in keys[split + 1 :]})
    tail = (b"," + tail[1:]) if len(tail) > 2 else b"}"
    likers = data["likes"]
    return fragments._Encoded.assemble(
        rev=detail.rev,
        pre=pre,
        likers=tuple(map(json_bytes, likers)),
        liker_ids=tuple(liker["id"] for liker in likers),
        likes_count=data["likes_count"],
        tail=tail,
        until=lease.until,
    )


def _shared_prefix_before(origin: tuple) -> str:
    import hashlib

    from django.conf import settings

    from posts import fragments

    storage = settings.STORAGES.get("default", {})
    options = sorted(
        (name, value)
        for name, value in storage.get("OPTIONS", {}).items()
        if isinstance(value, (str, int, float, bool, type(None)))
    )
    shape = repr(
        (settings.POST_LIKES_EMBEDDED, settings.USER_EMAIL_VISIBILITY, storage.get("BACKEND"), options)
    ).encode()
    digest = hashlib.blake2b(shape, digest_size=6).hexdigest()
    return fragments._SHARED_KEY.format(format=fragments._SHARED_FORMAT, shape=digest, scheme=origin[0], host=origin[1])


def _shared_get_before(post_ids: list, origin: tuple) -> dict:
    from django.core.cache import cache

    from posts import fragments

    prefix = _shared_prefix_before(origin)
    found = cache.get_many([prefix + post_id.hex for post_id in post_ids])
    wall, now = time.time(), time.monotonic()
    entries = {}
    for post_id in post_ids:
        packed = found.get(prefix + post_id.hex)
        if packed is None:
            continue
        rev, pre, likers, liker_ids, likes_count, tail, until = packed
        if until > wall:
            entries[post_id.int] = fragments._Encoded.assemble(  # keyed as fragments._entries reads them
                rev=rev,
                pre=pre,
                likers=likers,
                liker_ids=liker_ids,
                likes_count=likes_count,
                tail=tail,
                until=now + (until - wall),
            )
    return entries


def _shared_put_before(entries: dict, origin: tuple) -> None:
    from django.conf import settings
    from django.core.cache import cache

    prefix = _shared_prefix_before(origin)
    wall, now = time.time(), time.monotonic()
    packed = {
        prefix + post_id.hex: (
            entry.rev,
            entry.pre,
            entry.likers,
            entry.liker_ids,
            entry.likes_count,
            entry.tail,
            wall + (entry.until - now),
        )
        for post_id, entry in entries.items()
    }
    cache.set_many_expiring(packed, settings.POST_SHARED_CACHE_TTL)


_DETAILS_SQL_BEFORE = ""


def _details_sql_before() -> str:
    from accounts.models import User
    from posts.models import Like, Post, PostImage
    from posts.selectors import ImageMedia

    images = ", ".join(f"array_agg(i.{name} ORDER BY i.position) AS {name}" for name in ImageMedia._fields)
    likers = ", ".join(
        f"array_agg(liker.{name} ORDER BY recent.created_at DESC, recent.id DESC) AS {name}"
        for name in ("id", "username", "email", "avatar_name")
    )
    return f"""
SELECT p.id, p.description, p.created_at, p.likes_count, p.views_count, p.comments_count, p.rev,
       author.id, author.username, NULLIF(author.avatar, ''),
       images.file, images.width, images.height, images.blurhash, images.thumb, images.thumb_width,
       images.thumb_height, images.medium, images.medium_width, images.medium_height,
       likers.id, likers.username, likers.email, likers.avatar_name
FROM {Post._meta.db_table} AS p
JOIN {User._meta.db_table} AS author ON author.id = p.author_id
CROSS JOIN LATERAL (
    SELECT {images}
    FROM {PostImage._meta.db_table} AS i
    WHERE i.post_id = p.id
) AS images
CROSS JOIN LATERAL (
    SELECT {likers}
    FROM (
        SELECT l.user_id, l.created_at, l.id
        FROM {Like._meta.db_table} AS l
        WHERE l.post_id = p.id
        ORDER BY l.created_at DESC, l.id DESC
        LIMIT %(likers)s
    ) AS recent
    CROSS JOIN LATERAL (
        SELECT u.id, u.username, u.email, NULLIF(u.avatar, '') AS avatar_name
        FROM {User._meta.db_table} AS u
        WHERE u.id = recent.user_id
        OFFSET 0
    ) AS liker
) AS likers
WHERE p.id = ANY(%(ids)s::uuid[])
"""


def _post_details_before(*, ids: list) -> list:
    from django.conf import settings
    from django.db import connection

    from posts.selectors import ImageMedia, Liker, PostDetail
    from social.db import prepared_cursor

    if not ids:
        return []
    with prepared_cursor(connection) as cursor:
        cursor.execute(_DETAILS_SQL_BEFORE, {"ids": ids, "likers": max(settings.POST_LIKES_EMBEDDED, 0)})
        rows = cursor.fetchall()
    details = []
    for row in rows:
        images, likers = row[10:20], row[20:24]
        details.append(
            PostDetail(
                *row[:10],
                list(map(ImageMedia, *images)) if images[0] is not None else [],
                list(map(Liker, *likers)) if likers[0] is not None else [],
            )
        )
    return details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--pages", type=int, default=60)
    options = parser.parse_args()
    django.setup()
    global _DETAILS_SQL_BEFORE
    _DETAILS_SQL_BEFORE = _details_sql_before()
    import logging

    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from accounts.services import session_start
    from bench.like_cpu import backend_cpu_ms
    from posts import fragments, selectors
    from posts.models import Post
    from social import files
    from social.pagination import encode_cursor

    logging.disable(logging.INFO)  # the request log line would be most of what is measured
    settings.ALLOWED_HOSTS = ["*"]
    rng = random.Random(26)
    readers = list(User.objects.filter(is_active=True).order_by("pk")[:20])
    tokens = [session_start(user=reader).access for reader in readers]
    client = Client()
    ids = list(Post.objects.order_by("created_at", "id").values_list("created_at", "id"))
    pages = [
        f"/api/posts/all?limit=20&cursor={encode_cursor([at.isoformat(), pk])}"
        for at, pk in (ids[rng.randrange(len(ids))] for _ in range(options.pages))
    ]
    after = {
        "encode": fragments._encode,
        "stored_url": files._stored_url,
        "shared_get": fragments._shared_get,
        "shared_put": fragments._shared_put,
        "post_details": selectors.post_details,
    }
    before = {
        "encode": _encode_before,
        "stored_url": _stored_url_before,
        "shared_get": _shared_get_before,
        "shared_put": _shared_put_before,
        "post_details": _post_details_before,
    }
    forms = {"before": before, "after": after}

    def use(form: dict) -> None:
        fragments._encode = form["encode"]
        files._stored_url = form["stored_url"]
        fragments._shared_get = form["shared_get"]
        fragments._shared_put = form["shared_put"]
        selectors.post_details = form["post_details"]

    def get(path: str, index: int) -> bytes:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {tokens[index % len(tokens)]}")
        assert response.status_code == 200, response.content[:300]
        return response.content

    answers = {}
    for name, form in forms.items():  # met once: URLs signed, likers kept, pages in memory
        use(form)
        fragments.cache_clear(likers=False)
        answers[name] = [get(path, index) for index, path in enumerate(pages)]
    # The same bytes but for the signatures, signed at different moments by the two caches.
    unsigned = [[_SIGNATURE.sub(b"", answer) for answer in answers[name]] for name in forms]
    assert unsigned[0] == unsigned[1], "the two forms answer differently"
    spent: dict = {name: [] for name in forms}
    server: dict = {name: [] for name in forms}
    for _ in range(options.rounds):
        for name, form in forms.items():
            use(form)
            total = 0.0
            server_start = backend_cpu_ms()
            for index, path in enumerate(pages):
                fragments.cache_clear(likers=False)
                start = time.process_time()
                get(path, index)
                total += time.process_time() - start
            spent[name].append(total * 1000 / len(pages))
            if server_start is not None:
                # The key scans of cache_clear are Redis's: this is the pages' statements.
                server[name].append((backend_cpu_ms() - server_start) / len(pages))
    use(after)
    print(f"load average {os.getloadavg()[0]:.1f}; {options.rounds} rounds of {len(pages)} cold pages")
    for name, values in spent.items():
        line = f"{name:7s} min {min(values):5.2f} med {statistics.median(values):5.2f} ms CPU/request"
        if server[name]:
            line += f" | PostgreSQL min {min(server[name]):5.2f} med {statistics.median(server[name]):5.2f} ms"
        print(line)


if __name__ == "__main__":
    main()
