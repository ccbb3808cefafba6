"""Sparse points for posed views that came without any (e.g. transforms.json): SIFT matches
between each view and its best pose neighbour, triangulated with the known cameras."""
from __future__ import annotations

import cv2
import numpy as np

from engine.geometry import Camera
from engine.tracking.mvs_select import select_neighbors


def _projection(cam: Camera) -> np.ndarray:
    return cam.K @ cam.cam_from_world[:3, :]


def triangulate_pair(a: Camera, img_a: np.ndarray, b: Camera, img_b: np.ndarray,
                     max_error_px: float = 2.0, ratio: float = 0.75) -> np.ndarray:
    """Points [N,3] world seen by both views (SIFT + ratio test, DLT, reprojection-checked)."""
    sift = cv2.SIFT_create(nfeatures=3000)
    ka, da = sift.detectAndCompute(cv2.cvtColor(img_a, cv2.COLOR_RGB2GRAY), None)
    kb, db = sift.detectAndCompute(cv2.cvtColor(img_b, cv2.COLOR_RGB2GRAY), None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return np.zeros((0, 3))
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if len(good) < 8:
        return np.zeros((0, 3))
    ua = np.array([ka[m.queryIdx].pt for m in good]).T + 0.5     # our pixel-center convention
    ub = np.array([kb[m.trainIdx].pt for m in good]).T + 0.5
    X = cv2.triangulatePoints(_projection(a), _projection(b), ua, ub)
    xyz = (X[:3] / X[3:]).T
    keep = np.ones(len(xyz), bool)
    for cam, uv in ((a, ua.T), (b, ub.T)):
        proj, z = cam.project(xyz)
        keep &= (z > 0) & (np.linalg.norm(proj - uv, axis=1) < max_error_px)
    return xyz[keep]


def sparse_from_known_poses(cameras: list[Camera], images: list[np.ndarray]) -> np.ndarray:
    """Points [N,3] world from every view and its nearest pose neighbour."""
    nbrs = select_neighbors(cameras, None, k=1)
    pts = [triangulate_pair(cameras[i], images[i], cameras[n[0]], images[n[0]])
           for i, n in enumerate(nbrs) if n]
    return np.concatenate(pts) if pts else np.zeros((0, 3))
