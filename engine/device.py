"""Compute-device selection. The engine thread owns whatever device this returns."""
from __future__ import annotations

import os
import threading

import torch

_threads_configured = threading.local()   # OpenMP's thread count is a per-thread setting


def configure_cpu_threads() -> int:
    """Set torch's intra-op CPU threads, once per calling thread: ANYRECON_THREADS, else one
    core less than the machine has (at most 8). OpenMP workers spin while waiting; on a 2-core
    machine two of them next to the GUI thread (or any other busy process) make small ops ~15x
    slower (measured: torch.floor on 250k floats 0.9 ms with one thread, 14 ms with two under
    load). OpenMP keeps the count per thread, so every thread that runs torch ops (engine
    thread, GUI thread, preview and training workers) calls this itself; a thread that did not
    kept OpenMP's default (all cores; measured 2-10x CPU on torch tests, session 21)."""
    if not getattr(_threads_configured, "done", False):
        wanted = int(os.environ.get("ANYRECON_THREADS", "0")) or min(8, max(1, (os.cpu_count() or 2) - 1))
        torch.set_num_threads(wanted)
        _threads_configured.done = True
    return torch.get_num_threads()


def default_device() -> torch.device:
    """CUDA when present (unless ANYRECON_DEVICE says otherwise), else CPU."""
    configure_cpu_threads()
    wanted = os.environ.get("ANYRECON_DEVICE", "auto")
    if wanted != "auto":
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' / None -> default_device(); 'cuda' without CUDA -> a clear error."""
    configure_cpu_threads()
    if device is None or device == "auto":
        return default_device()
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but no CUDA device is available")
    return device
