"""Background work of the posts app (django-tasks; `manage.py db_worker` runs it)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from django_tasks import task

logger = logging.getLogger(__name__)

# With the first delay of 5 s, doubling up to an hour: about a day of tries before giving up.
STORAGE_DELETE_MAX_DELAY = 3600.0
STORAGE_DELETE_MAX_ATTEMPTS = 30


@task()
def stored_files_delete(names: list[str], attempt: int = 0) -> list[str]:
    """Delete these stored files; return the names the storage did not delete.

    Files whose post failed to be created or was deleted come here, never deleted inside the
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


@task()
def recommended_refresh(viewer_id: str, limit: int) -> bool:
    """Rank a viewer's recommendations anew and keep them (posts.recommendations.pages): enqueued
    when a first page served a kept ranking older than RECO_RANKING_TTL. False when the viewer
    is gone or deactivated meanwhile."""
    from accounts.models import User
    from posts.recommendations.pages import ranking_refresh

    viewer = User.objects.filter(pk=viewer_id, is_active=True).first()
    if viewer is None:
        return False
    ranking_refresh(viewer=viewer, limit=limit)
    return True
