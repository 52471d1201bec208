"""Background work of the posts app.

The stored-files deletion moved to `social.tasks` (posts and chats share it); the name stays
importable here for tasks queued before the move (their rows name
`posts.tasks.stored_files_delete`).
"""

from social.tasks import stored_files_delete

__all__ = ["stored_files_delete"]
