"""The posts API as a client sees it: real PostgreSQL, Redis and S3 (moto over HTTP)."""

import base64
import io
import os
import re
import uuid
from datetime import timedelta

import pytest
import requests
from django.core.files.storage import default_storage
from django.test import override_settings
from django.utils import timezone
from PIL import Image

from accounts.models import User
from accounts.tests.factories import UserFactory
from notifications.models import Notification, UnreadCount
from posts.models import Like, Post, PostImage, PostView
from posts.tests.conftest import bomb_png, exif_jpeg, upload
from posts.tests.factories import LikeFactory, PostFactory, PostImageFactory
from social.pagination import encode_cursor
from testsupport.images import image_bytes, image_upload
from testsupport.pages import next_url

pytestmark = pytest.mark.django_db

CREATE_PATHS = ["/api/auth/create", "/api/auth/create/", "/api/posts/create", "/api/posts/create/"]
CREDENTIALS = {"detail": "Не удалось подтвердить учетные данные"}
NOT_FOUND = {"detail": "Не найдено."}
POST_KEYS = {
    *("id", "author", "description", "images", "likes", "likes_count", "liked_by_me", "created_at", "views"),
    "comments_count",  # EXTENSIONS.md §3 (posts/tests/test_comments.py)
    "media",  # EXTENSIONS.md §7 (posts/tests/test_media.py)
}


def create(client, author, *, images=(), description="Привет!", field="images", path="/api/auth/create"):
    data = {"author": str(author.pk), "description": description}
    if images:
        data[field] = list(images)
    return client.post(path, data, format="multipart")


def stored_images(bucket_keys) -> set[str]:
    return {key for key in bucket_keys() if key.startswith("posts/")}


# --- Create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CREATE_PATHS)
def test_create_answers_201_with_the_post_on_every_create_path(api, user, path):
    response = create(api, user, path=path, images=[image_upload("a.jpg")])

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == POST_KEYS
    assert body["author"] == {"id": str(user.pk), "username": user.username, "avatar": None}
    assert body["description"] == "Привет!"
    assert len(body["images"]) == 1
    assert body["likes"] == [] and body["likes_count"] == 0 and body["liked_by_me"] is False
    assert body["views"] == 0
    assert body["created_at"].endswith("Z")
    assert Post.objects.get(pk=body["id"]).author_id == user.pk


def test_created_images_land_in_s3_and_their_urls_serve_the_stored_bytes(api, user, bucket_keys):
    before = stored_images(bucket_keys)
    uploads = [
        image_upload("one.jpg", "JPEG"),
        image_upload("two.png", "PNG"),
        image_upload("three.webp", "WEBP"),
        image_upload("four.gif", "GIF"),
    ]
    response = create(api, user, images=uploads)

    assert response.status_code == 201, response.content
    urls = response.json()["images"]
    assert len(urls) == 4
    added = stored_images(bucket_keys) - before
    rows = PostImage.objects.filter(post_id=response.json()["id"]).order_by("position")
    names = [row.file.name for row in rows]
    # Each original beside its two WebP variants (posts/tests/test_media.py), nothing else.
    assert len(added) == 4 * 3
    assert set(names) | {row.thumb.name for row in rows} | {row.medium.name for row in rows} == added
    formats = []
    for url, name in zip(urls, names, strict=True):
        assert url.startswith("http://127.0.0.1:")  # the S3 endpoint, absolute
        served = requests.get(url, timeout=10)
        assert served.status_code == 200
        with default_storage.open(name) as stored:
            assert served.content == stored.read()
        formats.append(Image.open(io.BytesIO(served.content)).format)
    assert formats == ["JPEG", "PNG", "WEBP", "GIF"]  # in the order they were sent


def test_stored_names_are_random_and_never_the_clients_file_name(api, user):
    response = create(api, user, images=[image_upload("../../etc/passwd.jpg"), image_upload("../../etc/passwd.jpg")])

    assert response.status_code == 201
    names = list(PostImage.objects.filter(post_id=response.json()["id"]).values_list("file", flat=True))
    assert len(set(names)) == 2
    for name in names:
        assert re.fullmatch(r"posts/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", name), name


