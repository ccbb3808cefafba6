"""Save / load the geometry memory as a compressed .npz (schema-versioned, atomic)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from engine.memory.voxels import voxel_keys

MEMORY_SCHEMA = 1


def save_memory(memory, path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    r = memory.rows
    arrays = {f: getattr(r, f).cpu().numpy() for f in ("xyz", "rgb", "conf", "normal", "view", "segment")}
    np.savez_compressed(
        tmp, uid=memory.uid.cpu().numpy(), keys=memory.keys.cpu().numpy(), schema=np.int64(MEMORY_SCHEMA),
        voxel_size=np.float64(memory.voxel_size), next_uid=np.int64(memory._next_uid),
        max_confidence=np.float64(memory.max_confidence), version=np.int64(memory.version), **arrays)
    os.replace(tmp, path)


def load_memory(cls, path, device=None):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"memory file is missing: {path}")
    try:
        with np.load(path) as data:
            schema = int(data["schema"])
            if schema > MEMORY_SCHEMA:
                raise ValueError(f"{path}: memory schema {schema} is newer than this version "
                                 f"supports ({MEMORY_SCHEMA}); update AnyRecon Studio")
            mem = cls(float(data["voxel_size"]), device, float(data["max_confidence"]))
            for f in ("xyz", "rgb", "conf", "normal", "view", "segment"):
                setattr(mem.rows, f, torch.as_tensor(data[f], device=mem.device))
            mem.uid = torch.as_tensor(data["uid"], device=mem.device)
            mem.keys = (torch.as_tensor(data["keys"], device=mem.device) if "keys" in data
                        else voxel_keys(mem.rows.xyz, mem.voxel_size))
            mem.version = int(data["version"])
            mem.stamp = torch.full_like(mem.uid, mem.version)
            mem._next_uid = int(data["next_uid"])
    except (OSError, KeyError, ValueError, EOFError) as exc:
        if isinstance(exc, ValueError) and "newer" in str(exc):
            raise
        raise ValueError(f"{path}: damaged memory file ({exc})") from exc
    return mem
