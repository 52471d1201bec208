"""Uploaded images: decode for real, refuse what is not a sane photo, store a clean copy.

Checks happen from the header first (format, frame size, frame count) so that a
decompression bomb is refused before a single pixel is decoded. What is stored is re-encoded
upright (`ImageOps.exif_transpose`) and without EXIF/GPS or text chunks.

The one image pipeline of the project: post images, avatars (users, chats) and the media
backfill all come through here. From the one decoded, upright picture it also makes what a
phone needs (EXTENSIONS.md §7): the stored original's width and height, a blurhash, and WebP
variants (`thumb`, `medium`) — or, for an avatar, the square crop it is stored as. Nothing
decodes an image twice.
"""

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import blurhash
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, ImageSequence, JpegImagePlugin
from rest_framework import serializers

from social import metrics

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FRAME_PIXELS = 40_000_000
MAX_FRAMES = 100
# Decoding costs time and memory by the pixel, whatever the file's size: a 305 KB GIF of 100
# frames of 1224² (150 MP) held a worker for 6 s and 848 MB. So the pixels decoded (every frame
# counted) are bounded per image and per request, from the headers, before any decoding:
# IMAGE_MAX_PIXELS (default 40 MP: one 40 MP photo, or 40 frames of 1000²) and
# REQUEST_MAX_PIXELS (default 160 MP: ten 12 MP phone photos in one post fit).
# Pillow format -> (stored format, extension). MPO (a phone's multi-picture JPEG) keeps its
# main picture as a plain JPEG.
FORMATS = {
    "JPEG": ("JPEG", "jpg"),
    "MPO": ("JPEG", "jpg"),
    "PNG": ("PNG", "png"),
    "WEBP": ("WEBP", "webp"),
    "GIF": ("GIF", "gif"),
}


# The WebP variants of a post image: name -> longest side in pixels (never upscaled).
VARIANTS = {"thumb": 320, "medium": 1280}
VARIANT_QUALITY = 80
VARIANT_METHOD = 2
# An avatar is stored center-cropped to a square of at most this side.
AVATAR_SIDE = 256
# Blurhash components across and down (the reference's default for a 4:3 photo), computed on
# a picture this small: the hash holds 4 × 3 colours, more pixels add only time.
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SOURCE_SIDE = 32


# Threads that make the media while the request's thread encodes the original (image_clean):
# post creation waits for the longer of the two instead of their sum. One per core: daphne
# serves several requests of a process at once, a gunicorn sync worker one.
_MEDIA_THREADS = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="image-media")


@dataclass(frozen=True)
class Variant:
    content: ContentFile  # WebP bytes
    width: int
    height: int


@dataclass(frozen=True)
class Media:
    """What a client needs beside the original: its size, a placeholder and smaller copies."""

    width: int
    height: int
    blurhash: str
    variants: dict[str, Variant] = field(default_factory=dict)


@dataclass(frozen=True)
class CleanImage:
    content: ContentFile
    extension: str
    media: Media | None = None


def _image_max_pixels() -> int:
    return settings.IMAGE_MAX_PIXELS


def _request_max_pixels() -> int:
    return settings.REQUEST_MAX_PIXELS


def _invalid(name: str, why: str) -> ValidationError:
    return ValidationError(f"Файл «{name}»: {why}")


