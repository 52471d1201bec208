from django.urls import path


def route(pattern: str, view, name: str | None = None):
    """Both `/x` and `/x/` answer, with no redirect (CONTRACT-NOTES "General")."""
    return [path(pattern, view, name=name), path(pattern + "/", view)]
