"""The scene frame's region of interest as an export crop: points, meshes and splats.

The region of interest is the oriented box of :class:`engine.geometry.scene_frame.SceneFrame`
(``roi_world_from_box`` [4,4], ``roi_half_extent`` [3], world units). A point p (world) is
inside when every coordinate of ``box_from_world @ p`` lies within +-half_extent (faces of
the box included). ``ExportOptions.crop_to_roi``: None = crop when the project has a
region of interest (set and switched on), True = crop (an error when there is none), False = never. A crop that
keeps nothing is an ExportError raised before any file is opened.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.export.common import ExportError


@dataclass(frozen=True)
class Roi:
    """world_from_box [4,4] rigid; half_extent [3] > 0 (world units)."""

    world_from_box: np.ndarray
    half_extent: np.ndarray

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Mask [N] of the points [N,3] (world) inside the box."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        local = (p - self.world_from_box[:3, 3]) @ self.world_from_box[:3, :3]
        return np.all(np.abs(local) <= self.half_extent, axis=1)


def export_roi(project, crop_to_roi: bool | None) -> Roi | None:
    """The crop an export applies (see the module docstring), or None."""
    frame = getattr(project, "scene_frame", None)
    has_roi = frame is not None and frame.has_roi       # a box switched off in the studio crops nothing
    if crop_to_roi is None:
        crop_to_roi = has_roi
    if not crop_to_roi:
        return None
    if not has_roi:
        raise ExportError("cropping to the region of interest was asked for, but the project has no "
                          "region of interest (or it is switched off): draw or enable one in the viewport, "
                          "or export without the crop")
    box = np.asarray(frame.roi_world_from_box, dtype=np.float64).reshape(4, 4)
    half = np.asarray(frame.roi_half_extent, dtype=np.float64).reshape(3)
    if not (np.isfinite(box).all() and np.isfinite(half).all()) or (half <= 0).any():
        raise ExportError(f"the region of interest is empty (half extent {half.tolist()}): "
                          "give the box a size, or export without the crop")
    return Roi(box, half)


def crop_note(roi: Roi | None, kept: int, total: int) -> tuple[str, ...]:
    """The ExportResult note of a crop (empty when nothing was cropped)."""
    if roi is None:
        return ()
    return (f"cropped to the region of interest: kept {kept} of {total} (--no-crop keeps all)",)


def _kept(roi: Roi, points: np.ndarray, what: str) -> np.ndarray:
    mask = roi.contains(points)
    if not mask.any():
        raise ExportError(f"the region of interest holds none of the {len(mask)} {what}: move or grow "
                          "the box, or export without the crop (--no-crop)")
    return mask


def crop_point_cloud(cloud, roi: Roi | None):
    """The PointCloud rows inside ``roi`` (all of them when roi is None)."""
    if roi is None:
        return cloud
    m = _kept(roi, cloud.xyz, "points")
    return replace(cloud, **{f: getattr(cloud, f)[m] for f in ("xyz", "rgb", "normal", "conf", "segment", "view")})


def crop_splats(splats, roi: Roi | None):
    """The GaussianSplats whose means lie inside ``roi``."""
    if roi is None:
        return splats
    m = _kept(roi, splats.means, "Gaussians")
    return type(splats)(splats.means[m], splats.log_scales[m], splats.quats[m], splats.opacity_logits[m], splats.sh[m])


def crop_mesh(mesh, roi: Roi | None):
    """The MeshData faces whose three vertices lie inside ``roi``; unused vertices dropped."""
    if roi is None:
        return mesh
    inside = roi.contains(mesh.vertices)
    faces = mesh.faces[inside[mesh.faces].all(axis=1)]
    if len(faces) == 0:
        raise ExportError(f"the region of interest holds none of the {mesh.num_faces} mesh faces: move or "
                          "grow the box, or export without the crop (--no-crop)")
    used = np.unique(faces)
    remap = np.full(len(mesh.vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    return replace(mesh, vertices=mesh.vertices[used], faces=remap[faces].astype(mesh.faces.dtype),
                   colors=mesh.colors[used], uv=None if mesh.uv is None else mesh.uv[used])