def test_create_accepts_images_sent_as_images_brackets(api, user):
    response = create(api, user, field="images[]", images=[image_upload("a.jpg"), image_upload("b.png", "PNG")])

    assert response.status_code == 201, response.content
    assert len(response.json()["images"]) == 2


def test_create_without_images_or_description_makes_an_empty_post(api, user):
    response = api.post("/api/posts/create", {"author": str(user.pk)}, format="multipart")

    assert response.status_code == 201, response.content
    assert response.json()["images"] == [] and response.json()["description"] == ""


def test_create_also_accepts_json_without_images(api, user):
    response = api.post("/api/posts/create", {"author": str(user.pk), "description": "json"}, format="json")

    assert response.status_code == 201
    assert response.json()["description"] == "json"


def test_stored_jpeg_is_upright_and_has_no_exif_or_gps(api, user, s3):
    response = create(api, user, images=[upload("phone.jpg", exif_jpeg((60, 40)), "image/jpeg")])

    assert response.status_code == 201, response.content
    stored = Image.open(io.BytesIO(requests.get(response.json()["images"][0], timeout=10).content))
    assert stored.size == (40, 60)  # rotated as the Orientation tag asked
    assert not stored.getexif()  # no Orientation, no GPSInfo pointer: nothing at all
    assert "exif" not in stored.info
    # The red left half of the sideways photo is the top once rotated 90° clockwise.
    top, bottom = stored.convert("RGB").getpixel((20, 5)), stored.convert("RGB").getpixel((20, 55))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_an_animated_gif_keeps_its_frames(api, user):
    frames = [Image.new("RGB", (20, 20), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    response = create(api, user, images=[upload("anim.gif", buffer.getvalue(), "image/gif")])

    assert response.status_code == 201
    stored = Image.open(io.BytesIO(requests.get(response.json()["images"][0], timeout=10).content))
    assert stored.n_frames == 3


def test_create_unauthenticated_is_401(anon_client, user):
    response = create(anon_client, user)

    assert response.status_code == 401
    assert response.json() == CREDENTIALS


def test_create_as_another_author_is_403_and_stores_nothing(api, other_user, bucket_keys):
    before = stored_images(bucket_keys)
    response = create(api, other_user, images=[image_upload()])

    assert response.status_code == 403
    assert response.json() == {"detail": "Нельзя создать пост от имени другого пользователя."}
    assert not Post.objects.exists()
    assert stored_images(bucket_keys) == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"description": "нет автора"}, "author"),
        ({"author": "not-a-uuid"}, "author"),
        ({"author": ""}, "author"),
        ({"author": "{user}", "description": "я" * 5001}, "description"),
        ({"author": "{user}", "description": "nul\x00byte"}, "description"),
        ({"author": "{user}", "images": "not a file"}, "images"),
    ],
    ids=["missing-author", "malformed-author", "empty-author", "long-description", "nul-byte", "string-image"],
)
def test_create_with_invalid_fields_is_400_naming_the_field(api, user, data, field):
    data = {key: value.replace("{user}", str(user.pk)) for key, value in data.items()}
    response = api.post("/api/auth/create", data, format="multipart")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert all(re.search("[а-яА-Я]", message) for message in response.json()[field])  # Russian
    assert not Post.objects.exists()


def test_description_of_exactly_5000_characters_is_accepted(api, user):
    response = create(api, user, description="я" * 5000)

    assert response.status_code == 201
    assert len(response.json()["description"]) == 5000


