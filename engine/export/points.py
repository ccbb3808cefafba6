"""Point clouds: the geometry memory as a binary PLY with provenance.

Vertex properties, in this order (binary little endian):

=========================  ======  ==============================================
x y z                      float   position, project world (meters), OpenCV-style axes
nx ny nz                   float   unit normal, world; 0 0 0 where unknown
red green blue             uchar   color (0-255)
confidence                 float   accumulated observation weight of the point
segment                    int     provenance: -1 captured, >= 0 generated segment id
generated                  uchar   1 for generated points, 0 for captured ones
view                       int     captured view that first produced it (-1 none)
=========================  ======  ==============================================

The world is the project's (the same as the COLMAP and splat exports, so they line up).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.export.common import ExportError, write_file_atomic
from engine.ply import ply_bytes, read_ply

SUBSETS = ("all", "captured", "generated")

POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"),
                        ("nz", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
                        ("confidence", "<f4"), ("segment", "<i4"), ("generated", "u1"), ("view", "<i4")])


@dataclass(frozen=True)
class PointCloud:
    """Plain point data (world frame).

    xyz [N,3] float32 m; rgb [N,3] float32 in [0,1]; normal [N,3] float32 (zeros unknown);
    conf [N] float32; segment [N] int32 (-1 captured); view [N] int32
    """

    xyz: np.ndarray
    rgb: np.ndarray
    normal: np.ndarray
    conf: np.ndarray
    segment: np.ndarray
    view: np.ndarray

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


def memory_points(memory, subset: str = "all") -> PointCloud:
    """Every point of ``memory`` of the chosen provenance subset (all, captured, generated)."""
    if subset not in SUBSETS:
        raise ExportError(f"unknown point subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    if memory is None or memory.is_empty:
        raise ExportError("the geometry memory is empty: nothing to export (track or import a scene first)")
    snap = memory.snapshot()
    keep = np.ones(len(snap), dtype=bool)
    if subset == "captured":
        keep = snap.segment < 0
    elif subset == "generated":
        keep = snap.segment >= 0
    if not keep.any():
        raise ExportError(f"the geometry memory has no {subset} points to export")
    return PointCloud(snap.xyz[keep], snap.rgb[keep], snap.normal[keep], snap.conf[keep],
                      snap.segment[keep], snap.view[keep])


def point_records(cloud: PointCloud) -> np.ndarray:
    """PointCloud -> structured array [N] of :data:`POINT_DTYPE`."""
    rec = np.empty(len(cloud), dtype=POINT_DTYPE)
    for i, axis in enumerate("xyz"):
        rec[axis] = cloud.xyz[:, i]
        rec["n" + axis] = cloud.normal[:, i]
    rgb8 = np.clip(np.asarray(cloud.rgb) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rec["red"], rec["green"], rec["blue"] = rgb8[:, 0], rgb8[:, 1], rgb8[:, 2]
    rec["confidence"] = cloud.conf
    rec["segment"] = cloud.segment
    rec["generated"] = (np.asarray(cloud.segment) >= 0).astype(np.uint8)
    rec["view"] = cloud.view
    return rec


def write_points_ply(path: str | Path, cloud: PointCloud) -> Path:
    """Write ``cloud`` as a binary PLY (see module docstring) atomically."""
    if len(cloud) == 0:
        raise ExportError("no points to export")
    comments = ("AnyRecon Studio point cloud; world = project world (meters)",
                "segment: -1 captured, >=0 generated segment id; normals 0 0 0 = unknown")
    return write_file_atomic(path, ply_bytes(point_records(cloud), comments=comments))


def read_points_ply(path: str | Path) -> PointCloud:
    """Read a PLY written by :func:`write_points_ply` (or any PLY with x y z [+ colors])."""
    ply = read_ply(path)
    v = ply.data["vertex"]
    names = v.dtype.names
    n = len(v)

    def cols(keys, default):
        if all(k in names for k in keys):
            return np.stack([v[k] for k in keys], axis=1).astype(np.float32)
        return np.full((n, len(keys)), default, dtype=np.float32)

    rgb = cols(("red", "green", "blue"), 0.0) / 255.0
    return PointCloud(cols(("x", "y", "z"), 0.0), rgb, cols(("nx", "ny", "nz"), 0.0),
                      cols(("confidence",), 1.0)[:, 0],
                      v["segment"].astype(np.int32) if "segment" in names else np.full(n, -1, np.int32),
                      v["view"].astype(np.int32) if "view" in names else np.full(n, -1, np.int32))
