"""CPU of redis-py per command of a like toggle and of a feed page (issue #26), with hiredis's
reply parser and command packer against redis-py's pure-Python ones, in one process: two
clients on REDIS_URL with the cache's timeouts, one with the Python parser (RESP3, the protocol
redis-py speaks) and packer forced, the other with redis-py's defaults (hiredis when it is
installed), alternating, 15 rounds of 300 commands each. The commands are a toggle's (the
post's moved encoding SET with its expiry, as social.cache.set_many_expiring writes it; the
like's event PUBLISH, as social.fanout does) and a feed page's (the MGET of 20 shared post
encodings, their values loaded; the script writing a page's 20 new ones). Also the SET sent as
a raw command (`execute_command`), without redis-py's `set` argument checks. Prints min and
median µs of CPU per command. Not collected by the suite; needs REDIS_URL; run it as a module:

    REDIS_URL=... .venv/bin/python -m bench.redis_cpu
"""

import os
import pickle
import statistics
import time

import redis
from redis._parsers import Encoder, _RESP3Parser
from redis.connection import PythonRespSerializer
from redis.utils import HIREDIS_AVAILABLE

from social.cache import _SET_MANY_EXPIRING

ROUNDS, N = 15, 300
PREFIX = "bench:redis_cpu:"


def _client(python: bool) -> redis.Redis:
    options = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
    if python:
        options["parser_class"] = _RESP3Parser
        options["command_packer"] = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)
    return redis.Redis.from_url(os.environ["REDIS_URL"], **options)


def _entry(i: int) -> bytes:
    """A pickled shared post encoding of the size a toggle writes (fragments._shared_put)."""
    liker = b'{"id":"%032x","username":"user%d","email":null,"avatar":null}' % (i, i)
    pre = b'{"id":"%032x","author":{"id":"%032x","username":"author"},"text":"' % (i, i) + b"x" * 200 + b'","likes":'
    tail = b',"comments_count":3,"created_at":"2026-11-30T19:00:00+00:00","images":[]}'
    return pickle.dumps((7, pre, (liker,) * 3, (f"{i:032x}",) * 3, 12, tail, time.time() + 600), -1)


def _cpu(call) -> float:
    start = time.process_time()
    for _ in range(N):
        call()
    return (time.process_time() - start) * 1e6 / N


def main() -> None:
    assert HIREDIS_AVAILABLE, "install hiredis to compare"
    clients = {"python": _client(True), "hiredis": _client(False)}
    value = _entry(1)
    keys = [f"{PREFIX}{i}" for i in range(20)]
    values = [_entry(i) for i in range(20)]
    clients["python"].mset(dict(zip(keys, values, strict=True)))
    event = b'{"group":"user.x","event":{"type":"notification","notification":{"id":"' + b"0" * 32 + b'"}}}'
    commands = {
        "SET ex (set)": lambda c: c.set(PREFIX + "one", value, ex=1800),
        "SET ex (raw)": lambda c: c.execute_command("SET", PREFIX + "one", value, "EX", 1800),
        "PUBLISH": lambda c: c.publish(PREFIX + "channel", event),
        "MGET 20 + loads": lambda c: [pickle.loads(v) for v in c.mget(keys)],
        "EVAL SET 20": lambda c: c.eval(_SET_MANY_EXPIRING, len(keys), *keys, 1800, *values),
    }
    figures = {(name, form): [] for name in commands for form in clients}
    for client in clients.values():
        for call in commands.values():
            call(client)  # connect, warm
    for _ in range(ROUNDS):
        for name, call in commands.items():
            for form, client in clients.items():
                figures[name, form].append(_cpu(lambda c=client, f=call: f(c)))
    clients["python"].delete(*keys, PREFIX + "one")
    print(f"load average {os.getloadavg()[0]:.1f}; µs CPU a command, min / median of {ROUNDS} rounds of {N}")
    for name in commands:
        line = " | ".join(
            f"{form} {min(values):6.1f} / {statistics.median(values):6.1f}"
            for form, values in ((form, figures[name, form]) for form in clients)
        )
        print(f"{name:16s} {line}")


if __name__ == "__main__":
    main()