def _too_large_jpeg() -> bytes:
    # A valid JPEG followed by padding: over 10 MB whatever a decoder would make of it.
    return image_bytes("JPEG") + b"\0" * (10 * 1024 * 1024)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("notes.txt", b"just some text, not a picture", "не удалось прочитать"),
        ("fake.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100, "не удалось прочитать"),
        ("picture.bmp", image_bytes("BMP"), "только JPEG, PNG, WebP и GIF"),
        ("huge.jpg", _too_large_jpeg(), "больше 10 МБ"),
        ("bomb.png", bomb_png(), "больше 40 мегапикселей"),
        ("bomb100.png", bomb_png(10_000, 10_000), "больше 40 мегапикселей"),
        ("just-over.png", bomb_png(8_000, 5_001), "больше 40 мегапикселей"),
    ],
    ids=["text", "truncated-jpeg", "bmp", "over-10-mb", "bomb-2.5-gigapixels", "bomb-100-megapixels", "40mp-and-a-row"],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_bad_file_is_400_naming_it_and_nothing_is_stored(api, user, bucket_keys, name, content, why):
    before = stored_images(bucket_keys)
    response = create(api, user, images=[image_upload("good.jpg"), upload(name, content)])

    assert response.status_code == 400, response.content
    [message] = response.json()["images"]
    assert f"«{name}»" in message and why in message
    assert not Post.objects.exists() and not PostImage.objects.exists()
    assert stored_images(bucket_keys) == before


def test_the_bomb_is_tiny_on_the_wire():
    assert len(bomb_png()) < 200_000  # what makes it a bomb: tiny file, 2.5 gigapixels


def test_eleven_images_are_400_and_nothing_is_stored(api, user, bucket_keys):
    before = stored_images(bucket_keys)
    response = create(api, user, images=[image_upload(f"{n}.jpg") for n in range(11)])

    assert response.status_code == 400
    assert response.json() == {"images": ["Не больше 10 изображений в посте."]}
    assert not Post.objects.exists()
    assert stored_images(bucket_keys) == before


def test_ten_images_are_accepted(api, user):
    response = create(api, user, images=[image_upload(f"{n}.jpg") for n in range(10)])

    assert response.status_code == 201
    assert len(response.json()["images"]) == 10


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--xyz\r\nno boundary in the header"),
        ("multipart/form-data; boundary=", b"--\r\n"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--xyz--"),
    ],
    ids=["no-boundary", "empty-boundary", "part-without-name"],
)
def test_a_malformed_multipart_body_is_400_not_500(api, content_type, body):
    response = api.generic("POST", "/api/auth/create", body, content_type=content_type)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("body", [b"[1, 2]", b"{not json", b'"text"'])
def test_a_json_body_that_is_not_an_object_is_400(api, body):
    response = api.generic("POST", "/api/posts/create", body, content_type="application/json")

    assert response.status_code == 400


# --- Feed ------------------------------------------------------------------------------------


def test_feed_lists_posts_newest_first_with_likes_and_liked_by_me(api, user, other_user):
    now = timezone.now()
    old = PostFactory(author=other_user, created_at=now - timedelta(hours=2))
    new = PostFactory(author=user, created_at=now - timedelta(hours=1))
    PostImageFactory(post=new, position=0)
    LikeFactory(post=old, user=user)

    response = api.get("/api/posts/all")

    assert response.status_code == 200
    body = response.json()
    assert [post["id"] for post in body] == [str(new.pk), str(old.pk)]
    # Embedded likers carry no email, the caller's own neither (CONTRACT-NOTES "Privacy").
    assert body[1]["likes"] == [{"id": str(user.pk), "username": user.username, "email": "", "avatar": None}]
    assert body[1]["likes_count"] == 1 and body[1]["liked_by_me"] is True
    assert body[0]["liked_by_me"] is False
    assert len(body[0]["images"]) == 1 and body[0]["images"][0].startswith("http")
    assert "Link" not in response


def test_feed_answers_200_with_an_empty_array_when_there_are_no_posts(api):
    response = api.get("/api/posts/all/")

    assert response.status_code == 200
    assert response.json() == []


def test_feed_pages_by_20_by_default_and_honours_limit(api):
    PostFactory.create_batch(21)

    first = api.get("/api/posts/all")
    assert len(first.json()) == 20
    assert next_url(first) is not None
    second = api.get(next_url(first))
    assert len(second.json()) == 1 and next_url(second) is None

    limited = api.get("/api/posts/all?limit=5")
    assert len(limited.json()) == 5
    assert "limit=5" in next_url(limited)


