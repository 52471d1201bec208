"""The API's URL patterns: the apps' routes spliced into the root list (social/urls.py) resolve
and reverse as they did when each app was included under an empty prefix."""

import re
import uuid
from importlib import import_module

import pytest
from django.urls import URLResolver, resolve, reverse

from social import urls as root_urls
from tests import included_urls

ID = str(uuid.UUID(int=7))
FILL = {"uuid": ID, "int": 7}


def sample_paths() -> list[str]:
    """One path a client could send to each of the apps' patterns, ids filled in."""
    paths = []
    for app in included_urls.APPS:
        for pattern in import_module(f"{app}.urls").urlpatterns:
            route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: str(FILL.get(m[1], "x")), str(pattern.pattern))
            paths.append("/api/" + route)
    return paths


def test_the_api_list_is_the_apps_patterns_in_the_order_they_were_included():
    assert root_urls.api[6:-5] == [p for app in included_urls.APPS for p in import_module(f"{app}.urls").urlpatterns]
    # No resolver left to fail on the way to a route further down.
    assert not [p for p in root_urls.api if isinstance(p, URLResolver)]


@pytest.mark.parametrize("path", sample_paths() + ["/api/health", "/api/nowhere", "/api/posts/not-an-id"])
def test_every_route_resolves_to_the_same_view_name_route_and_arguments(path):
    spliced, included = resolve(path), resolve(path, urlconf=included_urls)
    assert spliced.func == included.func
    assert (spliced.url_name, spliced.route, spliced.kwargs) == (included.url_name, included.route, included.kwargs)
    assert (spliced.namespaces, spliced.app_names) == (included.namespaces, included.app_names)


def test_every_named_route_reverses_to_the_same_path():
    compared = 0
    for app in included_urls.APPS:
        for pattern in import_module(f"{app}.urls").urlpatterns:
            if not pattern.name:
                continue
            route = str(pattern.pattern)
            kwargs = {key: FILL.get(kind, "x") for kind, key in re.findall(r"<(?:(\w+):)?(\w+)>", route)}
            assert reverse(pattern.name, kwargs=kwargs) == reverse(pattern.name, kwargs=kwargs, urlconf=included_urls)
            compared += 1
    assert compared > 40
