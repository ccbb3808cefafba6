"""Reference twin of ``points.py``: the same rules in plain loops over numpy (slow; tests only)."""
from __future__ import annotations

import numpy as np


def render_points_reference(xyz: np.ndarray, rgb: np.ndarray, camera, radius_world: float,
                            near: float = 1e-3, max_radius_px: float = 3.0):
    """Returns (color [H,W,3], depth [H,W], index [H,W] with -1 where empty)."""
    h, w = camera.height, camera.width
    cfw = camera.cam_from_world.astype(np.float32)
    K = camera.K
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for i, p in enumerate(xyz.astype(np.float32)):
        pc = cfw[:3, :3] @ p + cfw[:3, 3]
        z = np.float32(pc[2])
        if not z > near:
            continue
        u = np.float32(K[0, 0]) * pc[0] / z + np.float32(K[0, 1]) * pc[1] / z + np.float32(K[0, 2])
        v = np.float32(K[1, 1]) * pc[1] / z + np.float32(K[1, 2])
        key = (int(np.floor(v)), int(np.floor(u)))
        if key not in best or (z, i) < best[key]:
            best[key] = (float(z), i)
    index = -np.ones((h, w), np.int64)
    depth = np.zeros((h, w), np.float32)
    for (row, col), (z, i) in best.items():
        r = min(max(float(K[1, 1]) * radius_world / z, 0.0), max_radius_px)
        reach = int(np.ceil(max_radius_px))
        for dy in range(-reach, reach + 1):
            for dx in range(-reach, reach + 1):
                y, x = row + dy, col + dx
                if not (0 <= y < h and 0 <= x < w) or dx * dx + dy * dy > r * r:
                    continue
                if index[y, x] < 0 or (z, i) < (float(depth[y, x]), int(index[y, x])):
                    index[y, x], depth[y, x] = i, z
    color = np.where(index[..., None] >= 0, rgb[np.maximum(index, 0)], 0.0)
    return color, depth, index
