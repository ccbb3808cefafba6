"""Line geometry for cameras (numpy, world coordinates; no VisPy)."""
from __future__ import annotations

import numpy as np


def frustum_segments(cameras, depth: float) -> np.ndarray:
    """Wire frusta of ``cameras`` as line segment endpoints [8*N*2, 3] world.

    Each frustum: 4 edges from the center to the image corners at z = depth (camera +z,
    OpenCV), the 4 edges of that rectangle, and a small tick above the top edge (image up).
    """
    out = []
    for cam in cameras:
        w, h = cam.width, cam.height
        corners_px = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=np.float64)
        rays = corners_px @ np.linalg.inv(cam.K).T * depth            # [4,3] camera frame
        pts = rays @ cam.world_from_cam[:3, :3].T + cam.world_from_cam[:3, 3]
        c = cam.world_from_cam[:3, 3]
        top_mid = 0.5 * (pts[0] + pts[1])
        up = -cam.world_from_cam[:3, 1] * depth * 0.25                   # image up = -y
        segs = [c, pts[0], c, pts[1], c, pts[2], c, pts[3],
                pts[0], pts[1], pts[1], pts[2], pts[2], pts[3], pts[3], pts[0],
                top_mid - 0.3 * (pts[1] - pts[0]) * 0.5, top_mid + up]
        out.append(np.asarray(segs))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 3), np.float32)


def coverage_colors(coverage: np.ndarray) -> np.ndarray:
    """Coverage [N] in [0,1] -> RGBA [N,4]: red (the generator must invent) to green (covered)."""
    c = np.clip(np.asarray(coverage, dtype=np.float32), 0, 1)[:, None]
    red = np.array([[0.95, 0.2, 0.15, 1.0]], np.float32)
    green = np.array([[0.2, 0.9, 0.35, 1.0]], np.float32)
    return red * (1 - c) + green * c
