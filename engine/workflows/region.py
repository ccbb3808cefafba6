"""The open scene's region of interest (engine.geometry.scene_frame): set it, clear it, switch
it on or off, and fit it to the memory. Each is a quick request ``fn(workspace)`` answered on
the engine thread (``Session.request``); boxes travel as plain numpy / floats, never tensors.

A box is ``world_from_box`` [4,4] (rigid, world) with ``half_extent`` [3] (world units).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIT_PERCENTILE = 1.0         # "fit to memory": the 1st..99th percentile per box axis
FIT_MAX_POINTS = 400_000     # a stable decimation of the memory is plenty for percentiles


@dataclass(frozen=True)
class RegionAnswer:
    """The scene frame's box after a request: world_from_box [4,4] and half_extent [3] world
    units (both None when there is no box), enabled: whether it crops."""

    world_from_box: np.ndarray | None
    half_extent: np.ndarray | None
    enabled: bool = True


def _frame(ws):
    project = ws.require_scene("the region of interest")
    if project.scene_frame is None:
        from engine.workflows.scene import scene_frame_of

        project.scene_frame = scene_frame_of(project)
    return project


def _answer(frame) -> RegionAnswer:
    if frame.roi_world_from_box is None:
        return RegionAnswer(None, None, True)
    return RegionAnswer(np.asarray(frame.roi_world_from_box, dtype=np.float64),
                        np.asarray(frame.roi_half_extent, dtype=np.float64), bool(frame.roi_enabled))


def set_region_request(world_from_box=None, half_extent=None, enabled: bool = True):
    """``fn(workspace) -> RegionAnswer``: the open project's box becomes this one (None clears
    it). Raises ValueError on a non-finite box, a non-rigid rotation or a negative extent."""
    if world_from_box is not None:
        box = np.asarray(world_from_box, dtype=np.float64).reshape(4, 4)
        half = np.asarray(half_extent, dtype=np.float64).reshape(3)
        rot = box[:3, :3]
        if not (np.isfinite(box).all() and np.isfinite(half).all()) or (half < 0).any():
            raise ValueError(f"region of interest: bad box (half extent {half.tolist()})")
        if not np.allclose(rot.T @ rot, np.eye(3), atol=1e-5) or np.linalg.det(rot) < 0:
            raise ValueError("region of interest: the box rotation is not a rotation")
        world_from_box, half_extent = box, half

    def fn(ws):
        project = _frame(ws)
        project.scene_frame = project.scene_frame.with_roi(world_from_box, half_extent, enabled)
        return _answer(project.scene_frame)
    return fn


def fit_region_request(percentile: float = FIT_PERCENTILE):
    """``fn(workspace) -> RegionAnswer``: the box along the scene frame's axes holding the memory's
    points between the ``percentile`` and 100-``percentile`` percentiles per axis (robust to
    stray points); it replaces the project's box and is switched on. Raises ValueError when
    the memory holds too few points."""
    def fn(ws):
        from engine.geometry.scene_frame import fit_region

        project = _frame(ws)
        memory = ws.memory
        if memory is None or len(memory) < 10:
            raise ValueError("fit to memory: the geometry memory holds too few points (open or track a scene first)")
        fit = fit_region(memory.snapshot(max_points=FIT_MAX_POINTS).xyz, project.scene_frame.up_vector, percentile)
        if fit is None:
            raise ValueError("fit to memory: the memory holds no finite points")
        project.scene_frame = project.scene_frame.with_roi(*fit, enabled=True)
        return _answer(project.scene_frame)
    return fn
