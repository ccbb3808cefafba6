"""engine.device: torch's CPU thread count is set in every thread that asks for a device."""
from __future__ import annotations

import os
import threading

import pytest
import torch

from engine.device import configure_cpu_threads


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every count is 1")
def test_each_thread_that_configures_gets_the_wanted_count(monkeypatch):
    """OpenMP keeps the thread count per thread: configuring one thread (e.g. the engine
    thread) must not mark another (the GUI thread, a preview worker) as configured."""
    monkeypatch.setenv("ANYRECON_THREADS", "1")
    seen = {}

    def worker():
        torch.set_num_threads(2)              # a fresh thread with OpenMP's default count
        seen["worker"] = configure_cpu_threads()

    first = threading.Thread(target=worker)
    first.start()
    first.join()
    seen["first"] = seen.pop("worker")
    second = threading.Thread(target=worker)
    second.start()
    second.join()
    assert seen == {"first": 1, "worker": 1}
