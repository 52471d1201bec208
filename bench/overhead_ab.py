"""The cuts of issue #26's shared-path pass, before and after, in one process (the machine is
shared: separate runs of the two trees differ by more than the cuts; here the two forms
alternate, 15 rounds each, on `bench/pages_cpu.py`'s data): an access token verified by PyJWT
against the per-process verified token; the chat list's query with UUID ids against text ids,
its objects built from each, and its page encoded with the renderer's encoder built per call
against `json_bytes` (orjson). Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/overhead_ab.py -q -s
"""

import time

from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import BearerAuthentication
from bench.pages_cpu import seeded  # noqa: F401
from chats import selectors as cs
from chats.serializers import chat_list_items
from social.pagination import PageRequest
from social.renderers import JsonDumps, default_renderer, json_bytes


def cpu(fn, n):
    c = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - c) / n * 1e6


def ab(name, a, b, n=300, rounds=15):
    ra, rb = [], []
    for _ in range(rounds):
        ra.append(cpu(a, n))
        rb.append(cpu(b, n))
    ra.sort(), rb.sort()
    before, after = f"min {ra[0]:7.1f} med {ra[len(ra) // 2]:7.1f}", f"min {rb[0]:7.1f} med {rb[len(rb) // 2]:7.1f}"
    print(f"{name:34s} before {before} us | after {after} us")


def test_ab(api, seeded, user):  # noqa: F811
    raw = api.tokens.access.encode()
    auth = BearerAuthentication()
    auth.get_validated_token(raw)
    ab("access token verification", lambda: AccessToken(raw), lambda: auth.get_validated_token(raw), n=1000)
    page = PageRequest(limit=20, after=None)
    old_sql = cs._CHAT_LIST_FIRST.replace("::text", "").replace("c.owner_id AS owner_id", "c.owner_id")
    new_sql = cs._CHAT_LIST_FIRST
    req = Request(APIRequestFactory().get("/api/chats?limit=20"))

    def run(sql):
        cs._CHAT_LIST_FIRST = sql
        try:
            return cs.chat_list_values(user=user, page=page)
        finally:
            cs._CHAT_LIST_FIRST = new_sql

    ab("chat list query + rows", lambda: run(old_sql), lambda: run(new_sql))
    old_rows, new_rows = run(old_sql).items, run(new_sql).items
    assert chat_list_items(old_rows, req) == chat_list_items(new_rows, req)
    ab(
        "chat list items (uuid vs text ids)",
        lambda: chat_list_items(old_rows, req),
        lambda: chat_list_items(new_rows, req),
    )
    items = chat_list_items(new_rows, req)
    old_dumps = lambda: JsonDumps(default_renderer())(items)  # noqa: E731
    assert old_dumps() == json_bytes(items)
    ab("chat list page encoding", old_dumps, lambda: json_bytes(items))
