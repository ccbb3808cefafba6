"""What a dropped or opened path is, and which engine job opens it (Qt-free).

``classify(path)`` returns an ``OpenPlan(kind, path, job, message)``: ``job`` is a Session
job or None; without a job, ``message`` says clearly why the path cannot be opened. The kinds
and their workflows are engine.workflows.inputs' (the same for ``anyrecon batch``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.workflows.inputs import IMAGE_EXT, VIDEO_EXT, classify_input, scene_job_for

__all__ = ["IMAGE_EXT", "VIDEO_EXT", "OpenPlan", "classify"]


@dataclass(frozen=True)
class OpenPlan:
    kind: str                      # project, video, demo-video, images, colmap, transforms, llff, camera-path, error
    path: Path
    job: Callable | None = None
    message: str = ""


def classify(path: str | Path, demo_ground_truth: bool = False) -> OpenPlan:
    """``demo_ground_truth``: open a synthetic demo video (one with ``<stem>_cameras.json``)
    with its exact cameras instead of tracking it (fast; tests and demos)."""
    from studio.jobs import demo_video_job

    found = classify_input(path)
    if found.kind == "error":
        return OpenPlan("error", found.path, None, found.message)
    if found.kind == "camera-path":
        return OpenPlan("camera-path", found.path)
    if found.kind == "video" and demo_ground_truth and found.path.with_name(found.path.stem + "_cameras.json").exists():
        return OpenPlan("demo-video", found.path, demo_video_job(found.path))
    try:
        return OpenPlan(found.kind, found.path, scene_job_for(found))
    except Exception as exc:  # reported in the window, never raised into Qt
        return OpenPlan("error", found.path, None, f"Cannot open {found.path.name}: {type(exc).__name__}: {exc}")
