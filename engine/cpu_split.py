"""A second CPU core for the surface generator's heavy, independent pieces of work.

torch runs one intra-op thread per thread on a 2-core machine (engine.device: OpenMP workers
spin while they wait, which made small ops ~15x slower next to the GUI thread; two intra-op
threads made a surface frame 5x slower at load 8), so the surface generator ran on one core,
the second idle on a quiet machine. Here pieces
of work that do not depend on each other (the plane sweep's plane chunks, the references'
sampling, PatchMatch's separate hole boxes) run on Python threads instead: torch and the
PatchMatch library release the GIL while they compute, each thread keeps its one OpenMP thread,
and a waiting thread sleeps instead of spinning. Every piece computes exactly what it computed
in line (same ops on the same values), so the results are the same.

``ANYRECON_CPU_SPLIT``: threads used (the caller's included), 1 = in line; unset: 2 where the
machine has at least 2 cores and its load average leaves one free (else in line). Only CPU
tensors are split (CUDA work stays in line: its kernels are asynchronous already).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_in_worker = threading.local()


def split_threads() -> int:
    """Threads a split runs on (the calling thread included): ``ANYRECON_CPU_SPLIT``, else 2
    where the machine has at least 2 cores and is not busy (1-minute load average at most
    the number of cores, this process's own threads included): on a busy machine no core is
    free, and two threads of one job then wait for each other's time slices (on the shared
    2-core machine at load 4-10 a split surface frame was slower in wall time than in line in
    5 of 12 back-to-back pairs, by up to 2.2 s)."""
    env = os.environ.get("ANYRECON_CPU_SPLIT", "")
    if env.strip():
        return max(1, int(env))
    cores = os.cpu_count() or 1
    if cores < 2:
        return 1
    try:
        busy = os.getloadavg()[0] > cores
    except OSError:
        busy = False
    return 1 if busy else 2


def capped(threads: int) -> int:
    """``threads`` asked for by a caller that knows its machine (auto's fill on the GPU path),
    at most ``ANYRECON_CPU_SPLIT`` when that is set (1: everything in line)."""
    env = os.environ.get("ANYRECON_CPU_SPLIT", "")
    return max(1, min(threads, int(env))) if env.strip() else max(1, threads)


def splits(device) -> int:
    """How many parts to split a piece of work on ``device`` (a torch.device or a tensor) into:
    1 on CUDA, in a split's worker thread (no nesting) or when splitting is off."""
    dev = device.device if isinstance(device, torch.Tensor) else torch.device(device)
    if dev.type != "cpu" or getattr(_in_worker, "on", False):
        return 1
    return split_threads()


def _init_worker() -> None:
    from engine.device import configure_cpu_threads

    _in_worker.on = True
    configure_cpu_threads()


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < workers:   # grow only
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="cpu-split", initializer=_init_worker)
        return _pool


def run_all(jobs: Sequence[Callable[[], T]], threads: int) -> list[T]:
    """Run the zero-argument ``jobs`` and return their results in order. ``threads - 1``
    worker threads (``threads``: :func:`splits` of the work's device) take the jobs from the
    front (put the biggest first), the calling thread from the back, each the next one not
    yet taken; with one job, one thread, or inside a worker: all in line. A job's exception
    is raised here after every taken job has finished."""
    jobs = list(jobs)
    n = threads
    if len(jobs) <= 1 or n <= 1 or getattr(_in_worker, "on", False):
        return [j() for j in jobs]
    results: list = [None] * len(jobs)
    errors: list = []
    left = list(range(len(jobs)))
    take = threading.Lock()

    def drain(last: bool = False) -> float:
        # workers take from the front (the biggest), the caller from the back: a worker that
        # wakes up late still finds a big job, and the caller never idles while one is left
        t0 = time.thread_time()
        while True:
            with take:
                i = (left.pop() if last else left.pop(0)) if left else None
            if i is None or errors:
                return time.thread_time() - t0
            try:
                results[i] = jobs[i]()
            except BaseException as e:   # noqa: BLE001 (re-raised by the caller)
                errors.append(e)

    pool = _get_pool(n - 1)
    futures = [pool.submit(drain) for _ in range(min(n - 1, len(jobs) - 1))]
    mine = drain(last=True)
    theirs = [f.result() for f in futures if not f.cancel()]   # a drain not yet started finds no job
    if theirs:
        _add_wait_cpu(max(0.0, max(theirs) - mine))
    if errors:
        raise errors[0]
    return results


_wait_cpu = 0.0                     # guarded by _wait_lock: splits run on several calling threads
_wait_lock = threading.Lock()       # (the engine thread, the GUI's preview, benchmark threads)


def _reset_after_fork() -> None:
    """In a forked child (a test forking its worker, a crash-test process): the pool's threads
    and any lock another thread held at the fork are the parent's. The inherited pool looks full
    (its dead threads still count), so every split's work waited forever in the child (a
    `make test` hang); the child starts a pool of its own and fresh locks."""
    global _pool, _lock, _wait_lock, _in_worker
    _pool = None
    _lock = threading.Lock()
    _wait_lock = threading.Lock()
    _in_worker = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _add_wait_cpu(seconds: float) -> None:
    global _wait_cpu
    with _wait_lock:                # += on a float global is a read, an add and a write: two
        _wait_cpu += seconds        # threads in between would lose one's seconds


def wait_cpu_seconds() -> float:
    """Seconds of CPU by which a split's worker outlasted the calling thread, summed over the
    splits so far (all calling threads): what a caller waits on a machine with a free core for
    each thread, i.e. with the calling thread's CPU seconds the critical path there (the
    benchmark's quiet-machine estimate; work started by :func:`submit` is not counted)."""
    with _wait_lock:
        return _wait_cpu


def submit(fn: Callable[[], T]) -> Future:
    """``fn`` started on a split worker thread (for work whose result is needed later, e.g.
    the next step's input while this thread does something else); its Future."""
    return _get_pool(max(1, split_threads() - 1)).submit(fn)


def parts(items: Sequence[T], n: int) -> list[list[T]]:
    """``items`` dealt into at most ``n`` non-empty lists of consecutive items, sizes within one."""
    n = max(1, min(n, len(items)))
    q, r = divmod(len(items), n)
    out, i = [], 0
    for k in range(n):
        size = q + (1 if k < r else 0)
        out.append(list(items[i:i + size]))
        i += size
    return out