# Encoder settings tried in turn until the stored copy is no larger than the upload: a fixed
# quality of 90 turned a 9.2 MB JPEG into 22.8 MB. A JPEG first keeps its own quantization
# tables and chroma subsampling (its own quality, so no visible loss and about its own size),
# then steps down; other formats step down from 90 (WebP) or add the encoder's optimisation.
QUALITY_STEPS = {"JPEG": (85, 75, 65, 50), "WEBP": (90, 80, 70, 55)}
# Above this a JPEG upload is stored at it: finer tables cost bytes no eye sees.
MAX_JPEG_QUALITY = 90
# The IJG standard luminance table (JPEG Annex K), which libjpeg scales by the quality.
_IJG_LUMA_SUM = sum(
    (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56)
    + (14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92)
    + (49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
)


def _jpeg_quality(luma_table) -> float:
    """The libjpeg quality that would make about this luminance table (inverse of its scaling)."""
    scale = 100 * sum(luma_table) / _IJG_LUMA_SUM
    return (200 - scale) / 2 if scale <= 100 else 5000 / scale


def _source_quality(image: Image.Image, target: str) -> dict:
    """Encoder options that reproduce a JPEG upload's own quality (read before decoding), or
    MAX_JPEG_QUALITY when the upload's is finer."""
    if target != "JPEG" or image.format not in ("JPEG", "MPO") or not getattr(image, "quantization", None):
        return {}
    if _jpeg_quality(image.quantization[0]) > MAX_JPEG_QUALITY:
        return {"quality": MAX_JPEG_QUALITY}
    options = {"qtables": image.quantization}
    if image.info.get("progressive") or image.info.get("progression"):
        options["progressive"] = True  # smaller than baseline at the same quality
    sampling = JpegImagePlugin.get_sampling(image)
    if sampling != -1:
        options["subsampling"] = sampling
    return options


def _size(upload) -> int | None:
    size = getattr(upload, "size", None)
    return size if size else None


def _encode_within(picture: Image.Image, target: str, source_options: dict, *, budget: int | None) -> io.BytesIO:
    """`picture` encoded as `target`, the first candidate no larger than `budget` bytes (the
    upload's size), else the smallest candidate."""
    if target == "JPEG":
        candidates = [{**source_options, "optimize": True}] if source_options else []
        candidates += [{"quality": quality, "optimize": True} for quality in QUALITY_STEPS["JPEG"]]
    elif target == "WEBP":
        candidates = [{"quality": quality} for quality in QUALITY_STEPS["WEBP"]]
    else:
        candidates = [{}, {"optimize": True}]
    smallest = None
    for options in candidates:
        output = io.BytesIO()
        try:
            picture.save(output, format=target, **options)
        except OSError:
            # libjpeg's optimisation needs the whole output in one buffer, which Pillow sizes
            # by guess; near-incompressible pixels overflow it. Then without optimisation.
            output = io.BytesIO()
            picture.save(output, format=target, **{**options, "optimize": False})
        if budget is None or output.tell() <= budget:
            return output
        if smallest is None or output.tell() < smallest.tell():
            smallest = output
    return smallest


def _flatten(frame: Image.Image, target: str) -> Image.Image:
    if target == "JPEG" and frame.mode not in ("RGB", "L"):
        return frame.convert("RGB")
    return frame


def _frames(image: Image.Image) -> int:
    # An MPO (a phone's multi-picture JPEG) is stored as its main picture only.
    return 1 if image.format == "MPO" else getattr(image, "n_frames", 1)


def _checked_header(image: Image.Image, name: str) -> int:
    """The pixels decoding this image would produce (every frame), after the checks that need
    only its header. Raises ValidationError naming the file."""
    if image.format not in FORMATS:
        raise _invalid(name, "поддерживаются только JPEG, PNG, WebP и GIF.")
    width, height = image.size
    if width * height > MAX_FRAME_PIXELS:
        raise _invalid(name, "изображение больше 40 мегапикселей.")
    frames = _frames(image)
    if frames > MAX_FRAMES:
        raise _invalid(name, f"больше {MAX_FRAMES} кадров.")
    pixels = frames * width * height
    if pixels > _image_max_pixels():
        raise _invalid(name, f"больше {_image_max_pixels() // 1_000_000} млн пикселей во всех кадрах вместе.")
    return pixels


# What Pillow raises on a file it cannot read.
UNREADABLE = (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError)


def _unreadable(name: str, error: Exception) -> ValidationError:
    if isinstance(error, Image.DecompressionBombError):
        # Pillow refuses, already in open(), what exceeds twice its own pixel limit.
        return _invalid(name, "изображение больше 40 мегапикселей.")
    return _invalid(name, "не удалось прочитать изображение.")


def _name(upload) -> str:
    return getattr(upload, "name", None) or "без имени"


def _scaled(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """`size` scaled down so its longest side is at most `longest` (never up, never to 0)."""
    width, height = size
    ratio = min(1.0, longest / max(width, height))
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def _webp_ready(picture: Image.Image) -> Image.Image:
    """RGB, or RGBA when the picture has transparency: what the WebP encoder takes (and what
    resizing filters need: a palette would be resized by nearest neighbour)."""
    if picture.mode in ("RGB", "RGBA"):
        return picture
    transparent = picture.mode in ("LA", "PA", "La") or "transparency" in picture.info
    return picture.convert("RGBA" if transparent else "RGB")


def _shrunk(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`picture` scaled down to `size`: first by the largest whole factor that stays at or
    above it (`reduce`, a box filter in C), then Lanczos for the rest. On a 4000 × 3000 photo
    this took 0.16 s to medium where Lanczos alone took 0.35 s (and `reducing_gap=2` as much),
    with no difference an eye sees at these sizes."""
    factor = min(picture.width // size[0], picture.height // size[1])
    if factor > 1:
        picture = picture.reduce(factor)
    return picture.resize(size, Image.Resampling.LANCZOS)


def _webp(picture: Image.Image, name: str) -> ContentFile:
    output = io.BytesIO()
    try:
        # method 2 (of 0–6, default 4): half the encoding time of a 1280 px variant for the
        # same bytes within 0.1 % (measured on bench/photo.py's picture).
        picture.save(output, format="WEBP", quality=VARIANT_QUALITY, method=VARIANT_METHOD)
    except (OSError, ValueError, KeyError) as error:
        # Pillow decoded it but its WebP encoder refuses it: refuse the upload, store nothing.
        raise _invalid(name, "не удалось сохранить уменьшенную копию в WebP.") from error
    return ContentFile(output.getvalue(), name="image.webp")


def media_make(picture: Image.Image, name: str = "без имени") -> Media:
    """The media of an already decoded, upright picture (the stored original's pixels): its
    size, its blurhash and its WebP variants, each made from the next larger one (medium from
    the picture, thumb from medium, the blurhash from thumb), so the full-size pixels are
    resampled once. ValidationError naming the file when WebP cannot encode it."""
    width, height = picture.size
    source = _webp_ready(picture)
    variants = {}
    for variant, longest in sorted(VARIANTS.items(), key=lambda item: -item[1]):
        size = _scaled(source.size, longest)
        if size != source.size:
            source = _shrunk(source, size)
        variants[variant] = Variant(content=_webp(source, name), width=size[0], height=size[1])
    return Media(width=width, height=height, blurhash=_blurhash(source), variants=variants)


def _blurhash(picture: Image.Image) -> str:
    """The blurhash of `picture`, computed on a copy BLURHASH_SOURCE_SIDE pixels long (the
    encoder is pure Python: about 40 ms there, and the hash holds only 4 × 3 colours)."""
    tiny = _shrunk(picture, _scaled(picture.size, BLURHASH_SOURCE_SIDE)).convert("RGB")
    width, height = tiny.size
    data = tiny.tobytes()
    rows = [[tuple(data[(y * width + x) * 3 : (y * width + x) * 3 + 3]) for x in range(width)] for y in range(height)]
    x_components, y_components = BLURHASH_COMPONENTS
    return blurhash.encode(rows, components_x=x_components, components_y=y_components)


def _square(picture: Image.Image) -> Image.Image:
    """Center-cropped to a square, scaled down to AVATAR_SIDE (never up)."""
    side = min(AVATAR_SIDE, *picture.size)
    return ImageOps.fit(picture, (side, side), Image.Resampling.LANCZOS)


def images_clean(uploads, *, media: bool = False) -> list[CleanImage]:
    """Validate the images of one request and return their re-encoded copies, in order.

    Every file's header is read first and the decoded pixels of all of them (every frame) are
    summed: over REQUEST_MAX_PIXELS, a ValidationError refuses the request before a single pixel
    is decoded. Then each one goes through `image_clean`.
    """
    total = 0
    for upload in uploads:
        name = _name(upload)
        _check_size(upload, name)
        try:
            upload.seek(0)
            with Image.open(upload) as image:
                total += _checked_header(image, name)
        except ValidationError:
            raise
        except UNREADABLE as error:
            raise _unreadable(name, error) from error
    if total > _request_max_pixels():
        raise ValidationError(
            f"Изображения слишком велики вместе: больше {_request_max_pixels() // 1_000_000} млн пикселей "
            "во всех файлах и кадрах."
        )
    return [image_clean(upload, media=media) for upload in uploads]


def _check_size(upload, name: str) -> None:
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_IMAGE_BYTES:
        raise _invalid(name, "размер больше 10 МБ.")


@metrics.IMAGE_PROCESSING_SECONDS.time()
def image_clean(upload, *, media: bool = False, square: bool = False) -> CleanImage:
    """Validate an uploaded file and return its re-encoded copy.

    Raises ValidationError with a Russian message naming the file when it is too large, not
    a JPEG/PNG/WebP/GIF, not decodable, or beyond the pixel and frame limits (IMAGE_MAX_PIXELS
    decoded pixels in all its frames; a request of several images: `images_clean`).
    `media`: also its `Media` (size, blurhash, WebP variants; of the first frame of an
    animation), from the same decoded pixels. `square`: stored as an avatar, center-cropped
    to a square of at most AVATAR_SIDE (every frame of an animation).
    """
    name = _name(upload)
    _check_size(upload, name)
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            frames = _frames(image)
            _checked_header(image, name)
            target, extension = FORMATS[image.format]
            if frames > 1:
                output = io.BytesIO()
                info = image.info
                clean = [ImageOps.exif_transpose(frame.copy()) for frame in ImageSequence.Iterator(image)]
                if square:
                    clean = [_square(frame) for frame in clean]
                first = clean[0]
                options = {"save_all": True, "append_images": clean[1:], "loop": info.get("loop", 0)}
                if "duration" in info:
                    options["duration"] = info["duration"]
                clean[0].save(output, format=target, **options)
            else:
                source_options = _source_quality(image, target)
                image.load()
                first = ImageOps.exif_transpose(image)
                if square:
                    first = _square(first)
                # The media from the same pixels, on another core while the original encodes:
                # both only read them, and Pillow's resampling and encoders release the GIL.
                making = _MEDIA_THREADS.submit(media_make, first, name) if media else None
                clean = _flatten(first, target)
                output = _encode_within(clean, target, source_options, budget=_size(upload))
            if media and frames > 1:
                making = _MEDIA_THREADS.submit(media_make, first, name)
            made = making.result() if media else None
    except ValidationError:
        raise
    except UNREADABLE as error:
        raise _unreadable(name, error) from error
    return CleanImage(
        content=ContentFile(output.getvalue(), name=f"image.{extension}"), extension=extension, media=made
    )


class CleanImageField(serializers.FileField):
    """A single image upload, validated and re-encoded by `image_clean`: the validated value
    is the clean copy (a ContentFile), and a bad file is a field error naming it. `square`:
    an avatar, stored center-cropped to a square of at most AVATAR_SIDE."""

    def __init__(self, *, square: bool = False, **kwargs):
        self.square = square
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        upload = super().to_internal_value(data)
        try:
            return image_clean(upload, square=self.square).content
        except ValidationError as error:
            raise serializers.ValidationError(error.messages) from error


def stored_media(name: str, storage) -> Media:
    """The media of an image already stored under `name` (manage.py backfill_media): read,
    checked from its header like an upload (a stored file is trusted no more than one), decoded
    once, and made into its media. ValidationError when it is not a sane image."""
    with storage.open(name, "rb") as stored:
        upload = ContentFile(stored.read(), name=name)
    _check_size(upload, name)
    try:
        with Image.open(upload) as image:
            _checked_header(image, name)
            image.seek(0)
            image.load()
            # Stored originals are upright already; a file put there by other means may not be.
            return media_make(ImageOps.exif_transpose(image), name)
    except ValidationError:
        raise
    except UNREADABLE as error:
        raise _unreadable(name, error) from error


NOT_A_FILE = "Ожидается файл изображения."


def request_images(request) -> list:
    """The image files of a request (a post, a chat message): repeated `images` fields, or
    `images[]` as some form libraries send.

    A non-file value under those names is refused rather than silently dropped; an empty one
    (how some clients say "no images") is ignored.
    """
    files = request.FILES.getlist("images") + request.FILES.getlist("images[]")
    if hasattr(request.data, "getlist"):
        stray = [value for key in ("images", "images[]") for value in request.POST.getlist(key) if value != ""]
    else:
        value = request.data.get("images") if hasattr(request.data, "get") else None
        stray = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
    if stray:
        raise ValidationError({"images": [NOT_A_FILE]})
    return files
