"""Gaussian splats: the model dataclass (model.py), rasterizers (rasterize_torch.py, a pure-torch
reference; rasterize_gsplat.py, CUDA), training (train.py, strategy.py, ops.py, losses.py,
data.py), project jobs and checkpoints (job.py, checkpoint.py) and the ``splat`` novel-view
generator (generator.py). Only the model is imported here; the rest on use."""
from engine.splat.model import SH_C0, GaussianSplats, SplatInitOptions, splats_from_memory

__all__ = ["SH_C0", "GaussianSplats", "SplatInitOptions", "splats_from_memory"]
