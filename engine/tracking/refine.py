"""Render-and-match pose refinement (ReconViaGen): render the geometry memory at a camera's
current estimate, match SIFT features between the render and the photo, lift the render's
keypoints to 3D with the rendered depth, solve PnP with RANSAC, and accept the new pose only
when it reprojects the matches better than the old one. Iterated a few times (the render
at the improved pose matches better).

Pixel convention: OpenCV keypoints have pixel centers at integers; ours at +0.5, so
keypoints are shifted by +0.5 and our K is used unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.geometry import Camera
from engine.render.points import render_memory


@dataclass(frozen=True)
class RefineOptions:
    ratio: float = 0.8            # Lowe's ratio test
    min_inliers: int = 12
    ransac_px: float = 3.0
    iterations: int = 3           # render -> match -> PnP rounds
    max_features: int = 4000


@dataclass
class RefineResult:
    """camera: refined (or the input when rejected); errors: median reprojection (pixels) of the
    inlier matches at the input pose and at the returned pose."""

    camera: Camera
    accepted: bool
    error_before_px: float
    error_after_px: float
    num_matches: int
    num_inliers: int


def _gray(image: np.ndarray) -> np.ndarray:
    img = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


class SiftFeatures:
    """OpenCV SIFT of an image [H,W,3] (uint8 or float RGB): keypoints ``uv`` [N,2] in the
    image's pixels (our +0.5 convention) and ``desc`` [N,128]. ``working_side``: detect on the
    image shrunk to this longer side (keypoints are scaled back); ``mask``: [H,W] uint8 where
    to detect (at the image's size, no shrinking then)."""

    def __init__(self, image: np.ndarray, max_features: int, working_side: int | None = None,
                 mask: np.ndarray | None = None) -> None:
        h, w = image.shape[:2]
        s = 1.0 if working_side is None or mask is not None else min(1.0, working_side / max(w, h))
        small = image if s == 1.0 else cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        kp, desc = cv2.SIFT_create(nfeatures=max_features).detectAndCompute(_gray(small), mask)
        self.uv = (np.array([k.pt for k in kp], dtype=np.float64).reshape(-1, 2) + 0.5) / s
        self.desc = desc if desc is not None else np.zeros((0, 128), np.float32)

    def match(self, other: "SiftFeatures", ratio: float) -> tuple[np.ndarray, np.ndarray]:
        """(uv here [M,2], uv in other [M,2]) of the matches that pass Lowe's ratio test."""
        if len(self.desc) < 2 or len(other.desc) < 2:
            return np.zeros((0, 2)), np.zeros((0, 2))
        pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(self.desc, other.desc, k=2)
        good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < ratio * m[1].distance]
        return (self.uv[[m.queryIdx for m in good]].reshape(-1, 2),
                other.uv[[m.trainIdx for m in good]].reshape(-1, 2))


def match_render_to_photo(render_rgb, render_mask, photo, options: RefineOptions):
    """SIFT + ratio test. Returns (render uv [M,2], photo uv [M,2]) in our pixel convention."""
    mask = cv2.erode(render_mask.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    render = SiftFeatures(render_rgb, options.max_features, mask=mask)
    return render.match(SiftFeatures(photo, options.max_features), options.ratio)


def _reproj(camera: Camera, xyz: np.ndarray, uv: np.ndarray) -> np.ndarray:
    proj, z = camera.project(xyz)
    err = np.linalg.norm(proj - uv, axis=1)
    return np.where(z > 0, err, np.inf)


def solve_pnp(camera: Camera, xyz: np.ndarray, uv: np.ndarray, options: RefineOptions):
    """PnP + RANSAC from ``camera``'s pose (its K is used): points xyz [N,3] world seen at uv
    [N,2] (our pixel convention). Returns (camera at the new pose, inlier indices [M]) after a
    Levenberg-Marquardt polish on the inliers, or (None, None) with fewer than
    ``options.min_inliers`` inliers."""
    cfw = camera.cam_from_world
    rvec, _ = cv2.Rodrigues(cfw[:3, :3])
    tvec = cfw[:3, 3].reshape(3, 1).copy()
    ok, rvec, tvec, inl = cv2.solvePnPRansac(xyz, uv, camera.K, None, rvec, tvec, useExtrinsicGuess=True,
                                             iterationsCount=300, reprojectionError=options.ransac_px,
                                             flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or inl is None or len(inl) < options.min_inliers:
        return None, None
    inl = inl.ravel()
    rvec, tvec = cv2.solvePnPRefineLM(xyz[inl], uv[inl], camera.K, None, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    new_cfw = np.eye(4)
    new_cfw[:3, :3], new_cfw[:3, 3] = R, tvec.ravel()
    return camera.with_pose(np.linalg.inv(new_cfw)), inl


def refine_once(memory, camera: Camera, photo: np.ndarray, options: RefineOptions = RefineOptions()) -> RefineResult:
    """One render -> match -> PnP round (see module docstring)."""
    r = render_memory(memory, camera).numpy()
    ur, up = match_render_to_photo(r.color, r.mask, photo, options)
    xyz, keep = camera.backproject_at(ur, r.depth)
    if keep.sum() < options.min_inliers:
        return RefineResult(camera, False, np.inf, np.inf, int(keep.sum()), 0)
    uv = np.asarray(up).reshape(-1, 2)[keep]
    new, inl = solve_pnp(camera, xyz, uv, options)
    if new is None:
        return RefineResult(camera, False, np.inf, np.inf, len(uv), 0)
    before = float(np.median(_reproj(camera, xyz[inl], uv[inl])))
    after = float(np.median(_reproj(new, xyz[inl], uv[inl])))
    accepted = after < before
    return RefineResult(new if accepted else camera, accepted, before, after if accepted else before,
                        len(uv), len(inl))


def refine_pose(memory, camera: Camera, photo: np.ndarray, options: RefineOptions = RefineOptions()) -> RefineResult:
    """Iterate :func:`refine_once` while it keeps improving; photo [H,W,3] at the camera's size."""
    first = last = refine_once(memory, camera, photo, options)
    for _ in range(options.iterations - 1):
        if not last.accepted:
            break
        nxt = refine_once(memory, last.camera, photo, options)
        if not nxt.accepted:
            break
        last = nxt
    return RefineResult(last.camera, first.accepted, first.error_before_px, last.error_after_px,
                        last.num_matches, last.num_inliers)
