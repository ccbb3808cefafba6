"""Real spherical harmonics up to degree 3, in the basis and sign convention of the INRIA
3DGS code and gsplat (Sloan, "Efficient Spherical Harmonic Evaluation", JCGT 2013), so that
coefficients trained here render the same in SuperSplat, gsplat or the INRIA viewer.

color = max(0, 0.5 + sum_k basis_k(d) * sh[k])   with d the unit direction camera -> Gaussian
(world frame). K = (degree + 1)^2 coefficients, coefficient-major: sh [N,K,3].
"""
from __future__ import annotations

import torch

from engine.splat.model import SH_C0


def num_sh_bases(degree: int) -> int:
    """K = (degree + 1)^2 for degree 0..3."""
    if degree not in (0, 1, 2, 3):
        raise ValueError(f"SH degree must be 0..3, got {degree}")
    return (degree + 1) ** 2


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """SH basis values [..., K] at unit directions dirs [..., 3] (world frame)."""
    k = num_sh_bases(degree)
    out = [torch.full_like(dirs[..., 0], SH_C0)]
    if degree >= 1:
        x, y, z = dirs.unbind(-1)
        a = 0.48860251190292
        out += [-a * y, a * z, -a * x]
    if degree >= 2:
        z2 = z * z
        b = -1.092548430592079 * z
        c1, s1 = x * x - y * y, 2 * x * y
        out += [0.5462742152960395 * s1, b * y, 0.9461746957575601 * z2 - 0.3153915652525201,
                b * x, 0.5462742152960395 * c1]
    if degree >= 3:
        tc = -2.285228997322329 * z2 + 0.4570457994644658
        tb = 1.445305721320277 * z
        ta = -0.5900435899266435
        c2, s2 = x * c1 - y * s1, x * s1 + y * c1
        out += [ta * s2, tb * s1, tc * y, z * (1.865881662950577 * z2 - 1.119528997770346),
                tc * x, tb * c1, ta * c2]
    basis = torch.stack(out, dim=-1)
    assert basis.shape[-1] == k
    return basis


def eval_sh_colors(sh: torch.Tensor, degree: int, means: torch.Tensor, cam_center: torch.Tensor) -> torch.Tensor:
    """View-dependent colors [N,3] (>= 0) of Gaussians seen from cam_center [3] (world).

    sh [N,K,3] with K >= (degree+1)^2 (only the first (degree+1)^2 bands are used);
    means [N,3] world. Directions are normalised here.
    """
    k = num_sh_bases(degree)
    if sh.shape[1] < k:
        raise ValueError(f"sh has {sh.shape[1]} coefficients, degree {degree} needs {k}")
    if k == 1:
        return (SH_C0 * sh[:, 0] + 0.5).clamp_min(0.0)
    dirs = torch.nn.functional.normalize(means - cam_center, dim=-1)
    basis = sh_basis(degree, dirs)                           # [N,K]
    return ((basis[..., None] * sh[:, :k]).sum(1) + 0.5).clamp_min(0.0)
