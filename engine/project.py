"""The project folder: a documented, schema-versioned on-disk format.

```
PROJECT/
  project.json        {"schema": 1, "app": "anyrecon-studio", "id", "name", "created", "voxel_size",
                       "memory": "memory.npz" | null,
                       "trajectories": {name: relative path}, "segments": [segment records], "info": {},
                       "scene_frame": {"up": [3], "roi": {"world_from_box": 4x4, "half_extent": [3]}}}
  cameras.json        {"frames": [{"name", "image", "depth", "width", "height",
                                   "K": 3x3 pixels, "world_from_cam": 4x4 OpenCV axes}]}
  images/NAME.png     captured keyframes (RGB)
  depth/NAME.npz      "depth" [H,W] float32 z-depth in meters (0 unknown), optional "confidence"
  memory.npz          the geometry memory (engine/memory/persist.py)
  trajectories/*.json camera paths in nerfstudio camera_path.json format
  segments/seg_NNNN/  generated frames: frame_NNNNNN.png (+ .npz with depth, confidence, invented)
  holdout_cameras.json, holdout/NAME.png   held-out views of an imported dataset
```

Saving is a transaction (engine.transaction): every new file is written under
``.txn-ID/``, fsync'ed, and made current by one rename of a journal, so a kill at any instant
leaves the previous project or the new one, never a mix; opening a folder completes or drops
an interrupted save and removes stale temporary files. Generated frames are written while a
run goes (``segments/.staging_seg_NNNN-PID``) and replace a segment's folder when the
segment is complete; the folder they replaced is kept (``.previous_seg_NNNN-PID``) until
the next save commits, and put back when the process dies first.

Every file name read from ``project.json`` / ``cameras.json`` must stay inside the folder
(relative, no ``..``, no symlink out); names are made safe file names on write. Opening a
newer schema, or a damaged, missing or inconsistent file, raises ``ProjectError`` naming the
file. Saving into a folder that holds another project (or other files) is refused unless
``overwrite`` is asked (:func:`check_destination`).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
import os
import re
import shutil
import struct
import time
import uuid
import weakref
from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from engine.atomic_io import pid_alive, remove_stale_temps, write_atomic
from engine.geometry import Camera
from engine.geometry.scene_frame import SceneFrame
from engine.ingest.views import CapturedView, ViewBank
from engine.safepath import UnsafePathError, ensure_inside, resolve_inside, safe_stem, unique_stems
from engine.transaction import SaveTransaction, TransactionError, recover

SCHEMA_VERSION = 1
HOLDOUT_CAMERAS = "holdout_cameras.json"
HOLDOUT_IMAGES = "holdout"
MAX_FRAME_INDEX = 10_000_000
# what a project owns in its folder (removed when another project replaces it)
OWNED = ("project.json", "cameras.json", "images", "depth", "memory.npz", "trajectories", "segments",
         HOLDOUT_CAMERAS, HOLDOUT_IMAGES, "splats")
_SEGMENT_DIR = re.compile(r"^seg_(\d{4,})$")
_SIDE_DIR = re.compile(r"^\.(staging|previous|trash)_seg_(\d{4,})(?:-(\d+))?$")


class ProjectError(ValueError):
    """A project folder cannot be read or written; the message names the file."""


class DestinationOccupied(ProjectError):
    """The save folder holds another project (or other files): nothing was written; the user
    may choose another folder or ask to replace it (``--overwrite``, the studio's question)."""


def write_json_atomic(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1, allow_nan=False).encode())


def read_json(path: Path):
    if not path.exists():
        raise ProjectError(f"{path}: file is missing")
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ProjectError(f"{path}: damaged JSON ({exc})") from exc


FAST_PNG_LEVEL = 1   # zlib level of frames written while generating (OpenCV's default 3 took ~2x as long)


