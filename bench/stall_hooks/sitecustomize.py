"""Diagnostic hooks for bench/sockstall_probe.py, loaded by every Python process started with
this directory on PYTHONPATH and SOCKSTALL_LOG set (the probe's daphnes): each line of
`$SOCKSTALL_LOG.<pid>` is `<kind> <CLOCK_MONOTONIC s> <ms> [detail]`, for every collection of
the garbage collector, every asyncio callback longer than 5 ms (with the CPU time its thread
used meanwhile: the rest is waiting for a core or for the GIL), and every database commit,
statement and Redis publish longer than 3 ms. Never loaded by the servers otherwise."""

import os

if os.environ.get("SOCKSTALL_LOG"):
    from bench_stall_hooks import install

    install(os.environ["SOCKSTALL_LOG"])
