"""Nuke ``.chan`` camera files (File > Import chan file on a Camera node).

One line per frame, whitespace separated: ``frame tx ty tz rx ry rz vfov``: translation in
scene units and rotation in degrees for Nuke's default rotation order ZXY, in Nuke's y-up
world with the camera looking down -Z, from
:func:`engine.geometry.conventions.nuke_chan_row_from_world_from_cam`; ``vfov`` is the
vertical field of view in degrees (Nuke derives ``focal`` from it and the vertical
aperture: :func:`engine.geometry.conventions.nuke_focal_mm_from_fov`). Frames are
numbered from ``first_frame`` (Nuke's default start is 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.export.common import ExportError, write_text_atomic
from engine.geometry import Camera
from engine.geometry.conventions import nuke_chan_row_from_world_from_cam, world_from_cam_from_nuke_chan_row


def chan_text(cameras: list[Camera], first_frame: int = 1) -> str:
    if not cameras:
        raise ExportError("the camera path has no frames")
    rows = nuke_chan_row_from_world_from_cam(np.stack([c.world_from_cam for c in cameras]))
    lines = []
    for i, (row, cam) in enumerate(zip(rows, cameras)):
        vals = " ".join(f"{v:.10f}" for v in (*row, cam.fov_y_deg))
        lines.append(f"{first_frame + i} {vals}")
    return "\n".join(lines) + "\n"


def write_chan(path: str | Path, cameras: list[Camera], first_frame: int = 1) -> Path:
    return write_text_atomic(path, chan_text(cameras, first_frame))


@dataclass(frozen=True)
class ChanCameras:
    """frames [N] int; world_from_cam [N,4,4] OpenCV axes, project world; fov_y_deg [N]."""

    frames: np.ndarray
    world_from_cam: np.ndarray
    fov_y_deg: np.ndarray


def read_chan(path: str | Path) -> ChanCameras:
    rows = np.array([l.split() for l in Path(path).read_text().splitlines() if l.strip()], dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] < 7:
        raise ExportError(f"{path}: expected lines 'frame tx ty tz rx ry rz [vfov]'")
    fov = rows[:, 7] if rows.shape[1] > 7 else np.full(len(rows), np.nan)
    return ChanCameras(rows[:, 0].astype(int), world_from_cam_from_nuke_chan_row(rows[:, 1:7]), fov)
