"""CPU per chat message stored (issue #26, the fan-out's sending side), in process: what the
database thread of the sender's daphne runs for one socket frame (`chats.consumers._send`:
the flood token, the membership check, `message_send_once`'s transaction, the after-commit
publish, the answer's encoding), `time.process_time` over N messages to a chat of 100 members.
Not collected by the suite; run it by path:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m pytest bench/message_send_cpu.py -q -s

Old and new side by side: rounds alternate between `_send` as it is and the send as it was
before the statement written out (`chat_for_member`, `message_send`'s ORM transaction,
MessageOutput), the machine's drift shared by both; min and median per message of each.

With SEND_PROFILE=1, also a cProfile of 200 messages (top 45 functions, SEND_SORT to re-sort).
"""

import gc
import os
import statistics
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from accounts.tests.factories import UserFactory
from bench.common import cpu_profile_print
from chats import consumers, selectors, services
from chats.serializers import MessageOutput

MESSAGES = 200
ROUNDS = int(os.environ.get("SEND_ROUNDS", 6))


@pytest.fixture
def chat(db):
    members = UserFactory.create_batch(100)
    chat, _ = services.chat_create(creator=members[0], user_ids=[member.pk for member in members[1:]], title="сто")
    return chat, members[0]


# Committed for real: the after-commit publish runs as in production. The flood bucket is
# lifted as the bench lifts it (it sends faster than one client may).
@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_MESSAGE_RATE=100_000, CHAT_MESSAGE_BURST=100_000)
def test_message_send_cpu(chat):
    chat, sender = chat
    counter = iter(range(10**9))

    def send():
        assert consumers._send(chat.pk, sender, f"сообщение {next(counter)}", "origin", None) is not None

    def send_orm():
        # `consumers._send` before the statement written out (the ORM path it falls back to).
        assert services.message_flood_take(user_id=sender.pk)
        found = selectors.chat_for_member(chat.pk, sender)
        message = services.message_send(chat=found, author=sender, text=f"сообщение {next(counter)}", origin="origin")
        assert dict(MessageOutput(message).data)

    for _ in range(40):
        send()
        send_orm()
    gc.collect()
    rounds: dict[str, list[float]] = {"orm (before)": [], "written out": []}
    for _ in range(ROUNDS):
        for name, func in (("orm (before)", send_orm), ("written out", send)):
            start = time.process_time()
            for _ in range(MESSAGES):
                func()
            rounds[name].append((time.process_time() - start) * 1000 / MESSAGES)
    print()
    for name, batches in rounds.items():
        print(
            f"{name:14} min {min(batches):6.2f} median {statistics.median(batches):6.2f} ms CPU/message"
            f" (rounds {', '.join(f'{b:.2f}' for b in batches)})"
        )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with CaptureQueriesContext(connection) as queries:
        send()
    print(f"{len(queries)} statements")
    for query in queries:
        print("   ", query["sql"][:200])
    if os.environ.get("SEND_PROFILE"):
        cpu_profile_print(send, 200, sort=os.environ.get("SEND_SORT", "cumulative"))
