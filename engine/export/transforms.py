"""nerfstudio / instant-ngp ``transforms.json``.

Content (nerfstudio's ``nerfstudio_dataparser`` reads it; instant-ngp reads the same keys):
``camera_model`` "PINHOLE"; intrinsics ``fl_x fl_y cx cy w h`` (pixels, nerfstudio's
pixel-center convention = ours) at the top level when every frame shares them, else per
frame; ``frames[i]``: ``file_path`` (relative to the json), ``transform_matrix``
camera-to-world 4x4 row-major with OpenGL camera axes (+x right, +y up, looking down -z),
from :func:`engine.geometry.conventions.nerfstudio_transform_matrix_from_world_from_cam`.
The world is the project's (no ``applied_transform``), so ``ply_file_path`` points (for
splatfacto's initialisation) and the COLMAP export share it. Extra keys of ours
(``anyrecon_*``) are ignored by nerfstudio.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.export.common import check_cameras, write_text_atomic
from engine.geometry import Camera
from engine.geometry.conventions import (intrinsics_from_nerfstudio, intrinsics_to_nerfstudio,
                                         nerfstudio_transform_matrix_from_world_from_cam,
                                         world_from_cam_from_nerfstudio_transform_matrix)

_INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")


def transforms_dict(cameras: list[Camera], file_paths: list[str], frame_extras: list[dict] | None = None,
                    ply_file_path: str | None = None) -> dict:
    """The transforms.json content for ``cameras`` whose images are at ``file_paths``."""
    if not cameras or len(cameras) != len(file_paths):
        raise ValueError("need one image path per camera and at least one camera")
    check_cameras(cameras, "transforms.json")
    intr = [intrinsics_to_nerfstudio(c.K, c.width, c.height) for c in cameras]
    shared = all(i == intr[0] for i in intr)
    out: dict = {"camera_model": "PINHOLE"}
    if shared:
        out.update(intr[0])
    frames = []
    for k, (cam, path) in enumerate(zip(cameras, file_paths)):
        m = nerfstudio_transform_matrix_from_world_from_cam(cam.world_from_cam)
        f = {"file_path": path, "transform_matrix": m.tolist()}
        if not shared:
            f.update(intr[k])
        if frame_extras:
            f.update(frame_extras[k])
        frames.append(f)
    out["frames"] = frames
    if ply_file_path:
        out["ply_file_path"] = ply_file_path
    return out


def write_transforms(path: str | Path, cameras: list[Camera], file_paths: list[str],
                     frame_extras: list[dict] | None = None, ply_file_path: str | None = None) -> Path:
    """Write transforms.json atomically."""
    data = transforms_dict(cameras, file_paths, frame_extras, ply_file_path)
    return write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False))


def read_transforms(path: str | Path) -> list[Camera]:
    """transforms.json -> cameras (named by file_path), via the conventions module."""
    data = json.loads(Path(path).read_text())
    cams = []
    for f in data["frames"]:
        src = {k: f.get(k, data.get(k)) for k in _INTRINSIC_KEYS}
        K, w, h = intrinsics_from_nerfstudio(src)
        wfc = world_from_cam_from_nerfstudio_transform_matrix(np.array(f["transform_matrix"], float))
        cams.append(Camera(K, w, h, wfc, f["file_path"]))
    return cams
