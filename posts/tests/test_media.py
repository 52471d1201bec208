"""Media a phone can afford (EXTENSIONS.md §7, issue #24): WebP variants, sizes and blurhash of
post images, square avatars, and manage.py backfill_media, against moto's S3 server over HTTP.
Every variant is checked by decoding the bytes S3 serves."""

import io
import re

import blurhash
import pytest
import requests
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image, ImageDraw, WebPImagePlugin

from chats.models import Chat
from posts.models import Post, PostImage
from posts.tests.factories import PostFactory
from testsupport.images import image_bytes, image_upload

pytestmark = pytest.mark.django_db

RANDOM_NAME = re.compile(r"posts/\d{4}/\d{2}/[0-9a-f]{32}\.(jpg|png|webp|gif)")


def photo(size=(2000, 1500), fmt="JPEG") -> bytes:
    """Detail everywhere (lines over a gradient), so the encoders work as on a photo."""
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90).resize(size), gradient))
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 50):
        draw.line([(i, 0), (size[0] - i, size[1])], fill=(255, i % 256, 0), width=3)
    out = io.BytesIO()
    image.save(out, fmt, quality=90)
    return out.getvalue()


def create(client, author, files):
    return client.post(
        "/api/posts/create", {"author": str(author.pk), "description": "media", "images": files}, format="multipart"
    )


def served(url: str) -> Image.Image:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


def post_keys(bucket_keys) -> set[str]:
    return {key for key in bucket_keys() if key.startswith("posts/")}


def test_each_image_gets_webp_thumb_and_medium_sizes_and_a_blurhash_in_order(api, user, bucket_keys):
    from django.core.files.uploadedfile import SimpleUploadedFile

    before = post_keys(bucket_keys)
    large = SimpleUploadedFile("large.jpg", photo((2000, 1500)), content_type="image/jpeg")
    tall = SimpleUploadedFile("tall.png", photo((300, 900), "PNG"), content_type="image/png")
    small = image_upload("small.gif", "GIF", size=(100, 50))

    response = create(api, user, [large, tall, small])

    assert response.status_code == 201, response.content
    body = response.json()
    assert [entry["url"] for entry in body["media"]] == body["images"]
    expected = [
        # (original, thumb, medium): long side ≤ 320 / ≤ 1280, never upscaled
        ((2000, 1500), (320, 240), (1280, 960)),
        ((300, 900), (107, 320), (300, 900)),
        ((100, 50), (100, 50), (100, 50)),
    ]
    for entry, (original, thumb, medium) in zip(body["media"], expected, strict=True):
        assert (entry["width"], entry["height"]) == original
        assert served(entry["url"]).size == original
        for variant, size in (("thumb", thumb), ("medium", medium)):
            picture = served(entry[variant]["url"])
            assert picture.format == "WEBP"
            assert picture.size == size == (entry[variant]["width"], entry[variant]["height"])
        # A real blurhash of the picture: it decodes, and to the image's dominant colours.
        assert blurhash.decode(entry["blurhash"], 8, 6)
    new = post_keys(bucket_keys) - before
    assert len(new) == 9  # 3 originals + 3 × 2 variants, nothing else
    rows = PostImage.objects.filter(post_id=body["id"]).order_by("position")
    names = [name for row in rows for name in (row.file.name, row.thumb.name, row.medium.name)]
    assert set(names) == new
    assert all(RANDOM_NAME.fullmatch(name) for name in names), names


def test_blurhash_follows_the_pictures_colours(api, user):
    red = image_upload("red.jpg", size=(400, 300), color=(220, 20, 20))

    entry = create(api, user, [red]).json()["media"][0]

    pixels = blurhash.decode(entry["blurhash"], 4, 3)
    red_, green, blue = pixels[1][1][:3]
    assert red_ > 180 and green < 60 and blue < 60


def test_the_variants_are_upright_like_the_original(api, user):
    from posts.tests.conftest import exif_jpeg, upload

    entry = create(api, user, [upload("rotated.jpg", exif_jpeg((60, 40)), "image/jpeg")]).json()["media"][0]

    # EXIF said rotate 90°: 60×40 stored as 40×60, and so are its variants.
    assert (entry["width"], entry["height"]) == (40, 60)
    assert served(entry["thumb"]["url"]).size == (40, 60)


