"""Gaussian splats: the shared model dataclass (training lands here in a later issue)."""
from engine.splat.model import SH_C0, GaussianSplats, SplatInitOptions, splats_from_memory

__all__ = ["SH_C0", "GaussianSplats", "SplatInitOptions", "splats_from_memory"]
