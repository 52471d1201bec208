"""Garbage-collector settings for long-running server processes (daphne).

Measured with a 1 sender → 100 members chat on two daphnes (200 messages at 10/s): with
CPython's defaults, full (generation 2) collections of the process's whole heap paused the
event loop for 23–64 ms a dozen times a run, and every socket waiting on that process waited
too: the slowest message reached its last member after ≈ 107 ms (p99), against a median of
15 ms. Freezing what start-up allocated (Django, the URL conf, the models: never garbage)
takes it out of every later collection, and a larger first threshold makes collections rarer:
p99 ≈ 22–24 ms, the median unchanged. Memory: cyclic garbage lives a little longer, a few MB.
"""

import gc

# Allocations before a young collection (CPython's default: 700), then how many young and
# middle collections trigger the next older one (defaults: 10, 10).
THRESHOLDS = (50_000, 20, 10)


def tune_for_server() -> None:
    """Call once, after the application is loaded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
