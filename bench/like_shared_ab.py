"""A like toggle's answer when another worker made the post's last change (issue #26, fifth
pass), before and after, in one process: each toggle first forgets this process's encodings,
as a toggle landing on another of the shape's workers finds them (`make bench` toggles 200
posts from many users over several gunicorn workers). "before" answers as it did: the post's
encoding moved only when this process held the rev just before, else read and encoded; "after"
moves the shared encoding of that rev (posts.fragments.like_toggled_json). The two forms
alternate (ROUNDS rounds of TOGGLES toggles, `bench/like_cpu.py`'s data and toggles); prints
the client's CPU and the PostgreSQL backend's CPU per toggle, min and median over the rounds.
Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_shared_ab.py -q -s
"""

import time

import pytest
from django.conf import settings

from bench.like_cpu import backend_cpu_ms, paths  # noqa: F401
from posts import fragments
from social import metrics

ROUNDS, TOGGLES = 16, 60


def _like_toggled_json_before(*, ref, user, request):
    key = (ref.id, fragments._origin(request))
    entry = fragments._store.get(key)
    moved = None
    if entry is not None and entry.rev == ref.rev - 1 and entry.until > time.monotonic():
        liker, until = None, entry.until
        if ref.liked_by_me:
            with fragments.url_lease() as lease:
                shown = fragments.user_representation(
                    user_id=user.pk,
                    username=user.username,
                    email=fragments.embedded_email(user.email),
                    avatar_name=user.avatar.name or None,
                    request=request,
                )
            liker, until = fragments.json_bytes(shown), min(until, lease.until)
        moved = fragments._moved_by_like(entry, rev=ref.rev, liker_id=str(user.pk), liker=liker, until=until)
    if moved is not None:
        metrics.POST_CACHE.labels("hit").inc()
        if settings.POST_CACHE_BYTES > 0:
            fragments._store.put(key, moved, settings.POST_CACHE_BYTES)
        if fragments._shared_on():
            fragments._shared_put({ref.id: moved}, key[1])
        return moved.render(ref.liked_by_me)
    encoded = fragments._entries([ref], request=request).get(ref.id)
    return encoded.render(ref.liked_by_me) if encoded is not None else None


def _toggles_elsewhere(client, paths, n: int) -> None:  # noqa: F811 (the fixture's name)
    for i in range(n):
        fragments._store.clear()  # the post's last change was another worker's
        response = client.patch(paths[i % len(paths)])
        assert response.status_code == 200, response.content[:200]


def _summary(values: list[float]) -> str:
    values = sorted(values)
    return f"min {values[0]:5.2f} med {values[len(values) // 2]:5.2f}"


@pytest.mark.django_db(transaction=True)
def test_like_shared_ab(api, paths, monkeypatch):  # noqa: F811 (the fixture)
    forms = {"before": _like_toggled_json_before, "after": fragments.like_toggled_json}
    for answer in forms.values():
        monkeypatch.setattr(fragments, "like_toggled_json", answer)
        _toggles_elsewhere(api, paths, 40)
    client = {form: [] for form in forms}
    server = {form: [] for form in forms}
    for _ in range(ROUNDS):
        for form, answer in forms.items():
            monkeypatch.setattr(fragments, "like_toggled_json", answer)
            _toggles_elsewhere(api, paths, 10)
            server_start, start = backend_cpu_ms(), time.process_time()
            _toggles_elsewhere(api, paths, TOGGLES)
            client[form].append((time.process_time() - start) * 1000 / TOGGLES)
            if server_start is not None:
                server[form].append((backend_cpu_ms() - server_start) / TOGGLES)
    print()
    for form in forms:
        line = f"{form:7s} client {_summary(client[form])} ms"
        if server[form]:
            line += f" | PostgreSQL {_summary(server[form])} ms"
        print(line)
