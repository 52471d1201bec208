"""Garbage-collector settings for long-running server processes (daphne, gunicorn's workers).

With CPython's defaults, full (generation 2) collections of the process's whole heap pause the
event loop, and every socket waiting on that process waits too: they set the chat fan-out's
p99. Freezing what start-up allocated (Django, the URL conf, the models: never garbage) takes
it out of every later collection, and a larger first threshold makes collections rarer; the
median is unchanged, and cyclic garbage lives a little longer. Figures: README "Performance and
tuning" (from `make bench`'s chat fan-out).
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
