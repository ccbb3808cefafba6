"""The project folder: a documented, schema-versioned on-disk format.

```
PROJECT/
  project.json        {"schema": 1, "app": "anyrecon-studio", "name", "created", "voxel_size",
                       "trajectories": {name: relative path}, "segments": [segment records], "info": {}}
  cameras.json        {"frames": [{"name", "image", "depth", "width", "height",
                                   "K": 3x3 pixels, "world_from_cam": 4x4 OpenCV axes}]}
  images/NAME.png     captured keyframes (RGB)
  depth/NAME.npz      "depth" [H,W] float32 z-depth in meters (0 unknown), optional "confidence"
  memory.npz          the geometry memory (engine/memory/persist.py)
  trajectories/*.json camera paths in nerfstudio camera_path.json format
  segments/seg_NNNN/  generated frames: frame_NNNNNN.png (+ .npz with depth, confidence, invented)
```
Every file is written to a temporary name and renamed; ``project.json`` is written last, so a
crash mid-save leaves the previous project readable. Opening a newer schema, or a damaged or
missing file, raises ``ProjectError`` naming the file.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.atomic_io import write_atomic
from engine.geometry import Camera
from engine.ingest.views import CapturedView, ViewBank

SCHEMA_VERSION = 1


class ProjectError(ValueError):
    """A project folder cannot be read or written; the message names the file."""


def write_json_atomic(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1).encode())


def read_json(path: Path) -> dict:
    if not path.exists():
        raise ProjectError(f"{path}: file is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: damaged JSON ({exc})") from exc


def write_image(path: Path, image: np.ndarray) -> None:
    """RGB uint8 or float [0,1] [H,W,3] -> PNG (atomic)."""
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ProjectError(f"{path}: could not encode image")
    write_atomic(path, buf.tobytes())


def read_image(path: Path) -> np.ndarray:
    """-> RGB uint8 [H,W,3]."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ProjectError(f"{path}: missing or unreadable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _npz_bytes(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


@dataclass
class SegmentRecord:
    segment_id: int
    trajectory: str
    frame_start: int
    frame_stop: int
    reference_view_ids: list[int] = field(default_factory=list)
    status: str = "done"

    @property
    def folder(self) -> str:
        return f"segments/seg_{self.segment_id:04d}"


@dataclass
class Project:
    """An open project. ``root`` is its folder; ``memory`` is a GeometryMemory or None."""

    root: Path
    name: str = "untitled"
    views: ViewBank = field(default_factory=ViewBank)
    memory: object | None = None
    trajectories: dict = field(default_factory=dict)   # name -> engine.trajectory.Trajectory
    segments: list[SegmentRecord] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    # ------------------------------------------------------------------ save
    def save(self, root: Path | str | None = None) -> Path:
        from engine.trajectory.nerfstudio_path import write_camera_path

        root = Path(root or self.root)
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        frames = [self._save_view(root, v) for v in self.views]
        write_json_atomic(root / "cameras.json", {"frames": frames})
        if self.memory is not None:
            self.memory.save(root / "memory.npz")
        paths = {}
        for name, traj in self.trajectories.items():
            rel = f"trajectories/{name}.json"
            (root / "trajectories").mkdir(exist_ok=True)
            write_camera_path(root / rel, traj)
            paths[name] = rel
        meta = {"schema": SCHEMA_VERSION, "app": "anyrecon-studio", "name": self.name,
                "created": self.created, "saved": time.time(),
                "voxel_size": getattr(self.memory, "voxel_size", None),
                "memory": "memory.npz" if self.memory is not None else None,
                "trajectories": paths, "segments": [s.__dict__ for s in self.segments], "info": self.info}
        write_json_atomic(root / "project.json", meta)
        return root

    def _save_view(self, root: Path, view: CapturedView) -> dict:
        name = view.name or "frame"
        image_rel = f"images/{name}.png"
        if not (root / image_rel).exists():
            write_image(root / image_rel, view.image)
        depth_rel = None
        if view.depth is not None:
            depth_rel = f"depth/{name}.npz"
            arrays = {"depth": view.depth.astype(np.float32)}
            if view.confidence is not None:
                arrays["confidence"] = view.confidence.astype(np.float16)
            if view.completed is not None:
                arrays["completed"] = view.completed.astype(bool)
            write_atomic(root / depth_rel, _npz_bytes(**arrays))
        d = view.camera.to_dict()
        d.update(image=image_rel, depth=depth_rel)
        return d

    def write_generated_frame(self, segment_id: int, frame_index: int, frame) -> Path:
        """Store one generated frame (PNG + npz of depth/confidence/invented); returns the PNG."""
        folder = self.root / f"segments/seg_{segment_id:04d}"
        png = folder / f"frame_{frame_index:06d}.png"
        write_image(png, frame.color)
        write_atomic(folder / f"frame_{frame_index:06d}.npz", _npz_bytes(
            depth=frame.depth.astype(np.float32), confidence=frame.confidence.astype(np.float16),
            invented=frame.invented, world_from_cam=frame.camera.world_from_cam, K=frame.camera.K))
        return png

    def generated_frame_paths(self) -> list[Path]:
        """PNG paths of every generated frame, in trajectory order."""
        out = []
        for seg in sorted(self.segments, key=lambda s: s.frame_start):
            out += sorted((self.root / seg.folder).glob("frame_*.png"))
        return out

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, root: Path | str, device=None, load_memory: bool = True) -> "Project":
        from engine.memory import GeometryMemory
        from engine.trajectory.nerfstudio_path import read_camera_path

        root = Path(root)
        if not root.is_dir():
            raise ProjectError(f"{root}: project folder does not exist")
        meta = read_json(root / "project.json")
        schema = meta.get("schema")
        if not isinstance(schema, int):
            raise ProjectError(f"{root / 'project.json'}: no schema version")
        if schema > SCHEMA_VERSION:
            raise ProjectError(f"{root / 'project.json'}: schema {schema} is newer than this version "
                               f"of AnyRecon Studio supports ({SCHEMA_VERSION}); please update")
        project = cls(root=root, name=meta.get("name", root.name), info=meta.get("info", {}),
                      created=meta.get("created", time.time()))
        project.views = _load_views(root)
        if load_memory and meta.get("memory"):
            try:
                project.memory = GeometryMemory.load(root / meta["memory"], device)
            except (ValueError, FileNotFoundError) as exc:
                raise ProjectError(str(exc)) from exc
        for name, rel in meta.get("trajectories", {}).items():
            try:
                project.trajectories[name] = read_camera_path(root / rel)
            except Exception as exc:
                raise ProjectError(f"{root / rel}: {exc}") from exc
        project.segments = [SegmentRecord(**s) for s in meta.get("segments", [])]
        return project


def _load_views(root: Path) -> ViewBank:
    cams_path = root / "cameras.json"
    data = read_json(cams_path)
    bank = ViewBank()
    try:
        frames = data["frames"]
        for f in frames:
            cam = Camera.from_dict(f)
            image = read_image(root / f["image"])
            depth = conf = completed = None
            if f.get("depth"):
                try:
                    with np.load(root / f["depth"]) as z:
                        depth = z["depth"]
                        conf = z["confidence"].astype(np.float32) if "confidence" in z else None
                        completed = z["completed"].astype(bool) if "completed" in z else None
                except (OSError, KeyError, ValueError) as exc:
                    raise ProjectError(f"{root / f['depth']}: damaged or missing depth ({exc})") from exc
            bank.add(CapturedView(cam, image, depth, conf, completed))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProjectError):
            raise
        raise ProjectError(f"{cams_path}: malformed camera list ({exc})") from exc
    return bank
