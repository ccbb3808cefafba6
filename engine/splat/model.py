"""The Gaussian-splat model as plain arrays, and its initialisation from the geometry memory.

Parametrisation (the INRIA 3DGS one, so exports are a copy):

means           [N,3]    float32 world (project world, meters)
log_scales      [N,3]    float32 natural log of the per-axis standard deviation (meters),
                         axes of the Gaussian's local frame
quats           [N,4]    float32 rotation local -> world, **wxyz**, not necessarily unit
opacity_logits  [N]      float32 logit of the opacity (opacity = sigmoid(logit))
sh              [N,K,3]  float32 spherical-harmonic coefficients, K = (degree + 1)^2,
                         coefficient-major then RGB channel; sh[:, 0] is the DC term with
                         color = 0.5 + SH_C0 * sh[:, 0]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.geometry import se3

SH_C0 = 0.28209479177387814


@dataclass(frozen=True, eq=False)
class GaussianSplats:
    """A set of 3D Gaussians (see the module docstring for units and conventions)."""

    means: np.ndarray
    log_scales: np.ndarray
    quats: np.ndarray
    opacity_logits: np.ndarray
    sh: np.ndarray

    def __post_init__(self) -> None:
        n = np.asarray(self.means).shape[0]
        shapes = {"means": (n, 3), "log_scales": (n, 3), "quats": (n, 4), "opacity_logits": (n,)}
        for name, shape in shapes.items():
            arr = np.asarray(getattr(self, name), dtype=np.float32)
            if arr.shape != shape:
                raise ValueError(f"GaussianSplats.{name} must have shape {shape}, got {arr.shape}")
            object.__setattr__(self, name, arr)
        sh = np.asarray(self.sh, dtype=np.float32)
        if sh.ndim != 3 or sh.shape[0] != n or sh.shape[2] != 3 or sh.shape[1] not in (1, 4, 9, 16):
            raise ValueError(f"GaussianSplats.sh must be [N,K,3] with K in 1,4,9,16, got {sh.shape}")
        object.__setattr__(self, "sh", sh)

    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return int(round(np.sqrt(self.sh.shape[1]))) - 1

    @property
    def colors(self) -> np.ndarray:
        """[N,3] base (view-independent) color in [0,1] from the DC term."""
        return np.clip(0.5 + SH_C0 * self.sh[:, 0], 0.0, 1.0)

    @property
    def opacities(self) -> np.ndarray:
        """[N] opacity in (0,1)."""
        return 1.0 / (1.0 + np.exp(-self.opacity_logits.astype(np.float64)))

    def with_sh_degree(self, degree: int) -> "GaussianSplats":
        """The same splats with ``degree`` SH bands (higher bands zero-padded or dropped)."""
        if degree not in (0, 1, 2, 3):
            raise ValueError(f"SH degree must be 0..3, got {degree}")
        k = (degree + 1) ** 2
        sh = np.zeros((len(self), k, 3), np.float32)
        m = min(k, self.sh.shape[1])
        sh[:, :m] = self.sh[:, :m]
        return GaussianSplats(self.means, self.log_scales, self.quats, self.opacity_logits, sh)


@dataclass(frozen=True)
class SplatInitOptions:
    """How :func:`splats_from_memory` turns points into Gaussians.

    k_neighbors      neighbours whose RMS distance sets the scale (3DGS uses 3)
    flatten          scale along a known normal, as a fraction of the in-plane scale
                     (1 = isotropic); points without a normal stay isotropic
    min/max_scale    clamp of the scale, in voxels
    confidence_scale opacity = 1 - exp(-confidence / confidence_scale), clipped
    sh_degree        bands of the output (higher bands start at zero)
    """

    k_neighbors: int = 3
    flatten: float = 0.3
    min_scale_voxels: float = 0.25
    max_scale_voxels: float = 3.0
    confidence_scale: float = 1.0
    min_opacity: float = 0.05
    max_opacity: float = 0.99
    sh_degree: int = 0


_OFFSETS = torch.tensor([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
                         if (i, j, k) != (0, 0, 0)], dtype=torch.int64)


def neighbour_spacing(xyz: torch.Tensor, voxel_size: float, k: int = 3) -> torch.Tensor:
    """RMS distance [N] of each point to its ``k`` nearest neighbours among the 26 voxels
    around its own (points [N,3] world; the memory keeps one point per voxel, so this is an
    approximate kNN that is exact for every neighbour closer than one voxel). Points with
    no neighbour get ``voxel_size``; fewer than k neighbours use those found."""
    from engine.memory import voxels

    keys = voxels.voxel_keys(xyz, voxel_size)
    sorted_keys, order = torch.sort(keys)
    ijk = torch.floor(xyz / voxel_size).to(torch.int64)
    d2 = torch.full((xyz.shape[0], 26), float("inf"), dtype=torch.float32, device=xyz.device)
    for c, off in enumerate(_OFFSETS.to(xyz.device)):
        centre = (ijk + off).to(torch.float32) * voxel_size + 0.5 * voxel_size
        rows = voxels.lookup(sorted_keys, order, voxels.voxel_keys(centre, voxel_size))
        hit = rows >= 0
        d2[hit, c] = ((xyz[rows[hit]] - xyz[hit]) ** 2).sum(1)
    near = torch.topk(d2, min(k, 26), dim=1, largest=False).values
    finite = torch.isfinite(near)
    count = finite.sum(1)
    mean = torch.where(finite, near, torch.zeros_like(near)).sum(1) / count.clamp_min(1)
    return torch.where(count > 0, mean.sqrt(), torch.full_like(mean, voxel_size))


def _quats_z_to(normals: np.ndarray) -> np.ndarray:
    """Rotations [N,4] wxyz taking local +z to each unit normal [N,3] (any tangent frame)."""
    n = normals.astype(np.float64)
    helper = np.where(np.abs(n[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    t1 = np.cross(helper, n)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    t2 = np.cross(n, t1)
    return se3.quat_from_matrix(np.stack([t1, t2, n], axis=-1))


#: provenance subsets of :func:`splats_from_memory`
SUBSETS = ("all", "captured", "generated")


def splats_from_memory(memory, options: SplatInitOptions = SplatInitOptions(),
                       subset: str = "all") -> GaussianSplats:
    """Initial Gaussians, one per memory point (of ``subset``: all / captured / generated);
    see :func:`splats_from_point_cloud`. ValueError for an unknown subset or no points."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown point subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    if memory is None or memory.is_empty:
        raise ValueError("the geometry memory is empty: no points to start splats from")
    snap = memory.snapshot(subset=memory.provenance_mask(captured=subset != "generated",
                                                          generated=subset != "captured"))
    if len(snap) == 0:
        raise ValueError(f"the geometry memory has no {subset} points")
    return splats_from_point_cloud(snap.xyz, snap.rgb, snap.normal, snap.conf, memory.voxel_size, options)