def test_feed_walk_sees_every_post_once_while_new_posts_arrive(api, user):
    base = timezone.now() - timedelta(days=1)
    posts = [PostFactory(created_at=base - timedelta(seconds=n // 3)) for n in range(23)]  # ties on created_at
    expected = [str(p.pk) for p in sorted(posts, key=lambda p: (p.created_at, p.pk.hex), reverse=True)]

    seen, url, pages = [], "/api/posts/all?limit=4", 0
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += [post["id"] for post in response.json()]
        PostFactory(author=user)  # a new post arrives between two pages
        url, pages = next_url(response), pages + 1

    assert seen == expected  # no duplicate, no gap, in order
    assert pages == 6


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "²", "1.5", "9" * 5000])
def test_feed_with_an_out_of_range_limit_is_400(api, limit):
    response = api.get("/api/posts/all", {"limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        _b64(b"not json"),
        _b64(b'{"a": 1}'),
        _b64(b'["only-one"]'),
        _b64(b"[1, 2]"),
        encode_cursor(["not a date", str(uuid.uuid4())]),
        encode_cursor(["2026-01-01T00:00:00+00:00", "not-a-uuid"]),
        encode_cursor(["2026-13-45T99:00:00+00:00", str(uuid.uuid4())]),
        "A" * 600,
        _b64('["\udcff"]'.encode("utf-8", "surrogatepass")),
    ],
)
def test_feed_with_a_bad_cursor_is_400(api, cursor):
    PostFactory()
    response = api.get("/api/posts/all", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json() == {"cursor": ["Некорректный курсор."]}


def test_feed_unauthenticated_is_401(anon_client):
    response = anon_client.get("/api/posts/all")

    assert response.status_code == 401
    assert response.json() == CREDENTIALS


def _populate(count: int, *, viewer) -> None:
    """`count` posts by different authors, each with images and likes (one by the viewer)."""
    for _ in range(count):
        post = PostFactory()
        for position in range(3):
            PostImageFactory(post=post, position=position)
        LikeFactory(post=post, user=viewer)
        for _ in range(2):
            LikeFactory(post=post)


# The authenticated user's row and the page's rows with liked_by_me: one statement for the feed
# with a Bearer token (accounts.authentication.SessionCheckInView), and for a user's posts with
# the author's existence too; then, for the posts this process has not encoded yet
# (posts/fragments.py): posts with their authors, images and recent likers, in one statement.
FEED_QUERIES = 1
USER_POSTS_QUERIES = 1
FEED_DETAIL_QUERIES = 1


@pytest.mark.parametrize("count", [2, 12])
def test_feed_costs_a_constant_number_of_queries(api, user, django_assert_num_queries, count):
    _populate(count, viewer=user)

    with django_assert_num_queries(FEED_QUERIES + FEED_DETAIL_QUERIES):
        cold = api.get("/api/posts/all?limit=50")
    with django_assert_num_queries(FEED_QUERIES):
        warm = api.get("/api/posts/all?limit=50")

    assert len(cold.json()) == count
    assert all(len(post["images"]) == 3 and post["likes_count"] == 3 for post in cold.json())
    assert warm.content == cold.content


# --- One user's posts ------------------------------------------------------------------------


def test_user_posts_lists_only_that_users_posts_newest_first(api, other_user):
    now = timezone.now()
    mine = [PostFactory(author=other_user, created_at=now - timedelta(minutes=n)) for n in range(3)]
    PostFactory.create_batch(2)

    response = api.get(f"/api/users/{other_user.pk}/posts")

    assert response.status_code == 200
    assert [post["id"] for post in response.json()] == [str(p.pk) for p in mine]
    assert all(post["author"]["id"] == str(other_user.pk) for post in response.json())


def test_user_posts_pages_with_a_next_link(api, other_user):
    PostFactory.create_batch(5, author=other_user)

    first = api.get(f"/api/users/{other_user.pk}/posts/?limit=3")
    second = api.get(next_url(first))

    assert len(first.json()) == 3 and len(second.json()) == 2
    assert next_url(second) is None
    assert {p["id"] for p in first.json()} | {p["id"] for p in second.json()} == {
        str(pk) for pk in Post.objects.values_list("pk", flat=True)
    }


def test_user_posts_of_an_unknown_user_is_404(api):
    response = api.get(f"/api/users/{uuid.uuid4()}/posts")

    assert response.status_code == 404
    assert response.json() == {"detail": "Пользователь не найден."}


def test_user_posts_with_a_malformed_id_is_a_json_404(api):
    response = api.get("/api/users/not-a-uuid/posts")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_user_posts_unauthenticated_is_401(anon_client, user):
    assert anon_client.get(f"/api/users/{user.pk}/posts").status_code == 401


def test_user_posts_with_a_bad_limit_is_400(api, user):
    assert api.get(f"/api/users/{user.pk}/posts?limit=1000").status_code == 400


@pytest.mark.parametrize("count", [2, 12])
def test_user_posts_cost_a_constant_number_of_queries(api, user, other_user, django_assert_num_queries, count):
    for _ in range(count):
        post = PostFactory(author=other_user)
        PostImageFactory(post=post)
        LikeFactory(post=post, user=user)
        LikeFactory(post=post)

    # The user's row, the author's existence and the page's rows in one statement (three before),
    # then the same details as the feed.
    with django_assert_num_queries(USER_POSTS_QUERIES + FEED_DETAIL_QUERIES):
        response = api.get(f"/api/users/{other_user.pk}/posts?limit=50")
    with django_assert_num_queries(USER_POSTS_QUERIES):
        again = api.get(f"/api/users/{other_user.pk}/posts?limit=50")

    assert len(response.json()) == count
    assert again.content == response.content


# --- One post: read (records a view) and delete ----------------------------------------------


def test_reading_a_post_answers_it_and_counts_each_other_viewer_once(client_for, user, other_user):
    post = PostFactory(author=user)
    author, viewer = client_for(user), client_for(other_user)

    assert author.get(f"/api/posts/{post.pk}").json()["views"] == 0  # the author does not count
    first = viewer.get(f"/api/posts/{post.pk}")
    again = viewer.get(f"/api/posts/{post.pk}/")

    assert first.status_code == 200
    assert set(first.json()) == POST_KEYS
    assert first.json()["views"] == 1
    assert again.json()["views"] == 1
    assert client_for(UserFactory()).get(f"/api/posts/{post.pk}").json()["views"] == 2
    assert PostView.objects.filter(post=post).count() == 2


def test_reading_an_unknown_post_is_404(api):
    response = api.get(f"/api/posts/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Пост не найден."}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/posts/123"),
        ("get", "/api/posts/not-a-uuid/"),
        ("delete", "/api/posts/123"),
        ("patch", "/api/posts/123/like/456"),
        ("patch", f"/api/posts/{uuid.uuid4()}/like/abc"),
        ("get", "/api/posts/xyz/likes"),
    ],
)
def test_a_malformed_id_in_a_post_path_is_a_json_404(api, method, path):
    response = getattr(api, method)(path)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_reading_a_post_unauthenticated_is_401(anon_client):
    response = anon_client.get(f"/api/posts/{PostFactory().pk}")

    assert response.status_code == 401
    assert not PostView.objects.exists()


