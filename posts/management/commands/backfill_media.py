import logging

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.db import reset_queries

from posts.models import PostImage
from posts.services import post_image_media_add
from social.images import stored_media

logger = logging.getLogger(__name__)


class Progress:
    """A one-line progress bar on a terminal (rewritten in place), a line per 5% elsewhere
    (logs keep readable)."""

    WIDTH = 30

    def __init__(self, total: int, stream):
        # `stream`: the command's OutputWrapper (stderr), so call_command(stderr=…) captures it.
        self.total, self.stream, self.done = total, stream, 0
        self.tty = stream.isatty()
        self._step = max(1, total // 20)

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.tty or self.done % self._step == 0 or self.done == self.total:
            share = self.done / self.total if self.total else 1
            bar = "#" * round(share * self.WIDTH)
            line = f"[{bar:<{self.WIDTH}}] {self.done}/{self.total} images ({share:.0%}) {note}"
            self.stream.write(("\r" + line) if self.tty else line + "\n", ending="")
            self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n", ending="")


class Command(BaseCommand):
    help = (
        "Make the missing media (size, blurhash, WebP thumb and medium) of existing post images "
        "(EXTENSIONS.md §7). Resumable and idempotent: it works only on images without a thumb, "
        "each recorded in its own transaction, so a rerun after a crash goes on where it stopped "
        "and a second run finds nothing to do. Memory stays bounded: ids are read in batches "
        "and one image is decoded at a time."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, batch_size: int, **options):
        pending = PostImage.objects.filter(thumb="")
        # One count for the bar; images made meanwhile by new posts are never pending.
        progress = Progress(pending.count(), self.stderr)
        added = skipped = failed = 0
        last = 0
        while True:
            # Keyset batches on the primary key: each query reads `batch_size` index entries,
            # however many images the table has or this run has done.
            batch = list(pending.filter(pk__gt=last).order_by("pk").values_list("pk", "file")[:batch_size])
            if not batch:
                break
            for image_id, name in batch:
                last = image_id
                try:
                    media = stored_media(name, default_storage)
                except (ValidationError, OSError) as error:
                    # A missing or broken original: reported, left without variants (the post
                    # keeps showing the original), and tried again by the next run.
                    logger.warning("post image %s (%s): %s", image_id, name, error)
                    failed += 1
                    progress.advance("failed")
                    continue
                if post_image_media_add(image_id=image_id, media=media):
                    added += 1
                else:
                    skipped += 1  # another run (or a concurrent one) got there first
                progress.advance()
            reset_queries()  # DEBUG keeps every query otherwise: memory would grow with the table
        progress.end()
        self.stdout.write(f"backfill_media: {added} added, {skipped} already done, {failed} failed")