def splats_from_point_cloud(xyz: np.ndarray, rgb: np.ndarray, normal: np.ndarray, conf: np.ndarray,
                            voxel_size: float, options: SplatInitOptions = SplatInitOptions()) -> GaussianSplats:
    """Initial Gaussians, one per point of a memory-like cloud: xyz [N,3] world, rgb [N,3] in
    [0,1], normal [N,3] world (zeros where unknown), conf [N] accumulated weight, at most one
    point per voxel of ``voxel_size`` (meters). Mean = the point, scale from neighbour spacing,
    flattened along known normals, opacity from confidence, DC color from the point color."""
    v = float(voxel_size)
    n = len(xyz)
    xyz_t = torch.as_tensor(np.asarray(xyz), dtype=torch.float32)
    spacing = neighbour_spacing(xyz_t, v, options.k_neighbors).numpy()
    s = np.clip(spacing, options.min_scale_voxels * v, options.max_scale_voxels * v)
    scales = np.repeat(s[:, None], 3, axis=1)
    quats = np.tile(np.array([1.0, 0.0, 0.0, 0.0]), (n, 1))
    nrm = np.linalg.norm(normal, axis=1)
    has_n = nrm > 0.5
    if has_n.any():
        quats[has_n] = _quats_z_to(normal[has_n] / nrm[has_n, None])
        scales[has_n, 2] *= options.flatten
    alpha = np.clip(1.0 - np.exp(-conf / options.confidence_scale), options.min_opacity, options.max_opacity)
    sh = np.zeros((n, (options.sh_degree + 1) ** 2, 3), np.float32)
    sh[:, 0] = (rgb - 0.5) / SH_C0
    return GaussianSplats(xyz, np.log(scales), quats, np.log(alpha / (1.0 - alpha)), sh)