def test_the_author_deletes_a_post_and_its_files_leave_s3(api, user, bucket_keys, django_capture_on_commit_callbacks):
    created = create(api, user, images=[image_upload("a.jpg"), image_upload("b.png", "PNG")]).json()
    names = set(PostImage.objects.filter(post_id=created["id"]).values_list("file", flat=True))
    assert names <= bucket_keys()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/posts/{created['id']}")

    assert response.status_code == 204
    assert not Post.objects.filter(pk=created["id"]).exists()
    assert not names & bucket_keys()
    assert all(requests.get(url, timeout=10).status_code == 404 for url in created["images"])
    assert api.get(f"/api/posts/{created['id']}").status_code == 404


def test_staff_may_delete_anyones_post(client_for, user):
    post = PostFactory(author=user)
    staff = client_for(UserFactory(is_staff=True))

    assert staff.delete(f"/api/posts/{post.pk}/").status_code == 204
    assert not Post.objects.filter(pk=post.pk).exists()


def test_deleting_someone_elses_post_is_403_and_keeps_it(api, other_user):
    post = PostFactory(author=other_user)

    response = api.delete(f"/api/posts/{post.pk}")

    assert response.status_code == 403
    assert response.json() == {"detail": "Удалить пост может только его автор."}
    assert Post.objects.filter(pk=post.pk).exists()


