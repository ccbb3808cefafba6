"""Saving and resuming splat training in the project folder.

```
PROJECT/splats/checkpoint.pt   torch.save of {"version": 1, "step", "scene_scale", "max_splats",
                               "params": {name: CPU tensor} (engine/splat/params.py layout),
                               "optimizers": {name: Adam state_dict}}
PROJECT/splats/splats.ply      the same Gaussians as an INRIA 3DGS PLY (what the exporters,
                               SuperSplat and gsplat read)
```
Both are written atomically (temporary file + rename). The densification statistics are not
saved: they restart at the next refinement window.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from engine.splat.model import GaussianSplats

CHECKPOINT = Path("splats/checkpoint.pt")
SPLAT_PLY = Path("splats/splats.ply")
VERSION = 1


def save_checkpoint(trainer, root: str | Path) -> Path:
    """Write the trainer's state and its Gaussians under ``root``/splats/; returns the .pt path."""
    from engine.atomic_io import write_atomic
    from engine.splat.files import write_splat_ply

    root = Path(root)
    state = {"version": VERSION, "step": trainer.step, "scene_scale": trainer.scene_scale,
             "max_splats": trainer.max_splats,
             "params": {k: v.detach().cpu() for k, v in trainer.params.items()},
             "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()}}
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(root / CHECKPOINT, buf.getvalue())
    write_splat_ply(root / SPLAT_PLY, trainer.splats())
    return root / CHECKPOINT


def load_checkpoint(root: str | Path) -> dict | None:
    """The saved state (CPU tensors) or None when the project has none."""
    path = Path(root) / CHECKPOINT
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file must name itself
        raise ValueError(f"{path}: damaged splat checkpoint ({exc}); delete it to train from scratch") from exc
    if state.get("version") != VERSION:
        raise ValueError(f"{path}: splat checkpoint version {state.get('version')} is not supported")
    return state


def restore_trainer(trainer, state: dict) -> None:
    """Load a saved state into a freshly built trainer (its params and optimizers replaced)."""
    for name, tensor in state["params"].items():
        old = trainer.params[name]
        new = torch.nn.Parameter(tensor.to(trainer.device))
        trainer.params[name] = new
        opt = trainer.optimizers[name]
        opt.state.pop(old, None)
        opt.param_groups[0]["params"] = [new]
        opt.load_state_dict(state["optimizers"][name])
    trainer.step = int(state["step"])
    trainer.scene_scale = float(state["scene_scale"])
    trainer.max_splats = int(state["max_splats"])
    trainer.strategy_state = trainer.strategy.initialize_state(scene_scale=trainer.scene_scale)


def load_trained_splats(root: str | Path) -> GaussianSplats | None:
    """The trained Gaussians of a project (from splats/splats.ply), or None if never trained."""
    from engine.splat.files import read_splat_ply

    path = Path(root) / SPLAT_PLY
    return read_splat_ply(path) if path.exists() else None
