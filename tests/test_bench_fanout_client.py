"""The fan-out bench's measurement (bench/sockets.py): the client keeps its own garbage collector
out of what it times (a full collection of its heap was a 65 ms "server stall"), and each paced
run's p99 is shown beside the machine's CPU pressure during it."""

import gc
import os

import pytest

from bench.machine import pressure_us
from bench.report import paced_runs_line
from bench.sockets import client_heap_frozen, timed


@pytest.fixture
def collector_restored():
    # Each test starts from a heap nothing froze: an earlier test of the suite may have run a
    # server's tuning in this process (social.gc_tuning.tune_for_server freezes the heap).
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.unfreeze()
    yield
    gc.unfreeze()
    if frozen:
        gc.freeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_timed_phase_runs_without_the_collector_and_gives_it_back(collector_restored):
    with client_heap_frozen():
        assert gc.get_freeze_count() > 0  # the heap so far is out of every collection
        with timed():
            assert not gc.isenabled()
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_the_collector_comes_back_when_a_phase_fails(collector_restored):
    with pytest.raises(TimeoutError), client_heap_frozen(), timed():
        raise TimeoutError
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_phase_leaves_the_collector_off_when_it_was_off(collector_restored):
    gc.disable()
    with timed():
        pass
    assert not gc.isenabled()


def test_the_cyclic_garbage_of_a_phase_is_collected_after_it(collector_restored):
    class Node:
        pass

    with client_heap_frozen():
        with timed():
            for _ in range(1000):
                node = Node()
                node.self = node  # a cycle: only the collector frees it
            del node
            during = sum(isinstance(item, Node) for item in gc.get_objects())
        after = sum(isinstance(item, Node) for item in gc.get_objects())
    assert during == 1000
    assert after == 0


def test_the_heap_so_far_is_out_of_the_collections_while_measuring(collector_restored):
    """What the freezing buys: the collections between phases no longer walk the client's whole
    heap (what the collector walks is what `gc.get_objects()` lists)."""
    ballast = [{"i": i} for i in range(100_000)]  # a heap like the bench driver's
    walked_before = len(gc.get_objects())
    with client_heap_frozen():
        walked = len(gc.get_objects())
    walked_after = len(gc.get_objects())
    del ballast
    assert walked < walked_before - 100_000
    assert walked_after >= walked_before - 1000  # given back to the collector afterwards


@pytest.mark.parametrize("kind", ["cpu", "io"])
def test_the_machines_pressure_only_grows(kind, tmp_path):
    first = pressure_us(kind)
    if first is None:
        pytest.skip(f"this kernel has no /proc/pressure/{kind}")
    sum(range(2_000_000))
    (tmp_path / "flushed").write_bytes(b"x" * 65536)
    os.sync()
    assert pressure_us(kind) >= first


def test_each_paced_runs_p99_is_shown_beside_the_machines_pressure():
    figures = {
        "paced_runs": [
            {"p99": 11.6, "max": 14.0, "cpu_wait_pct": 3.2, "io_wait_pct": 0.4, "load": "0.71 0.88 0.46"},
            {"p99": 53.4, "max": 69.0, "cpu_wait_pct": None, "io_wait_pct": 12.6, "load": "2.50 1.10 0.60"},
            # A run from before the disk's share was measured.
            {"p99": 9.8, "max": 10.5, "cpu_wait_pct": 1.0, "load": "0.50 0.40 0.30"},
        ]
    }
    (line,) = paced_runs_line(figures)
    assert "11.6 ms (3%, 0%, load 0.71), 53.4 ms (?, 13%, load 2.50), 9.8 ms (1%, ?, load 0.50)" in line
    assert paced_runs_line({}) == []  # a committed RESULTS.json from before the figure
