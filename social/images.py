"""Uploaded images: decode for real, refuse what is not a sane photo, store a clean copy.

Checks happen from the header first (format, frame size, frame count) so that a
decompression bomb is refused before a single pixel is decoded. What is stored is re-encoded
upright (`ImageOps.exif_transpose`) and without EXIF/GPS or text chunks.
"""

import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, ImageSequence
from rest_framework import serializers

from social import metrics

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FRAME_PIXELS = 40_000_000
MAX_FRAMES = 100
# Our own bound on an animation's total decoded size (frames × pixels), so that 100 frames of
# 40 MP each (16 GB of RGBA) cannot be asked for; a 100-frame 1000×1000 GIF still fits.
MAX_TOTAL_PIXELS = 150_000_000
# Pillow format -> (stored format, extension). MPO (a phone's multi-picture JPEG) keeps its
# main picture as a plain JPEG.
FORMATS = {
    "JPEG": ("JPEG", "jpg"),
    "MPO": ("JPEG", "jpg"),
    "PNG": ("PNG", "png"),
    "WEBP": ("WEBP", "webp"),
    "GIF": ("GIF", "gif"),
}


@dataclass(frozen=True)
class CleanImage:
    content: ContentFile
    extension: str


def _invalid(name: str, why: str) -> ValidationError:
    return ValidationError(f"Файл «{name}»: {why}")


def _flatten(frame: Image.Image, target: str) -> Image.Image:
    if target == "JPEG" and frame.mode not in ("RGB", "L"):
        return frame.convert("RGB")
    return frame


@metrics.IMAGE_PROCESSING_SECONDS.time()
def image_clean(upload) -> CleanImage:
    """Validate an uploaded file and return its re-encoded copy.

    Raises ValidationError with a Russian message naming the file when it is too large, not
    a JPEG/PNG/WebP/GIF, not decodable, or beyond the pixel and frame limits.
    """
    name = getattr(upload, "name", None) or "без имени"
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_IMAGE_BYTES:
        raise _invalid(name, "размер больше 10 МБ.")
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            if image.format not in FORMATS:
                raise _invalid(name, "поддерживаются только JPEG, PNG, WebP и GIF.")
            width, height = image.size
            if width * height > MAX_FRAME_PIXELS:
                raise _invalid(name, "изображение больше 40 мегапикселей.")
            target, extension = FORMATS[image.format]
            frames = 1 if image.format == "MPO" else getattr(image, "n_frames", 1)
            if frames > MAX_FRAMES:
                raise _invalid(name, f"больше {MAX_FRAMES} кадров.")
            if frames * width * height > MAX_TOTAL_PIXELS:
                raise _invalid(name, "анимация слишком велика.")
            output = io.BytesIO()
            if frames > 1:
                info = image.info
                clean = [ImageOps.exif_transpose(frame.copy()) for frame in ImageSequence.Iterator(image)]
                options = {"save_all": True, "append_images": clean[1:], "loop": info.get("loop", 0)}
                if "duration" in info:
                    options["duration"] = info["duration"]
                clean[0].save(output, format=target, **options)
            else:
                image.load()
                clean = _flatten(ImageOps.exif_transpose(image), target)
                options = {"quality": 90} if target in ("JPEG", "WEBP") else {}
                clean.save(output, format=target, **options)
    except ValidationError:
        raise
    except Image.DecompressionBombError as error:
        # Pillow refuses, already in open(), what exceeds twice its own pixel limit.
        raise _invalid(name, "изображение больше 40 мегапикселей.") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise _invalid(name, "не удалось прочитать изображение.") from error
    return CleanImage(content=ContentFile(output.getvalue(), name=f"image.{extension}"), extension=extension)


class CleanImageField(serializers.FileField):
    """A single image upload, validated and re-encoded by `image_clean`: the validated value
    is the clean copy (a ContentFile), and a bad file is a field error naming it."""

    def to_internal_value(self, data):
        upload = super().to_internal_value(data)
        try:
            return image_clean(upload).content
        except ValidationError as error:
            raise serializers.ValidationError(error.messages) from error