def write_image(path: Path, image: np.ndarray, png_level: int | None = None) -> None:
    """RGB uint8 or float [0,1] [H,W,3] -> PNG (atomic); ``png_level``: zlib level 0-9
    (None: OpenCV's default 3)."""
    if image.dtype != np.uint8:
        image = (np.clip(np.nan_to_num(image), 0, 1) * 255 + 0.5).astype(np.uint8)
    params = [] if png_level is None else [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ProjectError(f"{path}: could not encode image")
    write_atomic(path, buf.tobytes())


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG header, None when the file is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def read_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """-> RGB uint8 [H,W,3]; ``size`` (width, height) is checked before decoding."""
    if size is not None:
        head = _png_size(path)
        if head is not None and head != tuple(size):
            raise ProjectError(f"{path}: image is {head[0]}x{head[1]} pixels, its camera says {size[0]}x{size[1]}")
    try:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except (cv2.error, OSError) as exc:
        raise ProjectError(f"{path}: unreadable image ({exc})") from exc
    if img is None:
        raise ProjectError(f"{path}: missing or unreadable image")
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        raise ProjectError(f"{path}: image is {img.shape[1]}x{img.shape[0]} pixels, "
                           f"its camera says {size[0]}x{size[1]}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _npz_bytes(compress: bool = True, **arrays) -> bytes:
    import io

    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


@contextmanager
def _named_by(source: Path, index: int | None = None):
    """A ProjectError about a file that ``source`` names also names ``source`` (a damaged
    reference in it, e.g. a mistyped file name, is found there)."""
    try:
        yield
    except ProjectError as exc:
        if source.name in str(exc):
            raise
        where = f"{source}" + ("" if index is None else f", frame {index}")
        raise ProjectError(f"{exc} (named by {where})") from exc


def _read_npz(path: Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """Arrays of an .npz; any decoding failure is a ProjectError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: np.asarray(z[k]) for k in keys}
            out.update({k: np.asarray(z[k]) for k in optional if k in z.files})
            return out
    except FileNotFoundError as exc:
        raise ProjectError(f"{path}: file is missing") from exc
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, ValueError, KeyError, MemoryError...
        raise ProjectError(f"{path}: damaged or truncated file ({type(exc).__name__}: {exc})") from exc


@dataclass
class SegmentRecord:
    segment_id: int
    trajectory: str
    frame_start: int
    frame_stop: int
    reference_view_ids: list[int] = field(default_factory=list)
    status: str = "done"

    @classmethod
    def from_dict(cls, d, where: str) -> "SegmentRecord":
        """A record of project.json, every field checked; ProjectError names ``where``."""
        if not isinstance(d, dict):
            raise ProjectError(f"{where}: a segment record is {type(d).__name__}, not an object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ProjectError(f"{where}: segment record has unknown key(s) {', '.join(map(repr, unknown))}")
        missing = sorted({"segment_id", "trajectory", "frame_start", "frame_stop"} - set(d))
        if missing:
            raise ProjectError(f"{where}: segment record lacks {', '.join(missing)}")
        ints = [d["segment_id"], d["frame_start"], d["frame_stop"], *d.get("reference_view_ids", [])] \
            if isinstance(d.get("reference_view_ids", []), list) else None
        if ints is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
            raise ProjectError(f"{where}: segment record has non-integer ids or frame numbers: {d!r:.200}")
        if not (0 <= d["segment_id"] <= 9999_9999 and 0 <= d["frame_start"] <= d["frame_stop"] <= MAX_FRAME_INDEX):
            raise ProjectError(f"{where}: segment record out of range: {d!r:.200}")
        if not isinstance(d["trajectory"], str) or not isinstance(d.get("status", "done"), str):
            raise ProjectError(f"{where}: segment record trajectory / status must be text")
        return cls(**d)


def check_destination(root: Path | str, project_id: str | None = None, overwrite: bool = False) -> bool:
    """Check, before any long work, that a project can be saved to ``root``: a new or empty
    folder, the folder of the same project (``project_id``), or (``overwrite``) a folder whose
    project is to be replaced wholly; and that it is writable. Returns True when another
    project will be replaced. Raises ProjectError saying what to do."""
    root = Path(root)
    replacing = False
    if os.path.lexists(root):
        if not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a folder")
        try:
            entries = os.listdir(root)
        except OSError as exc:
            raise ProjectError(f"{root}: cannot be read ({exc.strerror})") from exc
        # leftovers of an interrupted first save (hidden files, generated frames) do not count
        if [e for e in entries if not e.startswith(".") and e != "segments"] or "project.json" in entries:
            existing = _folder_project_id(root)
            if existing is None or project_id is None or existing != project_id:
                if not overwrite:
                    what = ("holds another AnyRecon project" if "project.json" in entries
                            else "is not empty and is not an AnyRecon project")
                    raise DestinationOccupied(f"{root}: {what}; choose a new folder, or overwrite it "
                                       f"(--overwrite replaces the project there wholly)")
                replacing = True
        if not os.access(root, os.W_OK | os.X_OK):
            raise ProjectError(f"{root}: the folder is not writable")
    else:
        parent = root.parent
        while not os.path.lexists(parent) and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise ProjectError(f"{root}: cannot be created ({parent} is not a folder)")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ProjectError(f"{root}: cannot be created, {parent} is not writable")
    return replacing


def _folder_project_id(root: Path) -> str | None:
    """The id of the project in ``root`` ("legacy:PATH" for one saved without an id), None
    when the folder holds no readable project."""
    try:
        meta = json.loads((root / "project.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict):
        return None
    pid = meta.get("id")
    return pid if isinstance(pid, str) and pid else f"legacy:{root.resolve()}"


@dataclass
class Project:
    """An open project. ``root`` is its folder; ``memory`` is a GeometryMemory or None;
    ``id`` identifies the project across saves (a folder holding another id is not
    overwritten unless asked)."""

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
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # (resolved folder, {relative image path: weakref of the array written there}): what is
    # known to be on disk already, so unchanged images are not rewritten
    _disk: tuple | None = field(default=None, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ save
    def save(self, root: Path | str | None = None, overwrite: bool = False, as_copy: bool = False,
             pending_frames: dict | None = None) -> Path:
        """Write the project to ``root`` (default: its folder) as one transaction. ``overwrite``:
        replace another project there; ``as_copy``: write a copy and stay with the own folder
        (autosave); ``pending_frames``: frames generated before the project had a folder
        ({segment_id: {index: frame}}), written first. Generated frames and held-out views
        come from the folder the project was opened from / last saved to."""
        from engine.trajectory.nerfstudio_path import write_camera_path

        root = Path(root or self.root)
        replacing = check_destination(root, self.id, overwrite)
        try:
            root.mkdir(parents=True, exist_ok=True)
            recover(root, self._temp_folders(root))
        except TransactionError as exc:
            raise ProjectError(str(exc)) from exc
        if pending_frames:
            own, self.root = self.root, root
            try:
                self.write_pending_frames(pending_frames)
            finally:
                self.root = own
        source = self._disk[0] if self._disk else None
        same = source is not None and source == root.resolve()
        written: dict[str, np.ndarray] = {}
        for i, v in enumerate(self.views):
            try:
                v.camera.validate()
            except ValueError as exc:
                raise ProjectError(f"{root / 'cameras.json'}: view {i} cannot be saved: {exc}") from exc
        with SaveTransaction(root) as txn:
            stems = unique_stems([v.name for v in self.views], "frame")
            frames = [self._save_view(txn, v, stem, written) for v, stem in zip(self.views, stems)]
            write_json_atomic(txn.staged("cameras.json"), {"frames": frames})
            if self.memory is not None:
                self.memory.save(txn.staged("memory.npz"))
            elif os.path.lexists(root / "memory.npz"):
                txn.delete("memory.npz")
            holdout = self._save_holdout(txn, source, same, replacing)
            if holdout:
                self.info.setdefault("holdout", {}).update(cameras=HOLDOUT_CAMERAS, images=HOLDOUT_IMAGES)
            paths = {}
            for (name, traj), stem in zip(self.trajectories.items(), unique_stems(self.trajectories, "path")):
                rel = f"trajectories/{stem}.json"
                write_camera_path(txn.staged(rel), traj)
                paths[name] = rel
            self._save_segments(txn, source, same)
            _delete_unreferenced(txn, root, "images", set(written) | {f["image"] for f in frames})
            _delete_unreferenced(txn, root, "depth", {f["depth"] for f in frames if f["depth"]})
            _delete_unreferenced(txn, root, "trajectories", set(paths.values()))
            if replacing and os.path.lexists(root / "splats"):
                txn.delete("splats")
            meta = {"schema": SCHEMA_VERSION, "app": "anyrecon-studio", "id": self.id, "name": self.name,
                    "created": self.created, "saved": time.time(),
                    "voxel_size": getattr(self.memory, "voxel_size", None),
                    "memory": "memory.npz" if self.memory is not None else None,
                    "trajectories": paths, "segments": [dict(s.__dict__) for s in self.segments],
                    "info": self.info}
            if self.scene_frame is not None:
                meta["scene_frame"] = self.scene_frame.to_dict()
            write_json_atomic(txn.staged("project.json"), _finite_json(meta, root / "project.json"))
            txn.commit()
        if not as_copy:
            self.root = root
            self._remember(root, {rel: v.image for rel, v in zip((f["image"] for f in frames), self.views)})
        return root

    def _remember(self, root: Path, images: dict) -> None:
        self._disk = (Path(root).resolve(), {rel: weakref.ref(a) for rel, a in images.items()
                                             if isinstance(a, np.ndarray)})

    def _on_disk(self, root: Path, rel: str, image) -> bool:
        if self._disk is None or self._disk[0] != root.resolve():
            return False
        ref = self._disk[1].get(rel)
        return ref is not None and ref() is image and (root / rel).is_file()

    def _save_view(self, txn: SaveTransaction, view: CapturedView, stem: str, written: dict) -> dict:
        name = stem
        image_rel = f"images/{name}.png"
        if not self._on_disk(txn.root, image_rel, view.image):
            write_image(txn.staged(image_rel), view.image)
        written[image_rel] = view.image
        depth_rel = None
        if view.depth is not None:
            depth_rel = f"depth/{name}.npz"
            arrays = {"depth": view.depth.astype(np.float32)}
            if view.confidence is not None:
                arrays["confidence"] = view.confidence.astype(np.float16)
            if view.completed is not None:
                arrays["completed"] = view.completed.astype(bool)
            write_atomic(txn.staged(depth_rel), _npz_bytes(**arrays))
        d = view.camera.to_dict()
        d.update(image=image_rel, depth=depth_rel)
        return d

    def _save_holdout(self, txn: SaveTransaction, source: Path | None, same: bool, replacing: bool) -> bool:
        """Held-out views: written when the project has them in memory, carried over from the
        source folder on a save elsewhere, left alone in the own folder. True when any."""
        root = txn.root
        if self.holdout:
            stems = unique_stems([v.name for v in self.holdout], "holdout")
            frames = []
            for v, stem in zip(self.holdout, stems):
                rel = f"{HOLDOUT_IMAGES}/{stem}.png"
                write_image(txn.staged(rel), v.image)
                frames.append(dict(v.camera.to_dict(), image=rel))
            write_json_atomic(txn.staged(HOLDOUT_CAMERAS), {"frames": frames})
            _delete_unreferenced(txn, root, HOLDOUT_IMAGES, {f["image"] for f in frames})
            return True
        if same:
            return (root / HOLDOUT_CAMERAS).exists()
        if source is not None and (source / HOLDOUT_CAMERAS).is_file():
            txn.copy_in(HOLDOUT_CAMERAS, source / HOLDOUT_CAMERAS)
            if (source / HOLDOUT_IMAGES).is_dir():
                txn.copy_in(HOLDOUT_IMAGES, source / HOLDOUT_IMAGES)
            return True
        for rel in (HOLDOUT_CAMERAS, HOLDOUT_IMAGES):
            if os.path.lexists(root / rel):
                txn.delete(rel)
        return False

    def _save_segments(self, txn: SaveTransaction, source: Path | None, same: bool) -> None:
        """Listed segments' frames: in the own folder they are in place (the kept previous
        folders go); elsewhere they are copied from the source. Unlisted segment folders go."""
        root = txn.root
        listed = {s.segment_id for s in self.segments}
        if not same and source is not None:
            for sid in sorted(listed):
                src = source / "segments" / f"seg_{sid:04d}"
                if src.is_dir() and not src.is_symlink():
                    txn.copy_in(f"segments/seg_{sid:04d}", src)
        try:
            entries = list(os.scandir(root / "segments"))
        except OSError:
            return
        for e in entries:
            m, side = _SEGMENT_DIR.match(e.name), _SIDE_DIR.match(e.name)
            if m and (int(m.group(1)) not in listed or e.is_symlink()):
                txn.delete(f"segments/{e.name}")
            elif side and side.group(1) == "previous" and (
                    side.group(3) is None or int(side.group(3)) == os.getpid() or not pid_alive(int(side.group(3)))):
                txn.delete(f"segments/{e.name}")

    def _temp_folders(self, root: Path) -> list[Path]:
        out = [root / d for d in ("images", "depth", "trajectories", HOLDOUT_IMAGES, "segments")]
        seg = root / "segments"
        if seg.is_dir():
            out += [Path(e.path) for e in os.scandir(seg) if e.is_dir(follow_symlinks=False)]
        return out

    # ------------------------------------------------------------------ generated frames
    def segment_folder(self, segment_id: int, staging: bool = False) -> Path:
        """Folder of a segment's frames; ``staging``: where this process writes them until complete."""
        name = f"seg_{int(segment_id):04d}"
        return self.root / "segments" / (f".staging_{name}-{os.getpid()}" if staging else name)

    def _previous_folder(self, segment_id: int) -> Path:
        return self.root / "segments" / f".previous_seg_{int(segment_id):04d}-{os.getpid()}"

    def write_generated_frame(self, segment_id: int, frame_index: int, frame, staging: bool = False,
                              fast: bool = False) -> Path:
        """Store one generated frame (PNG + npz of depth float32, confidence float16, invented,
        camera); returns the PNG. ``fast`` (the Generate workflow while frames stream): PNG at
        zlib level :data:`FAST_PNG_LEVEL` and an uncompressed npz, ~30x less zlib time for
        ~2.8x the npz size (896x512: 2.8 MB instead of ~1 MB); both decode to the same arrays."""
        folder = self.segment_folder(segment_id, staging)
        png = folder / f"frame_{frame_index:06d}.png"
        write_image(png, frame.color, FAST_PNG_LEVEL if fast else None)
        write_atomic(folder / f"frame_{frame_index:06d}.npz", _npz_bytes(
            compress=not fast, depth=frame.depth.astype(np.float32), confidence=frame.confidence.astype(np.float16),
            invented=frame.invented, world_from_cam=frame.camera.world_from_cam, K=frame.camera.K))
        return png

    def _set_aside(self, segment_id: int) -> None:
        """Move the segment's current folder out of the way; the saved version is kept (put
        back if this process dies before the next save), a newer unsaved one is dropped."""
        final, prev = self.segment_folder(segment_id), self._previous_folder(segment_id)
        if not os.path.lexists(final):
            return
        if os.path.lexists(prev):
            trash = final.with_name(f".trash_{final.name}-{os.getpid()}")
            shutil.rmtree(trash, ignore_errors=True)
            final.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            final.rename(prev)

    def commit_segment_frames(self, segment_id: int) -> None:
        """A completed segment's staged frames replace the segment's earlier frames (those
        stay recoverable until the next save)."""
        staged, final = self.segment_folder(segment_id, True), self.segment_folder(segment_id)
        if not staged.is_dir():
            return
        self._set_aside(segment_id)
        staged.rename(final)

    def remove_segment_frames(self, segment_id: int) -> None:
        """Drop a segment's frames (staged ones at once; committed ones until the next save)."""
        shutil.rmtree(self.segment_folder(segment_id, True), ignore_errors=True)
        self._set_aside(segment_id)

    def write_pending_frames(self, pending: dict) -> None:
        """Frames generated before the project had a folder: {segment_id: {index: frame}}."""
        for segment_id, frames in pending.items():
            for index, frame in frames.items():
                self.write_generated_frame(segment_id, index, frame, staging=True)
            self.commit_segment_frames(segment_id)

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
            folder = self.segment_folder(seg.segment_id)
            try:
                ensure_inside(self.root, folder, "generated frames")
            except UnsafePathError:
                continue
            for png in sorted(folder.glob("frame_*.png")):
                try:
                    out.append((seg.segment_id, int(png.stem.split("_")[1]), png))
                except (IndexError, ValueError):
                    continue
        return out

    # ------------------------------------------------------------------ holdout
    def read_holdout(self) -> list[CapturedView]:
        """Held-out views (camera + image), [] when the project has none."""
        path = self.root / HOLDOUT_CAMERAS
        if not path.exists():
            return []
        data = read_json(path)
        frames = data.get("frames") if isinstance(data, dict) else None
        if not isinstance(frames, list):
            raise ProjectError(f"{path}: no frame list")
        out = []
        for i, f in enumerate(frames):
            cam = _camera(f, path, i)
            rel = f.get("image") or f"{HOLDOUT_IMAGES}/{safe_stem(cam.name, 'holdout')}.png"
            with _named_by(path, i):
                out.append(CapturedView(cam, read_image(_inside(self.root, rel, path, i), (cam.width, cam.height))))
        return out

    # ------------------------------------------------------------------ load
    @classmethod
    def load(cls, root: Path | str, device=None, load_memory: bool = True) -> "Project":
        """Open a project folder (completing or dropping an interrupted save first). Raises
        ProjectError naming the file for anything missing, damaged or unsafe."""
        root = Path(root)
        if not root.is_dir():
            raise ProjectError(f"{root}: project folder does not exist")
        try:
            _recover_folder(root)
        except TransactionError as exc:
            raise ProjectError(str(exc)) from exc
        except OSError as exc:
            raise ProjectError(f"{root}: an interrupted save could not be completed ({exc})") from exc
        try:
            return cls._load(root, device, load_memory)
        except ProjectError:
            raise
        except (UnsafePathError, OSError, RecursionError, MemoryError) as exc:
            raise ProjectError(f"{root}: {exc}") from exc

    @classmethod
    def _load(cls, root: Path, device, load_memory: bool) -> "Project":
        from engine.trajectory.nerfstudio_path import read_camera_path

        meta_path = root / "project.json"
        meta = _read_meta(meta_path)
        project = cls(root=root, name=meta.get("name", root.name), info=meta.get("info", {}),
                      created=meta.get("created", time.time()),
                      id=meta.get("id") or f"legacy:{root.resolve()}")
        images: dict = {}
        project.views = _load_views(root, images)
        memory_rel = meta.get("memory")
        if load_memory and memory_rel:
            with _named_by(meta_path):
                project.memory = _load_memory(_inside(root, memory_rel, meta_path), device)
        for name, rel in meta.get("trajectories", {}).items():
            path = _inside(root, rel, meta_path)
            try:
                project.trajectories[name] = read_camera_path(path)
            except Exception as exc:
                raise ProjectError(f"{path}: {exc} (named by {meta_path})") from exc
        project.segments = [SegmentRecord.from_dict(s, str(meta_path)) for s in meta.get("segments", [])]
        ids = [s.segment_id for s in project.segments]
        if len(set(ids)) != len(ids):
            raise ProjectError(f"{meta_path}: segment ids repeat ({ids})")
        if meta.get("scene_frame") is not None:
            try:
                project.scene_frame = SceneFrame.from_dict(meta["scene_frame"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ProjectError(f"{meta_path}: {exc}") from exc
        project._remember(root, images)
        return project


def _recover_folder(root: Path) -> None:
    """Complete or drop an interrupted save, put back the segment folders of a generation
    that died before it was saved, remove leftovers of dead processes."""
    seg = root / "segments"
    folders = [root / d for d in ("images", "depth", "trajectories", HOLDOUT_IMAGES, "splats")]
    recover(root, folders)
    if not seg.is_dir() or seg.is_symlink():
        return
    remove_stale_temps(seg)
    for e in sorted(os.scandir(seg), key=lambda e: e.name):
        m = _SIDE_DIR.match(e.name)
        if e.is_dir(follow_symlinks=False):
            remove_stale_temps(e.path)
        if not m:
            continue
        kind, sid, pid = m.group(1), m.group(2), m.group(3)
        if pid is not None and (int(pid) == os.getpid() or pid_alive(int(pid))):
            continue                                     # a live process's work in progress
        path = Path(e.path)
        if kind == "previous":
            final = seg / f"seg_{sid}"
            if os.path.lexists(final):
                trash = seg / f".trash_seg_{sid}-0"
                shutil.rmtree(trash, ignore_errors=True)
                os.replace(final, trash)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(path, final)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _delete_unreferenced(txn: SaveTransaction, root: Path, folder: str, keep: set) -> None:
    """Files of ``root/folder`` the new project does not reference go with the save."""
    try:
        entries = list(os.scandir(root / folder))
    except OSError:
        return
    for e in entries:
        rel = f"{folder}/{e.name}"
        if rel not in keep and not e.name.startswith("."):
            txn.delete(rel)


def _finite_json(obj, where: Path):
    """``obj`` as strict JSON data (JSON has no NaN): a non-finite number in the free-form
    ``info`` becomes null (a timing that was never measured); anywhere else it is a
    ProjectError."""
    def walk(o, key, lenient):
        if isinstance(o, float) and not np.isfinite(o):
            if lenient:
                return None
            raise ProjectError(f"{where}: {key} is {o}; refusing to write a non-finite number")
        if isinstance(o, dict):
            return {k: walk(v, k, lenient or k == "info") for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v, key, lenient) for v in o]
        if isinstance(o, np.generic):
            return walk(o.item(), key, lenient)
        return o
    return walk(obj, "value", False)


def _inside(root: Path, rel, source: Path, index: int | None = None) -> Path:
    """``root / rel`` for a path read from ``source``; ProjectError when it leads outside."""
    where = f"{source}" + (f": frame {index}" if index is not None else "")
    try:
        return resolve_inside(root, rel, where)
    except UnsafePathError as exc:
        raise ProjectError(str(exc)) from exc


def _read_meta(path: Path) -> dict:
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise ProjectError(f"{path}: expected a JSON object, found {type(meta).__name__}")
    schema = meta.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise ProjectError(f"{path}: no schema version")
    if schema > SCHEMA_VERSION:
        raise ProjectError(f"{path}: schema {schema} is newer than this version "
                           f"of AnyRecon Studio supports ({SCHEMA_VERSION}); please update")
    kinds = {"name": str, "info": dict, "trajectories": dict, "segments": list, "id": str,
             "created": (int, float), "memory": (str, type(None))}
    for key, kind in kinds.items():
        if key in meta and not isinstance(meta[key], kind):
            raise ProjectError(f"{path}: {key!r} has the wrong type ({type(meta[key]).__name__})")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.get("trajectories", {}).items()):
        raise ProjectError(f"{path}: trajectories must map names to relative paths")
    if isinstance(meta.get("created"), float) and not np.isfinite(meta["created"]):
        meta["created"] = time.time()
    return meta


def _camera(f, source: Path, index: int) -> Camera:
    if not isinstance(f, dict):
        raise ProjectError(f"{source}: frame {index} is not an object")
    try:
        return Camera.from_dict(f)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProjectError(f"{source}: frame {index}: bad camera ({exc})") from exc


def _load_memory(path: Path, device):
    from engine.memory import GeometryMemory

    try:
        return GeometryMemory.load(path, device)
    except FileNotFoundError as exc:
        raise ProjectError(f"{path}: file is missing") from exc
    except Exception as exc:   # persist turns decoding failures into ValueError; be safe for the rest
        msg = str(exc)
        raise ProjectError(msg if str(path) in msg else f"{path}: damaged memory file ({exc})") from exc


def _load_views(root: Path, images: dict | None = None) -> ViewBank:
    """The captured views of cameras.json; ``images`` gets {relative image path: array}."""
    cams_path = root / "cameras.json"
    data = read_json(cams_path)
    bank = ViewBank()
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list):
        raise ProjectError(f"{cams_path}: malformed camera list (no \"frames\" list)")
    for i, f in enumerate(frames):
        cam = _camera(f, cams_path, i)
        size = (cam.width, cam.height)
        try:
            image = read_image(_inside(root, f.get("image"), cams_path, i), size)
        except ProjectError as exc:
            if cams_path.name in str(exc):
                raise
            raise ProjectError(f"{exc} (named by {cams_path}, frame {i})") from exc
        if images is not None:
            images[str(f["image"])] = image
        depth = conf = completed = None
        if f.get("depth"):
            depth_path = _inside(root, f["depth"], cams_path, i)
            try:
                z = _read_npz(depth_path, ("depth",), ("confidence", "completed"))
            except ProjectError as exc:
                raise ProjectError(f"{exc} (named by {cams_path}, frame {i})") from exc
            depth = z["depth"]
            conf = z["confidence"].astype(np.float32) if "confidence" in z else None
            completed = z["completed"] if "completed" in z else None
            for label, a in (("depth", depth), ("confidence", conf)):
                if a is not None and (a.shape != image.shape[:2] or a.dtype.kind != "f"):
                    raise ProjectError(f"{depth_path}: {label} is {a.dtype} {a.shape}, expected float "
                                       f"{image.shape[:2]} like its image")
            if completed is not None:
                if completed.shape != image.shape[:2]:
                    raise ProjectError(f"{depth_path}: completed is {completed.shape}, expected {image.shape[:2]}")
                completed = completed.astype(bool)
        bank.add(CapturedView(cam, image, depth, conf, completed))
    return bank
