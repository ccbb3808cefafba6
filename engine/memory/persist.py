"""Save / load the geometry memory as a compressed .npz (schema-versioned, atomic)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.memory.rows import FIELDS

MEMORY_SCHEMA = 1


def save_memory(memory, path) -> None:
    """Write ``memory``'s points, uids, voxel keys and counters to ``path`` (.npz)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    r = memory.rows
    arrays = {f: getattr(r, f).cpu().numpy() for f in FIELDS}
    np.savez_compressed(
        tmp, uid=memory.uid.cpu().numpy(), keys=memory.keys.cpu().numpy(), schema=np.int64(MEMORY_SCHEMA),
        voxel_size=np.float64(memory.voxel_size), next_uid=np.int64(memory.next_uid),
        max_confidence=np.float64(memory.max_confidence), version=np.int64(memory.version), **arrays)
    os.replace(tmp, path)


def load_memory(cls, path, device=None):
    """The memory saved at ``path`` (``cls`` is GeometryMemory; built with ``cls.from_arrays``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"memory file is missing: {path}")
    try:
        with np.load(path) as data:
            schema = int(data["schema"])
            if schema > MEMORY_SCHEMA:
                raise ValueError(f"{path}: memory schema {schema} is newer than this version "
                                 f"supports ({MEMORY_SCHEMA}); update AnyRecon Studio")
            arrays = {f: data[f] for f in FIELDS}
            mem = cls.from_arrays(float(data["voxel_size"]), **arrays, uid=data["uid"],
                                  keys=data["keys"] if "keys" in data else None,
                                  next_uid=int(data["next_uid"]), version=int(data["version"]),
                                  max_confidence=float(data["max_confidence"]), device=device)
    except (OSError, KeyError, ValueError, EOFError) as exc:
        if isinstance(exc, ValueError) and "newer" in str(exc):
            raise
        raise ValueError(f"{path}: damaged memory file ({exc})") from exc
    return mem
