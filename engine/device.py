"""Compute-device selection. The engine thread owns whatever device this returns."""
from __future__ import annotations

import os

import torch


def default_device() -> torch.device:
    """CUDA when present (unless ANYRECON_DEVICE says otherwise), else CPU."""
    wanted = os.environ.get("ANYRECON_DEVICE", "auto")
    if wanted != "auto":
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' / None -> default_device(); 'cuda' without CUDA -> a clear error."""
    if device is None or device == "auto":
        return default_device()
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but no CUDA device is available")
    return device
