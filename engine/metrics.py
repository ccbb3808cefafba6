"""Image, pose and depth metrics used by tests, benchmarks and the evaluation CLI.

Images are float arrays [H,W,3] (or [H,W]) with values in [0, max_val]; poses are
``world_from_cam`` [N,4,4] with OpenCV axes; depths are z-depth along the camera +z.
Everything is numpy on the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.geometry import se3


# --------------------------------------------------------------------------- images

def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, max_val: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between images a, b [H,W,C] or [H,W].

    mask [H,W] bool (optional) selects the pixels that count; the MSE averages over the
    selected pixels and all channels. Identical images give ``inf``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    sq = (a - b) ** 2
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            raise ValueError("psnr: the mask selects no pixel")
        sq = sq[mask]
    mse = float(np.mean(sq))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(max_val**2 / mse))


def gaussian_kernel_1d(sigma: float = 1.5, truncate: float = 3.5) -> np.ndarray:
    """Normalised 1-D Gaussian [2r+1], r = int(truncate * sigma + 0.5) (11 taps for 1.5)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_filter_2d(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable filter of img [H,W] with kernel [K] along both axes, 'reflect' borders.

    Border mode is half-sample symmetric (d c b a | a b c d), like scipy.ndimage's
    'reflect' and OpenCV's BORDER_REFLECT.
    """
    r = len(kernel) // 2
    out = np.asarray(img, dtype=np.float64)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="symmetric")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for i, w in enumerate(kernel):
            acc += w * (padded[i:i + n] if axis == 0 else padded[:, i:i + n])
        out = acc
    return out


def _ssim_channel(x: np.ndarray, y: np.ndarray, kernel: np.ndarray, c1: float, c2: float) -> float:
    blur = lambda img: gaussian_filter_2d(img, kernel)  # noqa: E731
    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = len(kernel) // 2
    return float(s[pad:-pad or None, pad:-pad or None].mean())


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004) of images a, b [H,W,C] or [H,W].

    Gaussian window sigma 1.5 (11 taps), K1 = 0.01, K2 = 0.03, population (not sample)
    covariances, mean over the map cropped by the window radius, averaged over channels:
    the same as ``skimage.metrics.structural_similarity(a, b, channel_axis=-1,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)``.
    Images must be at least 11x11.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    kernel = gaussian_kernel_1d(1.5)
    if min(a.shape[:2]) < len(kernel):
        raise ValueError(f"ssim needs images of at least {len(kernel)}x{len(kernel)} pixels")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    if a.ndim == 2:
        return _ssim_channel(a, b, kernel, c1, c2)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], kernel, c1, c2) for c in range(a.shape[-1])]))


# --------------------------------------------------------------------------- poses

def umeyama_sim3(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama 1991): argmin sum |dst - (s R src + t)|^2.

    src, dst [N,3] corresponding points (N >= 3, not collinear, for a unique answer).
    Returns (scale s > 0, rotation R [3,3] with det +1, translation t [3]): dst ~ s R src + t.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3:
        raise ValueError(f"expected two [N,3] arrays, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = float(np.mean(np.sum(xs**2, axis=1)))
    if var_s == 0.0:
        raise ValueError("umeyama_sim3: all source points coincide")
    cov = xd.T @ xs / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2] = -1.0
    rot = u @ np.diag(sign) @ vt
    scale = float(np.sum(d * sign) / var_s)
    return scale, rot, mu_d - scale * rot @ mu_s


@dataclass
class PoseErrors:
    """Per-camera pose errors after a Sim(3) alignment of the estimate onto the reference.

    rotation_deg [N] degrees; center_error [N] = center distance / scene extent (unitless).
    """

    rotation_deg: np.ndarray
    center_error: np.ndarray
    median_rotation_deg: float
    max_rotation_deg: float
    median_center_error: float
    max_center_error: float
    scene_extent: float = 1.0  # reference units the center errors were divided by
    sim3_scale: float = 1.0  # the alignment ref ~ s R est + t that was applied
    sim3_rotation: np.ndarray | None = None  # [3,3]
    sim3_translation: np.ndarray | None = None  # [3]


def pose_alignment_sim3(est: np.ndarray, ref: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Sim(3) from whole poses [N,4,4]: the rotation is the chordal mean of R_ref R_est^T
    (SVD projection onto SO(3); reweighted to ignore cameras whose relative rotation is off by
    more than twice the median), then scale and translation by least squares on the centers
    given that rotation. Well-posed when the centers are nearly coplanar or collinear
    (forward-facing captures), where a centers-only fit leaves a common tilt."""
    rel = ref[:, :3, :3] @ np.swapaxes(est[:, :3, :3], -1, -2)     # [N,3,3] R_ref R_est^T
    weights = np.ones(len(rel))
    for _ in range(3):  # reweighted: a few badly estimated cameras must not tilt the rest
        u, _, vt = np.linalg.svd((weights[:, None, None] * rel).sum(0))
        rot = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
        resid = se3.rotation_angle_deg(rel, np.broadcast_to(rot, rel.shape))
        weights = (resid <= max(2.0 * float(np.median(resid)), 0.05)).astype(float)
    c_est, c_ref = est[:, :3, 3], ref[:, :3, 3]
    de, dr = c_est - c_est.mean(0), c_ref - c_ref.mean(0)
    rotated = de @ rot.T
    scale = float((rotated * dr).sum() / max((de * de).sum(), 1e-18))
    trans = c_ref.mean(0) - scale * rot @ c_est.mean(0)
    return scale, rot, trans


def pose_errors_after_sim3(est_world_from_cam: np.ndarray, ref_world_from_cam: np.ndarray,
                           scene_extent: float | None = None, align: str = "poses") -> PoseErrors:
    """Compare estimated and reference poses [N,4,4] (OpenCV axes, same camera order).

    The estimate is aligned to the reference by a Sim(3): ``align="poses"`` (default) uses the
    rotations and the centers (:func:`pose_alignment_sim3`); ``align="centers"`` uses the
    centers alone (:func:`umeyama_sim3`; needs >= 3 non-collinear centers). Rotation error =
    angle of R_ref^T (R_align R_est); center error = |s R c_est + t - c_ref| / extent, with
    extent defaulting to the diagonal of the reference centers' bounding box.
    """
    est = np.asarray(est_world_from_cam, dtype=np.float64)
    ref = np.asarray(ref_world_from_cam, dtype=np.float64)
    if est.shape != ref.shape or est.shape[-2:] != (4, 4):
        raise ValueError(f"expected two [N,4,4] arrays, got {est.shape} and {ref.shape}")
    if align not in ("poses", "centers"):
        raise ValueError(f"align must be 'poses' or 'centers', got {align!r}")
    c_est, c_ref = est[:, :3, 3], ref[:, :3, 3]
    scale, rot, trans = (pose_alignment_sim3(est, ref) if align == "poses" else umeyama_sim3(c_est, c_ref))
    if scene_extent is None:
        scene_extent = float(np.linalg.norm(c_ref.max(0) - c_ref.min(0)))
    if not scene_extent > 0:
        raise ValueError("pose_errors_after_sim3: scene extent is zero; pass scene_extent")
    rot_err = se3.rotation_angle_deg(ref[:, :3, :3], rot @ est[:, :3, :3])
    aligned = scale * c_est @ rot.T + trans
    center_err = np.linalg.norm(aligned - c_ref, axis=1) / scene_extent
    return PoseErrors(rot_err, center_err, float(np.median(rot_err)), float(rot_err.max()),
                      float(np.median(center_err)), float(center_err.max()), float(scene_extent),
                      scale, rot, trans)


# --------------------------------------------------------------------------- depth

@dataclass
class DepthErrors:
    """Depth errors over valid pixels (reference depth > 0 and finite, inside the mask).

    abs_rel: mean |est - ref| / ref; rmse: in depth units; delta_1_25: fraction with
    max(est/ref, ref/est) < 1.25; within_2pct: fraction with |est - ref| / ref <= 0.02.
    """

    abs_rel: float
    rmse: float
    delta_1_25: float
    within_2pct: float
    num_valid: int = 0


def depth_errors(est: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> DepthErrors:
    """Errors of z-depth est [H,W] against ref [H,W] (same units); mask [H,W] bool optional.

    Estimated depths that are <= 0 or not finite count as failures in delta_1_25 and
    within_2pct; in abs_rel and rmse a non-finite estimate counts as 0. All metrics are
    NaN when no pixel is valid.
    """
    est = np.asarray(est, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if est.shape != ref.shape:
        raise ValueError(f"shape mismatch {est.shape} vs {ref.shape}")
    valid = np.isfinite(ref) & (ref > 0)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    n = int(valid.sum())
    if n == 0:
        return DepthErrors(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    e, r = est[valid], ref[valid]
    good = np.isfinite(e) & (e > 0)
    e = np.where(np.isfinite(e), e, 0.0)
    rel = np.abs(e - r) / r
    with np.errstate(divide="ignore"):
        ratio = np.where(good, np.maximum(e / r, r / np.where(good, e, 1.0)), np.inf)
    return DepthErrors(float(rel.mean()), float(np.sqrt(np.mean((e - r) ** 2))),
                       float(np.mean(ratio < 1.25)), float(np.mean(good & (rel <= 0.02))), n)
