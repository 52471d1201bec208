"""Where `stored_files_delete` lived before it moved to social/tasks.py (accounts deletes an
avatar with it too): tasks queued by then name this path, and the worker imports them from here."""

from social.tasks import stored_files_delete

__all__ = ["stored_files_delete"]
