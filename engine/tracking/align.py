"""Keep one gauge while a reconstruction grows: Sim(3)-align a new SfM result onto the
previous one through the cameras they share, so the viewport does not jump between chunks."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.geometry import Camera
from engine.metrics import umeyama_sim3


def apply_sim3(camera: Camera, scale: float, rotation: np.ndarray, translation: np.ndarray) -> Camera:
    """Camera moved by the similarity x -> s R x + t of the world (the camera stays rigid)."""
    wfc = camera.world_from_cam.copy()
    wfc[:3, :3] = rotation @ wfc[:3, :3]
    wfc[:3, 3] = scale * rotation @ wfc[:3, 3] + translation
    return camera.with_pose(wfc)


def align_to_previous(result, previous):
    """An SfmResult expressed in ``previous``'s world frame (unchanged if < 3 shared cameras
    or the shared centers are degenerate)."""
    common = [n for n in result.registered if n in previous.cameras]
    if len(common) < 3:
        return result
    src = np.stack([result.cameras[n].center for n in common])
    dst = np.stack([previous.cameras[n].center for n in common])
    if np.linalg.matrix_rank(src - src.mean(0), tol=1e-9 * max(1.0, np.abs(src).max())) < 2:
        return result
    s, R, t = umeyama_sim3(src, dst)
    cams = {n: apply_sim3(c, s, R, t) for n, c in result.cameras.items()}
    pts = replace(result.points, xyz=s * result.points.xyz @ R.T + t)
    return replace(result, cameras=cams, points=pts)
