"""What an input path is, and which workflow opens it: one answer for the studio's drop,
``anyrecon batch`` and anything else that takes "a capture" (Qt-free, no I/O beyond a look
at the folder).

Kinds: ``project`` (a folder with project.json), ``colmap`` (sparse/0 or cameras.bin|txt),
``transforms`` (transforms.json), ``llff`` (poses_bounds.npy), ``images`` (a photo folder),
``video``, ``camera-path`` (a .json path file), ``error`` (with a message saying why).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIDEO_EXT = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
POSED_KINDS = ("colmap", "transforms", "llff")


@dataclass(frozen=True)
class InputKind:
    kind: str
    path: Path
    message: str = ""       # why it cannot be opened (kind "error"), else a short description


def classify_input(path: str | Path) -> InputKind:
    """The kind of ``path`` (see module docstring); never raises."""
    path = Path(path)
    if not path.exists():
        return InputKind("error", path, f"Cannot open {path}: it does not exist.")
    if path.is_dir():
        if (path / "project.json").exists():
            return InputKind("project", path, "project")
        if (path / "transforms.json").exists():
            return InputKind("transforms", path, "transforms.json dataset")
        if any((path / p).exists() for p in ("sparse", "cameras.bin", "cameras.txt")):
            return InputKind("colmap", path, "COLMAP dataset")
        if (path / "poses_bounds.npy").exists():
            return InputKind("llff", path, "LLFF dataset")
        images = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXT]
        if not images:
            return InputKind("error", path, f"Cannot open the folder {path.name}: it contains no images "
                             f"({', '.join(sorted(IMAGE_EXT))}), no project.json and no dataset.")
        return InputKind("images", path, f"{len(images)} photos")
    suffix = path.suffix.lower()
    if path.name == "project.json":
        return InputKind("project", path.parent, "project")
    if suffix == ".json":
        return InputKind("camera-path", path, "camera path")
    if suffix in VIDEO_EXT:
        if path.stat().st_size == 0:
            return InputKind("error", path, f"Cannot open {path.name}: the file is empty.")
        return InputKind("video", path, "video")
    return InputKind("error", path, f"Cannot open {path.name}: unsupported file type '{suffix or path.name}'. "
                     f"Use a video ({', '.join(sorted(VIDEO_EXT))}), a folder of images, a COLMAP / "
                     "transforms.json / LLFF dataset, a project folder or a camera_path.json.")


def scene_job_for(found: InputKind, track_options=None, import_options=None):
    """The workflow job that makes ``found`` the open scene (posed datasets keep their poses;
    videos and photo folders are tracked); ValueError for kinds that are not scenes."""
    from engine.workflows.scene import (
        ImportOptions,
        import_dataset_job,
        open_capture_job,
        open_project_job,
    )

    if found.kind == "project":
        return open_project_job(found.path)
    if found.kind in ("colmap", "llff"):
        return import_dataset_job(found.path, import_options or ImportOptions())
    if found.kind == "transforms":
        return import_dataset_job(found.path / "transforms.json", import_options or ImportOptions())
    if found.kind in ("video", "images"):
        return open_capture_job(found.path, track_options)
    raise ValueError(found.message or f"{found.path}: a {found.kind} is not a scene")
