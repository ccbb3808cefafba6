"""What a dropped or opened path is, and which engine job opens it (Qt-free).

``classify(path)`` returns an ``OpenPlan(kind, path, job, message)``: ``job`` is a Session
job or None; without a job, ``message`` says clearly why the path cannot be opened.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

VIDEO_EXT = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


@dataclass(frozen=True)
class OpenPlan:
    kind: str                      # project, video, demo-video, images, colmap, transforms, camera-path, error
    path: Path
    job: Callable | None = None
    message: str = ""


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def tracking_available() -> bool:
    return _has_module("engine.tracking.pipeline") or (
        _has_module("engine.tracking") and (Path(__file__).parent.parent / "engine/tracking/__init__.py").exists())


def export_available() -> bool:
    return _has_module("engine.export") and (Path(__file__).parent.parent / "engine/export/__init__.py").exists()


def _tracking_job(path: Path, kind: str) -> Any:
    """The workflow that opens ``path``: posed datasets are imported (their cameras kept),
    videos and photo folders are tracked."""
    from engine.workflows import import_dataset_job, open_capture_job

    if kind in ("colmap", "llff"):
        return import_dataset_job(path)
    if kind == "transforms":
        return import_dataset_job(path / "transforms.json")
    return open_capture_job(path)


def _needs_tracking(path: Path, kind: str, what: str) -> OpenPlan:
    if not tracking_available():
        return OpenPlan("error", path, None, f"Cannot open {path.name}: {what} needs the tracking module "
                        "(engine.tracking), which is not installed in this build.")
    try:
        return OpenPlan(kind, path, _tracking_job(path, kind))
    except Exception as exc:  # an incompatible tracking module is reported, not raised
        return OpenPlan("error", path, None, f"Cannot open {path.name}: {type(exc).__name__}: {exc}")


def classify(path: str | Path, demo_ground_truth: bool = False) -> OpenPlan:
    """``demo_ground_truth``: open a synthetic demo video (one with ``<stem>_cameras.json``)
    with its exact cameras instead of tracking it (fast; tests and demos)."""
    from engine.workflows import open_project_job as load_project_job
    from studio.jobs import demo_video_job

    path = Path(path)
    if not path.exists():
        return OpenPlan("error", path, None, f"Cannot open {path}: it does not exist.")
    if path.is_dir():
        if (path / "project.json").exists():
            return OpenPlan("project", path, load_project_job(path))
        if (path / "transforms.json").exists():
            return _needs_tracking(path, "transforms", "importing a transforms.json dataset")
        if any((path / p).exists() for p in ("sparse", "cameras.bin", "cameras.txt")):
            return _needs_tracking(path, "colmap", "importing a COLMAP dataset")
        if (path / "poses_bounds.npy").exists():
            return _needs_tracking(path, "llff", "importing an LLFF dataset")
        images = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXT]
        if not images:
            return OpenPlan("error", path, None, f"Cannot open the folder {path.name}: it contains no images "
                            f"({', '.join(sorted(IMAGE_EXT))}), no project.json and no dataset.")
        return _needs_tracking(path, "images", f"reconstructing {len(images)} photos")
    suffix = path.suffix.lower()
    if suffix == ".json" and path.name != "project.json":
        return OpenPlan("camera-path", path, None)
    if path.name == "project.json":
        return OpenPlan("project", path.parent, load_project_job(path.parent))
    if suffix in VIDEO_EXT:
        if path.stat().st_size == 0:
            return OpenPlan("error", path, None, f"Cannot open {path.name}: the file is empty.")
        sidecar = path.with_name(path.stem + "_cameras.json")
        if sidecar.exists() and (demo_ground_truth or not tracking_available()):
            return OpenPlan("demo-video", path, demo_video_job(path))
        return _needs_tracking(path, "video", "tracking a video")
    return OpenPlan("error", path, None, f"Cannot open {path.name}: unsupported file type "
                    f"'{suffix or path.name}'. Drop a video ({', '.join(sorted(VIDEO_EXT))}), a folder of "
                    "images, a COLMAP / transforms.json dataset, a project folder or a camera_path.json.")