def test_deleting_an_unknown_post_is_404(api):
    assert api.delete(f"/api/posts/{uuid.uuid4()}").status_code == 404


def test_deleting_unauthenticated_is_401(anon_client):
    post = PostFactory()

    assert anon_client.delete(f"/api/posts/{post.pk}").status_code == 401
    assert Post.objects.filter(pk=post.pk).exists()


# --- Likes ------------------------------------------------------------------------------------


def test_like_toggles_and_answers_the_post(api, user):
    post = PostFactory()
    path = f"/api/posts/{post.pk}/like/{user.pk}"

    liked = api.patch(path)
    assert liked.status_code == 200
    assert set(liked.json()) == POST_KEYS
    assert liked.json()["likes"] == [{"id": str(user.pk), "username": user.username, "email": "", "avatar": None}]
    assert liked.json()["likes_count"] == 1 and liked.json()["liked_by_me"] is True

    unliked = api.patch(path + "/")
    assert unliked.status_code == 200
    assert unliked.json()["likes"] == [] and unliked.json()["likes_count"] == 0
    assert unliked.json()["liked_by_me"] is False
    assert not Like.objects.exists()


def test_liking_as_another_user_is_403(api, other_user):
    post = PostFactory()

    response = api.patch(f"/api/posts/{post.pk}/like/{other_user.pk}")

    assert response.status_code == 403
    assert response.json() == {"detail": "Нельзя поставить лайк от имени другого пользователя."}
    assert not Like.objects.exists()


def test_liking_an_unknown_post_is_404(api, user):
    response = api.patch(f"/api/posts/{uuid.uuid4()}/like/{user.pk}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Пост не найден."}


def test_liking_unauthenticated_is_401(anon_client, user):
    post = PostFactory()

    assert anon_client.patch(f"/api/posts/{post.pk}/like/{user.pk}").status_code == 401
    assert not Like.objects.exists()


@override_settings(POST_LIKES_EMBEDDED=3)
def test_a_post_embeds_only_its_most_recent_likers_but_counts_them_all(api, user):
    post, other = PostFactory(), PostFactory()
    now = timezone.now()
    likers = [LikeFactory(post=post, created_at=now - timedelta(minutes=n)).user for n in range(5)]
    LikeFactory(post=other)

    body = api.get("/api/posts/all").json()
    by_id = {p["id"]: p for p in body}

    assert [liker["id"] for liker in by_id[str(post.pk)]["likes"]] == [str(u.pk) for u in likers[:3]]
    assert by_id[str(post.pk)]["likes_count"] == 5
    assert len(by_id[str(other.pk)]["likes"]) == 1


