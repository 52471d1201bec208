"""A user's data as a streamed ZIP (`GET /api/auth/export`): `data.json` at the top level and
the user's own original images under `images/`.

Nothing is built in memory: data.json is written item by item from querysets read in chunks,
each file is copied from the storage in blocks, and the ZIP is written to a sink that the
response drains after every write (zipfile writes data descriptors when it cannot seek). The
apps above accounts give their part through the `user_exporting` domain signal.
"""

import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder

from accounts import signals
from accounts.models import User

FILE_BLOCK = 64 * 1024
EXPORT_FILENAME = "export.zip"


@dataclass(frozen=True)
class ExportPart:
    """One app's share of an export: `sections` maps a data.json key to a function giving its
    items (a lazy iterable); `files` gives the stored names of the user's own originals."""

    sections: dict[str, Callable[[], Iterable]] = field(default_factory=dict)
    files: Callable[[], Iterable[str]] = lambda: ()


class _Sink:
    """The file zipfile writes to: it only collects bytes until the stream takes them."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.size = 0

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        return data


def _profile(user: User) -> dict:
    return {
        "id": str(user.pk),
        "username": user.username,
        "email": user.email,
        "date_joined": user.date_joined,
        "avatar": f"images/{user.avatar.name}" if user.avatar else None,
    }


def _json_pieces(user: User, parts: list[ExportPart]) -> Iterator[str]:
    encoder = DjangoJSONEncoder(ensure_ascii=False)
    yield '{"profile": ' + encoder.encode(_profile(user))
    for part in parts:
        for key, items in part.sections.items():
            yield f", {json.dumps(key)}: ["
            for number, item in enumerate(items()):
                yield ("," if number else "") + encoder.encode(item)
            yield "]"
    yield "}\n"


def export_stream(*, user: User) -> Iterator[bytes]:
    """The ZIP of `user`'s data, as chunks of bytes to send as they come."""
    parts = [part for _, part in signals.user_exporting.send(sender=User, user_id=user.pk) if part]
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("data.json", mode="w") as data:
            for piece in _json_pieces(user, parts):
                data.write(piece.encode())
                if sink.size >= FILE_BLOCK:
                    yield sink.take()
        yield sink.take()
        names = [user.avatar.name] if user.avatar else []
        for name in (*names, *(name for part in parts for name in part.files())):
            # Images are compressed already: stored as they are.
            entry = zipfile.ZipInfo(f"images/{name}")
            entry.compress_type = zipfile.ZIP_STORED
            with default_storage.open(name, "rb") as source, archive.open(entry, mode="w") as target:
                while block := source.read(FILE_BLOCK):
                    target.write(block)
                    yield sink.take()
            yield sink.take()
    yield sink.take()
