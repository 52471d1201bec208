"""Background work of the posts app.

The stored-files deletion moved to `social.tasks` (posts and chats share it); the name stays
importable here for tasks queued before the move (their rows name
`posts.tasks.stored_files_delete`).
"""

from django_tasks import task

from social.tasks import stored_files_delete

__all__ = ["stored_files_delete"]


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