def test_media_is_in_the_feed_and_the_post(api, user):
    created = create(api, user, [image_upload("a.jpg")]).json()

    assert api.get(f"/api/posts/{created['id']}").json()["media"] == created["media"]
    assert api.get("/api/posts/all").json()[0]["media"] == created["media"]


def test_deleting_a_post_deletes_every_variant_from_s3(api, user, bucket_keys, django_capture_on_commit_callbacks):
    created = create(api, user, [image_upload("a.jpg"), image_upload("b.png", "PNG")]).json()
    rows = PostImage.objects.filter(post_id=created["id"])
    names = {name for row in rows for name in (row.file.name, row.thumb.name, row.medium.name)}
    assert len(names) == 6 and names <= bucket_keys()

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/posts/{created['id']}").status_code == 204

    assert not names & bucket_keys()
    urls = [entry[variant]["url"] for entry in created["media"] for variant in ("thumb", "medium")]
    assert all(requests.get(url, timeout=10).status_code == 404 for url in urls)


def test_an_image_webp_cannot_encode_is_a_clear_400_and_nothing_is_stored(api, user, bucket_keys, monkeypatch):
    # Pillow's WebP encoder refusing the picture (as a build without libwebp, or a picture
    # beyond its limits, does); the upload decodes fine.
    def refuse(*args, **kwargs):
        raise OSError("encoder error -2 when writing image file")

    monkeypatch.setitem(Image.SAVE, "WEBP", refuse)
    monkeypatch.setattr(WebPImagePlugin, "_save", refuse)
    before = post_keys(bucket_keys)

    response = create(api, user, [image_upload("fine.jpg")])

    assert response.status_code == 400
    assert response.json() == {"images": ["Файл «fine.jpg»: не удалось сохранить уменьшенную копию в WebP."]}
    assert post_keys(bucket_keys) == before
    assert not Post.objects.exists()


# --- Avatars -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "stored"),
    [((600, 300), (256, 256)), ((300, 900), (256, 256)), ((100, 60), (60, 60))],
)
def test_an_avatar_is_stored_center_cropped_square_never_upscaled(api, size, stored):
    response = api.patch(
        "/api/auth/current_user", {"avatar": image_upload("me.png", "PNG", size=size)}, format="multipart"
    )

    assert response.status_code == 200, response.content
    assert served(response.json()["avatar"]).size == stored


def test_a_center_crop_keeps_the_middle(api):
    picture = Image.new("RGB", (300, 100), (0, 0, 255))
    picture.paste((255, 0, 0), (100, 0, 200, 100))  # red in the middle third, blue sides
    out = io.BytesIO()
    picture.save(out, "PNG")
    from django.core.files.uploadedfile import SimpleUploadedFile

    avatar = SimpleUploadedFile("me.png", out.getvalue(), content_type="image/png")
    url = api.patch("/api/auth/current_user", {"avatar": avatar}, format="multipart").json()["avatar"]

    stored = served(url).convert("RGB")
    assert stored.size == (100, 100)
    assert stored.getpixel((2, 50)) == (255, 0, 0) and stored.getpixel((97, 50)) == (255, 0, 0)