def test_likers_page_through_every_liker_most_recent_first(api):
    post = PostFactory()
    now = timezone.now()
    likers = [LikeFactory(post=post, created_at=now - timedelta(minutes=n // 2)).user for n in range(7)]

    seen, url = [], f"/api/posts/{post.pk}/likes?limit=3"
    while url:
        response = api.get(url)
        assert response.status_code == 200
        seen += response.json()
        url = next_url(response)

    assert {u["id"] for u in seen} == {str(u.pk) for u in likers} and len(seen) == 7
    assert set(seen[0]) == {"id", "username", "email", "avatar"}
    assert seen[0]["id"] == str(likers[0].pk) or seen[0]["id"] == str(likers[1].pk)  # same minute: id decides


def test_likers_of_an_unknown_post_is_404(api):
    assert api.get(f"/api/posts/{uuid.uuid4()}/likes").status_code == 404


def test_likers_unauthenticated_is_401(anon_client):
    assert anon_client.get(f"/api/posts/{PostFactory().pk}/likes").status_code == 401


@pytest.mark.parametrize(
    "cursor", ["%%%", encode_cursor(["2026-01-01T00:00:00+00:00", "x"]), encode_cursor(["a", "1"])]
)
def test_likers_with_a_bad_cursor_is_400(api, cursor):
    post = PostFactory()
    LikeFactory(post=post)

    assert api.get(f"/api/posts/{post.pk}/likes", {"cursor": cursor}).status_code == 400


@pytest.mark.parametrize("like_id", ["9" * 30, "-" + "9" * 30])
def test_likers_with_an_out_of_range_like_id_in_the_cursor_is_not_a_500(api, like_id):
    post = PostFactory()
    LikeFactory(post=post, created_at=timezone.now() - timedelta(days=1))

    # Beyond bigint: Django compares it as "all" / "none" rather than sending it to PostgreSQL.
    cursor = encode_cursor([timezone.now().isoformat(), like_id])
    response = api.get(f"/api/posts/{post.pk}/likes", {"cursor": cursor})

    assert response.status_code == 200
    assert len(response.json()) == 1


@pytest.mark.parametrize("count", [2, 15])
def test_likers_cost_a_constant_number_of_queries(api, django_assert_num_queries, count):
    post = PostFactory()
    for _ in range(count):
        LikeFactory(post=post)

    # The user's row, the post's existence, the likes with their users.
    with django_assert_num_queries(3):
        response = api.get(f"/api/posts/{post.pk}/likes?limit=50")

    assert len(response.json()) == count


@pytest.mark.parametrize("count", [2, 15])
def test_a_like_toggle_costs_a_constant_number_of_queries(api, user, django_assert_num_queries, count):
    post = PostFactory()
    for _ in range(count):
        LikeFactory(post=post)
    path = f"/api/posts/{post.pk}/like/{user.pk}"
    api.patch(path)  # this process now holds the post's encoding (the answer moves it after)

    # The toggle's one statement, the token's user check in it (a Bearer caller): the caller's
    # row locked if the token is accepted, the post's if visible, the like's delete or insert,
    # the post's counters, the author's notification taken back (unlike) or written with the
    # unread count (like). No BEGIN or COMMIT of its own (autocommit in production, as
    # test_a_like_toggle_commits_on_its_own pins).
    with django_assert_num_queries(1):
        unliked = api.patch(path)
    with django_assert_num_queries(1):
        liked = api.patch(path)

    assert unliked.json()["likes_count"] == count and liked.json()["likes_count"] == count + 1
    assert liked.json()["liked_by_me"] is True and liked.json()["likes"][0]["id"] == str(user.pk)


@pytest.mark.django_db(transaction=True)
def test_a_like_toggle_commits_on_its_own(api, user, django_assert_num_queries):
    post = PostFactory()
    path = f"/api/posts/{post.pk}/like/{user.pk}"
    api.patch(path)  # this process now holds the post's encoding (the answer moves it after)

    # Outside any transaction, as in production: the toggle's statement (the user's check in
    # it), with no BEGIN or COMMIT round trip (each is a captured statement when one runs).
    with django_assert_num_queries(1):
        unliked = api.patch(path)
    with django_assert_num_queries(1):
        liked = api.patch(path)

    assert liked.json()["liked_by_me"] is True and unliked.json()["liked_by_me"] is False
    assert Like.objects.get().user_id == user.pk and Post.objects.get(pk=post.pk).likes_count == 1


def test_liking_with_a_refused_token_is_401_and_stores_nothing(anon_client, user):
    post = PostFactory()
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = anon_client.patch(f"/api/posts/{post.pk}/like/{user.pk}")

    assert response.status_code == 401
    assert not Like.objects.exists() and Post.objects.get(pk=post.pk).rev == 0


def test_liking_your_own_post_notifies_no_one(api, user):
    post = PostFactory(author=user)

    liked = api.patch(f"/api/posts/{post.pk}/like/{user.pk}")

    assert liked.status_code == 200 and liked.json()["likes_count"] == 1
    assert not Notification.objects.exists() and not UnreadCount.objects.filter(unread__gt=0).exists()


def test_liking_a_post_of_an_inactive_author_is_404_and_stores_nothing(api, user):
    post = PostFactory()
    User.objects.filter(pk=post.author_id).update(is_active=False)

    response = api.patch(f"/api/posts/{post.pk}/like/{user.pk}")

    assert response.status_code == 404 and response.json() == {"detail": "Пост не найден."}
    assert not Like.objects.exists()
    assert Post.objects.get(pk=post.pk).likes_count == 0


def test_likes_of_one_post_keep_the_order_of_their_toggles(api, client_for):
    post = PostFactory()
    likers = UserFactory.create_batch(3)
    for liker in likers:
        assert client_for(liker).patch(f"/api/posts/{post.pk}/like/{liker.pk}").status_code == 200

    shown = [u["id"] for u in api.get(f"/api/posts/{post.pk}/likes").json()]
    stored = list(Like.objects.filter(post=post).order_by("created_at").values_list("user_id", flat=True))

    # Most recent first; created_at read by the database after the post's row was locked.
    assert shown == [str(liker.pk) for liker in reversed(likers)]
    assert stored == [liker.pk for liker in likers]


def animated_gif(frames: int, side: int) -> bytes:
    """A GIF of `frames` frames of side² pixels, each a different flat colour (identical frames
    would be merged): a few hundred KB that decode to frames × side² pixels."""
    pictures = [Image.new("P", (side, side), n % 256) for n in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], loop=0)
    return buffer.getvalue()


def test_a_gif_of_100_frames_of_1224_squared_is_refused_before_decoding(api, user, bucket_keys):
    # The attack: 305 KB on the wire, 150 MP to decode (6 s and 848 MB of a worker before).
    before = stored_images(bucket_keys)
    content = animated_gif(100, 1224)
    assert len(content) < 400_000

    response = create(api, user, images=[upload("frames.gif", content, "image/gif")])

    assert response.status_code == 400, response.content
    assert response.json() == {"images": ["Файл «frames.gif»: больше 40 млн пикселей во всех кадрах вместе."]}
    assert stored_images(bucket_keys) == before


def test_images_over_the_request_pixel_budget_are_refused_together(api, user, bucket_keys):
    # Five GIFs of 40 frames of 1000² each fit the per-image budget (40 MP) but not, together
    # (200 MP), the request's (160 MP): nothing is decoded, nothing stored.
    before = stored_images(bucket_keys)
    gif = animated_gif(40, 1000)
    response = create(api, user, images=[upload(f"{n}.gif", gif, "image/gif") for n in range(5)])

    assert response.status_code == 400, response.content
    assert response.json() == {
        "images": ["Изображения слишком велики вместе: больше 160 млн пикселей во всех файлах и кадрах."]
    }
    assert not Post.objects.exists()
    assert stored_images(bucket_keys) == before


def test_images_within_the_request_pixel_budget_are_stored(api, user):
    gif = animated_gif(40, 1000)
    response = create(api, user, images=[upload(f"{n}.gif", gif, "image/gif") for n in range(4)])

    assert response.status_code == 201, response.content
    assert len(response.json()["images"]) == 4


@override_settings(IMAGE_MAX_PIXELS=1_000_000)
def test_an_avatar_over_the_image_pixel_budget_is_refused(api, user):
    response = api.patch(
        "/api/auth/current_user",
        {"avatar": upload("me.png", image_bytes("PNG", size=(1001, 1000)), "image/png")},
        format="multipart",
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"avatar": ["Файл «me.png»: больше 1 млн пикселей во всех кадрах вместе."]}


def noisy_jpeg(size=(1200, 900), **save) -> bytes:
    """A photo-like JPEG that compresses poorly (random pixels) at the given quality."""
    width, height = size
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(width * height * 3)).save(buffer, format="JPEG", **save)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "save",
    [{"quality": 50}, {"quality": 75}, {"quality": 95, "subsampling": 0}, {"quality": 35, "progressive": True}],
    ids=["q50", "q75", "q95-444", "q35-progressive"],
)
def test_a_stored_jpeg_is_no_larger_than_the_upload(api, user, save):
    # A fixed quality of 90 turned a 9.2 MB JPEG into 22.8 MB.
    content = noisy_jpeg(**save)

    response = create(api, user, images=[upload("photo.jpg", content, "image/jpeg")])

    assert response.status_code == 201, response.content
    stored = PostImage.objects.get().file
    assert stored.size <= len(content), (stored.size, len(content))
    with Image.open(stored) as image:
        assert image.format == "JPEG" and image.size == (1200, 900)
