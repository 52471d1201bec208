"""Fixtures of the posts tests: image payloads (the bucket fixtures are in the root conftest)."""

import io
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A few hundred bytes claiming 2.5 gigapixels: decoding it would take gigabytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * 3 * width
    idat = zlib.compress(row * 4, 9)  # a few rows are enough: it must never be decoded
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def exif_jpeg(size=(60, 40)) -> bytes:
    """A JPEG whose EXIF says "rotate 90° clockwise to view" and carries a GPS position; its
    left half is red and right half blue, so the rotation is visible in the pixels."""
    from PIL import ExifTags, Image

    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (55.0, 45.0, 0.0), 3: "E", 4: (37.0, 37.0, 0.0)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)
