"""Presigned URLs are signed once per stored name and reused for half their lifetime
(social.files), in a bounded map that keeps the names in use (social.generations)."""

import copy
import uuid

import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from social import files
from social.files import stored_name_url, url_lease
from social.generations import TwoGenerations


def test_a_key_read_from_the_older_generation_survives_the_next_swap():
    kept = TwoGenerations(4)  # two generations of two keys
    kept.put("a", 1)
    kept.put("b", 2)
    kept.put("c", 3)  # the first swap: "a" and "b" are the older generation now

    assert kept.get("a") == 1  # read: copied into the recent generation
    kept.put("d", 4)  # the second swap drops what was not read since the first

    assert kept.get("a") == 1 and kept.get("b") is None and kept.get("d") == 4


def test_a_bounded_map_never_holds_more_than_its_limit():
    kept = TwoGenerations(10)
    for key in range(1000):
        kept.put(key, key)

    assert len(kept) <= 10 and kept.get(999) == 999
    kept.clear()
    assert len(kept) == 0 and kept.get(999) is None


def own_storage(settings):
    """The default storage as a changed STORAGES setting rebuilds it: its own presigned URLs
    (the copy's transfer options cannot upload: save before)."""
    settings.STORAGES = copy.deepcopy(settings.STORAGES)
    return files._unwrapped(default_storage)


def url_and_window(name: str) -> tuple[str, float]:
    with url_lease() as lease:
        url = stored_name_url(name)
    return url, lease.until


def test_a_presigned_url_in_use_is_kept_when_the_cache_fills_up(settings, monkeypatch):
    # Clearing the whole cache when full signed every name of the next pages again.
    name = default_storage.save(f"tests/{uuid.uuid4().hex}.txt", ContentFile(b"kept"))
    monkeypatch.setattr(files, "_SIGNED_MAX", 4)
    storage = own_storage(settings)
    try:
        url, until = url_and_window(name)
        for index in range(10):
            url_and_window(f"tests/other-{index}.txt")
            assert url_and_window(name) == (url, until)  # the same signature and reuse window

        assert len(files._presigned_urls(storage).signed) <= 4
        response = requests.get(url, timeout=10)
        assert response.status_code == 200 and response.content == b"kept"
    finally:
        storage.delete(name)


def test_a_changed_storage_setting_signs_its_urls_anew(settings):
    own_storage(settings)
    name = f"tests/{uuid.uuid4().hex}.txt"
    url, until = url_and_window(name)
    storages = copy.deepcopy(settings.STORAGES)
    storages["default"]["OPTIONS"]["querystring_expire"] = 2
    settings.STORAGES = storages

    later, later_until = url_and_window(name)

    assert later != url and later_until < until  # a window of 1 s, not the old storage's
