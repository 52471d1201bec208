"""The root URLconf as social/urls.py listed it before issue #26's splice: each app's patterns
included under an empty prefix. tests/test_urls.py resolves every route both ways."""

from django.urls import include, path

from social import urls as root_urls

APPS = ("posts", "chats", "friends", "safety", "notifications", "moderation", "accounts")
_HEAD = 6  # health, metrics and health/live, each with its slash twin
_TAIL = 5  # schema and docs with their twins, the JSON 404 of every other path

api = [
    *root_urls.api[:_HEAD],
    *(path("", include(f"{app}.urls")) for app in APPS),
    *root_urls.api[-_TAIL:],
]
urlpatterns = [path("api/", include(api)), *root_urls.urlpatterns[1:]]
