"""A CPU core of its own for the engine thread while a GPU segment is generated (Linux).

On the GPU path the engine thread is bound by its own CPU work (Python and kernel launches:
~2,500 launches per 896x512 frame, the GPU busy ~20% of the time; RESULTS.md, gpuspeed-s25)
while the PatchMatch fills, the frame writers and the splat training run on other threads of
the same process. The engine thread's CPU time per job grew by ~30% when they ran beside it
(sessions 23-25), although the machine had free cores. The idea: the scheduler puts busy
threads on the engine core's SMT sibling, or moves them onto its core. Measured once (the
H200 machine has 16 cores and no SMT): the job was not faster, so ``AutoGeneratorOptions.
engine_core`` is off by default; kept to be measured on a machine with SMT.

:class:`EngineCore` pins the calling (engine) thread to the core it runs on (that logical CPU
and its SMT siblings) and every other thread of the process to the remaining CPUs; a thread
started while it is held (inheriting the engine's mask) is moved off by :meth:`sweep`, which
the generator calls per frame. On leaving, every thread gets its mask back (threads started
meanwhile: the engine's original mask). It does nothing where per-thread affinity is not
available (not Linux), where fewer than ``min_cpus`` CPUs are allowed (a small machine has
no core to spare), or when disabled. Where it cannot set a mask (a thread ended, a refusal) it
leaves that thread alone. Nothing here changes what is computed.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Self


def _siblings(cpu: int) -> set[int]:
    """``cpu`` and its SMT siblings (from sysfs; just ``cpu`` where that is not readable)."""
    try:
        text = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip()
    except OSError:
        return {cpu}
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out | {cpu}


def _current_cpu() -> int | None:
    """The logical CPU the calling thread last ran on (/proc/thread-self/stat, field 39)."""
    try:
        stat = Path("/proc/thread-self/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return None


def _tids() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return []


class EngineCore:
    """Context manager: the engine thread on a core of its own (see module docstring).
    ``core`` / ``others``: the CPU sets in use while held (None when it does nothing)."""

    def __init__(self, enabled: bool = True, min_cpus: int = 8) -> None:
        self.enabled = enabled and hasattr(os, "sched_setaffinity") and os.path.isdir("/proc/self/task")
        self.min_cpus = min_cpus
        self.core: set[int] | None = None
        self.others: set[int] | None = None
        self._saved: dict[int, set[int]] = {}
        self._engine_tid = None
        self._engine_mask: set[int] | None = None

    def __enter__(self) -> Self:
        if not self.enabled:
            return self
        try:
            allowed = os.sched_getaffinity(0)
        except OSError:
            return self
        cpu = _current_cpu()
        if len(allowed) < self.min_cpus or cpu is None or cpu not in allowed:
            return self
        core = _siblings(cpu) & allowed
        others = allowed - core
        if len(others) < self.min_cpus // 2:
            return self
        try:
            os.sched_setaffinity(0, core)
        except OSError:
            return self
        self._engine_tid, self._engine_mask = threading.get_native_id(), allowed
        self.core, self.others = core, others
        self.sweep()
        return self

    def sweep(self) -> None:
        """Move the process's other threads (those started since the last sweep too) off the
        engine's core."""
        if self.core is None:
            return
        for tid in _tids():
            if tid == self._engine_tid or tid in self._saved:
                continue
            try:
                mask = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, self.others)
            except OSError:
                continue
            # a thread started by the engine thread while held inherited ``core``: it gets the
            # engine's original mask back on leaving
            self._saved[tid] = self._engine_mask if mask == self.core else mask

    def __exit__(self, *exc) -> None:
        if self.core is None:
            return
        held = (self.core, self.others)
        for tid in _tids():
            if tid == self._engine_tid:
                continue
            try:
                mask = self._saved.get(tid)
                if mask is None or mask in held:
                    # started while held (by the engine thread: ``core``, by a moved thread:
                    # ``others``): the engine's original mask
                    now = os.sched_getaffinity(tid) if mask is None else mask
                    mask = self._engine_mask if now in held else None
                if mask is not None:
                    os.sched_setaffinity(tid, mask)
            except OSError:
                pass
        try:
            os.sched_setaffinity(0, self._engine_mask)
        except OSError:
            pass
        self._saved.clear()
        self.core = self.others = None