def test_replacing_an_avatar_deletes_the_old_one_from_s3(api, user, bucket_keys):
    api.patch("/api/auth/current_user", {"avatar": image_upload("one.jpg", size=(400, 400))}, format="multipart")
    user.refresh_from_db()
    old = user.avatar.name
    assert old in bucket_keys()

    response = api.patch(
        "/api/auth/current_user", {"avatar": image_upload("two.jpg", size=(500, 500))}, format="multipart"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.avatar.name != old
    assert old not in bucket_keys() and user.avatar.name in bucket_keys()


def test_a_chat_avatar_is_stored_square(api, user, other_user):
    response = api.post(
        "/api/chats/create",
        {"users": [str(other_user.pk)], "title": "Чат", "avatar": image_upload("c.jpg", size=(800, 400))},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert Chat.objects.get(pk=response.json()["id"]).avatar.name
    assert served(response.json()["avatar"]).size == (256, 256)


# --- backfill_media ------------------------------------------------------------------------------


def old_post(author, sizes=((800, 600),)):
    """A post stored before #24: originals only, no media."""
    post = PostFactory(author=author)
    for position, size in enumerate(sizes):
        name = default_storage.save("posts/2025/01/old.jpg", io.BytesIO(image_bytes("JPEG", size=size)))
        PostImage.objects.create(post=post, file=name, position=position)
    return post


def backfill() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill_media", "--batch-size=2", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_adds_the_missing_media_and_a_rerun_adds_nothing(api, user, bucket_keys):
    posts = [old_post(user, ((800, 600), (100, 2000))), old_post(user), old_post(user)]
    before = api.get(f"/api/posts/{posts[0].pk}").json()["media"][0]
    # Not backfilled yet: the original stands in for its variants, sizes unknown.
    assert before["thumb"] == before["medium"] == {"url": before["url"], "width": None, "height": None}
    assert before["blurhash"] is None

    out, err = backfill()

    assert "4 added, 0 already done, 0 failed" in out
    assert "4/4 images (100%)" in err  # the progress bar
    keys = post_keys(bucket_keys)
    media = api.get(f"/api/posts/{posts[0].pk}").json()["media"]
    assert [(entry["width"], entry["height"]) for entry in media] == [(800, 600), (100, 2000)]
    assert [(entry["thumb"]["width"], entry["thumb"]["height"]) for entry in media] == [(320, 240), (16, 320)]
    assert served(media[1]["medium"]["url"]).size == (64, 1280)
    assert all(entry["blurhash"] for entry in media)

    out, _ = backfill()

    assert "0 added, 0 already done, 0 failed" in out
    assert post_keys(bucket_keys) == keys  # no duplicate variants


def test_backfill_resumes_after_a_crash_and_finishes_without_duplicates(user, bucket_keys):
    """A crash halfway leaves some images done (each in its own transaction) and the rest
    without a thumb; the rerun does only the rest."""
    done, rest = old_post(user), old_post(user, ((640, 480), (640, 480)))
    from posts.services import post_image_media_add
    from social.images import stored_media

    first = PostImage.objects.get(post=done)
    assert post_image_media_add(image_id=first.pk, media=stored_media(first.file.name, default_storage))
    first.refresh_from_db()
    before = post_keys(bucket_keys)

    out, _ = backfill()

    assert "2 added" in out
    assert len(post_keys(bucket_keys) - before) == 4  # two variants of each remaining image
    assert not PostImage.objects.filter(thumb="").exists()
    assert PostImage.objects.get(post=done).thumb.name == first.thumb.name  # left as the first run made it
    assert rest.images.exclude(thumb="").count() == 2


def test_a_second_maker_of_the_same_media_stores_nothing_behind(user, bucket_keys, django_capture_on_commit_callbacks):
    from posts.services import post_image_media_add
    from social.images import stored_media

    image = PostImage.objects.get(post=old_post(user))
    media = stored_media(image.file.name, default_storage)
    assert post_image_media_add(image_id=image.pk, media=media)
    keys = post_keys(bucket_keys)

    assert not post_image_media_add(image_id=image.pk, media=media)

    assert post_keys(bucket_keys) == keys


def test_backfill_moves_the_posts_rev_so_cached_encodings_show_the_media(api, user):
    post = old_post(user)
    rev = Post.objects.get(pk=post.pk).rev
    stale = api.get("/api/posts/all").json()[0]["media"][0]  # encoded and kept by this process

    backfill()

    assert Post.objects.get(pk=post.pk).rev > rev
    fresh = api.get("/api/posts/all").json()[0]["media"][0]
    assert fresh["thumb"]["url"] != stale["thumb"]["url"]
    assert served(fresh["thumb"]["url"]).format == "WEBP"


def test_backfill_reports_a_missing_original_and_goes_on(user):
    broken = PostFactory(author=user)
    PostImage.objects.create(post=broken, file="posts/2025/01/gone.jpg", position=0)
    old_post(user)

    out, _ = backfill()

    assert "1 added, 0 already done, 1 failed" in out
    assert PostImage.objects.get(post=broken).thumb.name == ""


# --- Admin ---------------------------------------------------------------------------------------


def test_the_admin_list_shows_the_thumb_not_the_original(api, user):
    from django.test import Client

    from accounts.tests.factories import UserFactory

    created = create(api, user, [image_upload("a.jpg", size=(800, 600))]).json()
    image = PostImage.objects.get(post_id=created["id"])
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = staff.get("/admin/posts/post/").content.decode()

    assert image.thumb.name in page
    assert image.file.name not in page
