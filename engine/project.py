"""The project folder: a documented, schema-versioned on-disk format.

```
PROJECT/
  project.json        {"schema": 1, "app": "anyrecon-studio", "name", "created", "voxel_size",
                       "trajectories": {name: relative path}, "segments": [segment records], "info": {},
                       "scene_frame": {"up": [3], "roi": {"world_from_box": 4x4, "half_extent": [3]}}}
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
from engine.geometry.scene_frame import SceneFrame
from engine.ingest.views import CapturedView, ViewBank

SCHEMA_VERSION = 1
HOLDOUT_CAMERAS = "holdout_cameras.json"
HOLDOUT_IMAGES = "holdout"


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
    holdout: list[CapturedView] = field(default_factory=list)  # held-out views (imported datasets)
    scene_frame: SceneFrame | None = None   # world up and region of interest (None: not estimated yet)

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
        if self.holdout:
            self.write_holdout(self.holdout)
            self.info.setdefault("holdout", {}).update(cameras=HOLDOUT_CAMERAS, images=HOLDOUT_IMAGES)
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
        if self.scene_frame is not None:
            meta["scene_frame"] = self.scene_frame.to_dict()
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
            write_atomic(root / depth_rel, _npz_bytes(**arrays))
        d = view.camera.to_dict()
        d.update(image=image_rel, depth=depth_rel)
        return d

    # ------------------------------------------------------------------ generated frames
    def segment_folder(self, segment_id: int, staging: bool = False) -> Path:
        """Folder of a segment's frames; ``staging``: where a run writes them until complete."""
        name = f"seg_{segment_id:04d}"
        return self.root / "segments" / (f".staging_{name}" if staging else name)

    def write_generated_frame(self, segment_id: int, frame_index: int, frame, staging: bool = False) -> Path:
        """Store one generated frame (PNG + npz of depth/confidence/invented); returns the PNG."""
        folder = self.segment_folder(segment_id, staging)
        png = folder / f"frame_{frame_index:06d}.png"
        write_image(png, frame.color)
        write_atomic(folder / f"frame_{frame_index:06d}.npz", _npz_bytes(
            depth=frame.depth.astype(np.float32), confidence=frame.confidence.astype(np.float16),
            invented=frame.invented, world_from_cam=frame.camera.world_from_cam, K=frame.camera.K))
        return png

    def commit_segment_frames(self, segment_id: int) -> None:
        """A completed segment's staged frames replace the segment's earlier frames."""
        import shutil

        staged, final = self.segment_folder(segment_id, True), self.segment_folder(segment_id)
        if not staged.is_dir():
            return
        trash = final.with_name(f".trash_{final.name}")
        shutil.rmtree(trash, ignore_errors=True)
        if final.exists():
            final.rename(trash)
        staged.rename(final)
        shutil.rmtree(trash, ignore_errors=True)

    def remove_segment_frames(self, segment_id: int) -> None:
        """Delete a segment's frames (committed and staged)."""
        import shutil

        for staging in (False, True):
            shutil.rmtree(self.segment_folder(segment_id, staging), ignore_errors=True)

    def write_pending_frames(self, pending: dict) -> None:
        """Frames generated before the project had a folder: {segment_id: {index: frame}}."""
        for segment_id, frames in pending.items():
            for index, frame in frames.items():
                self.write_generated_frame(segment_id, index, frame)

    def generated_frame_paths(self) -> list[Path]:
        """PNG paths of every generated frame, in trajectory order."""
        return [png for _, _, png in self.generated_frames()]

    def generated_frames(self, trajectory: str | None = None) -> list[tuple[int, int, Path]]:
        """(segment id, frame index, PNG path) of every generated frame on disk (of one path, or
        all), in trajectory order. The one reader of the segment folder layout."""
        out = []
        for seg in sorted(self.segments, key=lambda s: s.frame_start):
            if trajectory is not None and seg.trajectory != trajectory:
                continue
            for png in sorted(self.segment_folder(seg.segment_id).glob("frame_*.png")):
                try:
                    out.append((seg.segment_id, int(png.stem.split("_")[1]), png))
                except (IndexError, ValueError):
                    continue
        return out

    # ------------------------------------------------------------------ holdout
    def write_holdout(self, views) -> None:
        """Held-out views of an imported dataset (never fused): cameras + images."""
        write_json_atomic(self.root / HOLDOUT_CAMERAS, {"frames": [v.camera.to_dict() for v in views]})
        for v in views:
            write_image(self.root / HOLDOUT_IMAGES / f"{v.name}.png", v.image)

    def read_holdout(self) -> list[CapturedView]:
        """Held-out views (camera + image), [] when the project has none."""
        path = self.root / HOLDOUT_CAMERAS
        if not path.exists():
            return []
        out = []
        for f in read_json(path).get("frames", []):
            cam = Camera.from_dict(f)
            out.append(CapturedView(cam, read_image(self.root / HOLDOUT_IMAGES / f"{cam.name}.png")))
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
        if meta.get("scene_frame") is not None:
            try:
                project.scene_frame = SceneFrame.from_dict(meta["scene_frame"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ProjectError(f"{root / 'project.json'}: {exc}") from exc
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
            depth = conf = None
            if f.get("depth"):
                try:
                    with np.load(root / f["depth"]) as z:
                        depth = z["depth"]
                        conf = z["confidence"].astype(np.float32) if "confidence" in z else None
                except (OSError, KeyError, ValueError) as exc:
                    raise ProjectError(f"{root / f['depth']}: damaged or missing depth ({exc})") from exc
            bank.add(CapturedView(cam, image, depth, conf))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProjectError):
            raise
        raise ProjectError(f"{cams_path}: malformed camera list ({exc})") from exc
    return bank
