"""The like toggle's cuts of issue #26 (second pass), before and after, in one process: the
machine is shared, and separate runs of the two trees differ by more than the cuts, so the two
forms alternate (20 rounds of 100 toggles each, `bench/like_cpu.py`'s data and toggles). The
"before" form is the shared encoding's write as it was: a redis-py client built per call
(Django's get_client) and the script even for the one entry a toggle writes. Prints the
client's CPU and the PostgreSQL backend's CPU per toggle, min and median over the rounds. Not
collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/like_ab.py -q -s
"""

import time

import pytest

from bench.like_cpu import backend_cpu_ms, paths, toggles  # noqa: F401
from social import cache as social_cache

ROUNDS, TOGGLES = 20, 100


def _set_many_expiring_before(self, data: dict, timeout: int, *, prefix: str = "") -> None:
    keys = [self.make_and_validate_key(prefix + key) for key in data]
    values = [self._cache._serializer.dumps(value) for value in data.values()]
    client = self._cache.get_client(None, write=True)
    client.eval(social_cache._SET_MANY_EXPIRING, len(keys), *keys, int(timeout), *values)


def _summary(values: list[float]) -> str:
    values = sorted(values)
    return f"min {values[0]:5.2f} med {values[len(values) // 2]:5.2f}"


@pytest.mark.django_db(transaction=True)
def test_like_ab(api, paths, monkeypatch):  # noqa: F811 (the fixture)
    after = social_cache.RedisCache.set_many_expiring
    forms = {"before": _set_many_expiring_before, "after": after}
    toggles(api, paths, 40)
    client = {form: [] for form in forms}
    server = {form: [] for form in forms}
    for _ in range(ROUNDS):
        for form, write in forms.items():
            monkeypatch.setattr(social_cache.RedisCache, "set_many_expiring", write)
            toggles(api, paths, 10)
            server_start, start = backend_cpu_ms(), time.process_time()
            toggles(api, paths, TOGGLES)
            client[form].append((time.process_time() - start) * 1000 / TOGGLES)
            if server_start is not None:
                server[form].append((backend_cpu_ms() - server_start) / TOGGLES)
    print()
    for form in forms:
        line = f"{form:7s} client {_summary(client[form])} ms"
        if server[form]:
            line += f" | PostgreSQL {_summary(server[form])} ms"
        print(line)
