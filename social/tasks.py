"""Background deletion of stored files (django-tasks; `manage.py db_worker` runs it).

The one owner of "delete these stored files, retrying while the storage is down": posts (their
images and variants), chats (chat avatars, message images) and account deletion hand their
files here, after their rows' deletion has committed (`stored_files_release`).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django_tasks import task

logger = logging.getLogger(__name__)

# With the first delay of 5 s, doubling up to an hour: about a day of tries before giving up.
STORAGE_DELETE_MAX_DELAY = 3600.0
STORAGE_DELETE_MAX_ATTEMPTS = 30


@task()
def stored_files_delete(names: list[str], attempt: int = 0) -> list[str]:
    """Delete these stored files; return the names the storage did not delete.

    Files whose row failed to be created or was deleted come here, never deleted inside the
    request: a storage that is down or hangs would hold it. The task's row in the queue is the
    record of what is left to delete: the files the storage refused go into a new task that
    runs later (the delay doubles each time), so nothing is left behind once the storage is back.
    """
    failed = []
    for name in names:
        try:
            default_storage.delete(name)
        except Exception as error:  # noqa: BLE001 - storage backends raise anything (botocore, OSError)
            logger.warning("could not delete stored file %s: %s: %s", name, type(error).__name__, error)
            failed.append(name)
    if not failed:
        return []
    backend = stored_files_delete.get_backend()
    if attempt + 1 >= STORAGE_DELETE_MAX_ATTEMPTS or not backend.supports_defer:
        # Only logged: an operator deletes these by hand (the immediate backend cannot wait).
        logger.error("giving up deleting stored files after %s attempts: %s", attempt + 1, failed)
        return failed
    delay = min(settings.STORAGE_DELETE_RETRY_SECONDS * 2**attempt, STORAGE_DELETE_MAX_DELAY)
    stored_files_delete.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
        names=failed, attempt=attempt + 1
    )
    return failed


def stored_files_delete_later(names) -> None:
    """Hand these stored files to the background deletion now: a file left behind is an
    orphan, never a broken post or message, and the request never waits on the storage."""
    kept = [name for name in names if name]
    if not kept:
        return
    try:
        stored_files_delete.enqueue(names=kept)
    except Exception:  # the queue's database is down too: say which files are left behind
        logger.exception("could not schedule the deletion of stored files %s", kept)


def stored_files_release(names) -> None:
    """Delete these stored files once the current transaction commits: a rolled-back deletion
    keeps them (at once outside a transaction)."""
    names = list(names)
    transaction.on_commit(lambda: stored_files_delete_later(names))
