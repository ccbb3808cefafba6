"""engine.generate.engine_core: the engine thread on a core of its own while held, every
thread's CPU mask back afterwards (Linux; skipped where per-thread affinity is missing)."""
from __future__ import annotations

import os
import threading

import pytest

from engine.generate.engine_core import EngineCore, _siblings

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"),
                                reason="per-thread CPU affinity is Linux-only")


def _mask(tid=0):
    return os.sched_getaffinity(tid)


def test_engine_core_pins_and_restores_every_thread():
    allowed = _mask()
    if len(allowed) < 2:
        pytest.skip("one CPU: nothing to split")
    stop = threading.Event()
    tids = {}

    def worker(name):
        tids[name] = threading.get_native_id()
        stop.wait(10)

    before = threading.Thread(target=worker, args=("before",))
    before.start()
    with EngineCore(min_cpus=2) as core:
        assert core.core and core.others and not (core.core & core.others)
        assert core.core | core.others == allowed
        assert _mask() == core.core
        assert _mask(tids["before"]) == core.others           # an existing thread moved off
        during = threading.Thread(target=worker, args=("during",))
        during.start()                                        # inherits the engine's core ...
        while "during" not in tids:
            stop.wait(0.001)
        assert _mask(tids["during"]) == core.core
        core.sweep()                                          # ... until the next sweep
        assert _mask(tids["during"]) == core.others
    assert _mask() == allowed
    assert _mask(tids["before"]) == allowed and _mask(tids["during"]) == allowed
    stop.set()
    before.join()
    during.join()


def test_engine_core_does_nothing_on_a_small_machine_or_when_off():
    allowed = _mask()
    with EngineCore(min_cpus=len(allowed) + 1) as core:
        assert core.core is None and _mask() == allowed
        core.sweep()
    with EngineCore(enabled=False) as core:
        assert core.core is None and _mask() == allowed


def test_siblings_include_the_cpu():
    cpu = next(iter(_mask()))
    assert cpu in _siblings(cpu)
