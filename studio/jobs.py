"""Engine jobs the studio submits to the Session (Qt-free; they run on the engine thread).

Each ``*_job(...)`` returns ``fn(state, cancel)``: a generator of engine events whose return
value becomes ``JobFinished.result`` (a small typed dataclass, plain data only).
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.events import CamerasChanged, MemoryChanged, Progress

DEMO_VOXEL = 0.05


def studio_demo_options(num_views: int = 12, width: int = 192, height: int = 108, stride: int = 2,
                        voxel_size: float = DEMO_VOXEL, seed: int = 0):
    """The studio's demo: engine.demo's options at a size llvmpipe draws smoothly."""
    from engine.demo import DemoOptions

    return DemoOptions(num_views=num_views, width=width, height=height, stride=stride,
                       voxel_size=voxel_size, seed=seed)


@dataclass(frozen=True)
class SceneLoaded:
    """Result of a job that replaced the scene: what the GUI needs to redraw it."""

    name: str
    root: str | None
    num_views: int
    num_points: int
    trajectories: dict = field(default_factory=dict)   # name -> engine Trajectory
    segments: list = field(default_factory=list)       # [SegmentRecord]
    generated: dict = field(default_factory=dict)      # frame index -> color uint8 [h,w,3]
    note: str = ""


def thumbnail(image: np.ndarray, height: int = 36) -> np.ndarray:
    """[H,W,3] uint8 or float -> small uint8 copy of the given height (aspect kept)."""
    import cv2

    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    h, w = image.shape[:2]
    width = max(1, int(round(w * height / h)))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _fresh_state(state, voxel_size: float, name: str, root: Path | None):
    from engine.ingest.views import ViewBank
    from engine.memory import GeometryMemory
    from engine.project import Project

    state.memory = GeometryMemory(voxel_size)
    state.views = ViewBank()
    state.project = Project(root=root or Path("."), name=name, views=state.views, memory=state.memory)
    state.extras["has_root"] = root is not None


def _insert_view(state, view, stride: int, view_total: int, started: float, done: int, label: str):
    """Add a CapturedView and fuse its depth; yields CamerasChanged, MemoryChanged, Progress."""
    vid = state.views.add(view)
    before = state.memory.version
    if view.depth is not None:
        state.memory.insert_depth(view.camera, view.depth, view.image, view.confidence, view=vid, stride=stride)
    yield CamerasChanged(tuple(state.views.cameras))
    if state.memory.version != before:
        yield MemoryChanged(state.memory.version, len(state.memory), state.memory.changes_since(before))
    elapsed = time.perf_counter() - started
    yield Progress(done / view_total, f"{label}: view {done}/{view_total}", elapsed / done * (view_total - done))


def demo_job(options=None):
    """The built-in demo: synthetic captured views inserted one by one, memory growing live."""
    options = options or studio_demo_options()

    def job(state, cancel):
        from engine import demo

        _fresh_state(state, options.voxel_size, "demo", None)
        started = time.perf_counter()
        for i, (view, _) in enumerate(demo.demo_views(options)):
            cancel.raise_if_cancelled()
            yield from _insert_view(state, view, options.stride, options.num_views, started, i + 1, "demo scene")
        return SceneLoaded("demo", None, len(state.views), len(state.memory),
                           note="synthetic demo scene (exact depth)")
    return job


def demo_video_job(video: Path, options=None):
    """A synthetic demo video with its ``<stem>_cameras.json``: decoded frames with the
    ground-truth cameras and the synthetic scene's depth (used when engine.tracking is absent)."""
    options = options or studio_demo_options()

    def job(state, cancel):
        from engine.ingest.views import CapturedView
        from engine.synthetic import make_demo_scene, read_demo_cameras

        cams = read_demo_cameras(video)
        frames = decode_video(video, max_frames=len(cams))
        if not frames:
            raise ValueError(f"{video.name}: no frames could be decoded")
        _fresh_state(state, options.voxel_size, video.stem, None)
        scene = make_demo_scene(options.seed)
        picks = np.unique(np.linspace(0, min(len(cams), len(frames)) - 1, options.num_views).round().astype(int))
        started = time.perf_counter()
        for n, i in enumerate(picks):
            cancel.raise_if_cancelled()
            cam = cams[i]
            factor = options.width / cam.width
            small = cam.scaled(factor)
            image = _resize(frames[i], small.width, small.height)
            depth = scene.render(small).depth
            depth = np.where(np.isfinite(depth), depth, 0).astype(np.float32)
            yield from _insert_view(state, CapturedView(small, image, depth), options.stride, len(picks),
                                    started, n + 1, video.name)
        return SceneLoaded(video.stem, None, len(state.views), len(state.memory),
                           note="demo video: ground-truth cameras (tracking module not installed)")
    return job


def tracked_scene_job(path: Path, track_job):
    """Wrap the tracking module's job: stream its events, then make the result the open
    project (the engine state is replaced only when tracking succeeded)."""
    def job(state, cancel):
        from engine.project import Project

        scratch = type(state)()                 # tracking fills a scratch state first
        result = yield from _forward(track_job(path)(scratch, cancel))
        state.views, state.memory = scratch.views, scratch.memory
        state.project = Project(root=Path("."), name=Path(path).stem, views=state.views, memory=state.memory)
        state.extras["has_root"] = False
        state.extras.pop("generated", None)
        yield CamerasChanged(tuple(state.views.cameras))
        yield MemoryChanged(state.memory.version, len(state.memory), state.memory.changes_since(0))
        warnings = "; ".join(getattr(result, "warnings", []) or [])
        return SceneLoaded(Path(path).stem, None, len(state.views), len(state.memory), note=warnings)
    return job


def register_photos_job(paths: list[Path]):
    """Read photos (on the engine thread) and register them into the open scene with
    engine.tracking.localize; returns the engine's list of Registration."""
    def job(state, cancel):
        from engine.tracking.localize import read_photos, register_photos_job as engine_job

        frames, _ = read_photos(paths)
        if not frames:
            raise ValueError("none of the dropped photos could be read")
        return (yield from engine_job(frames)(state, cancel))
    return job


def _forward(events):
    """yield from a job generator, dropping its snapshot-less MemoryChanged (delta None):
    the wrapper sends a full delta at the end."""
    try:
        event = next(events)
        while True:
            if not (isinstance(event, MemoryChanged) and event.delta is None):
                yield event
            event = next(events)
    except StopIteration as stop:
        return stop.value


def decode_video(path: Path, max_frames: int = 100000) -> list[np.ndarray]:
    """RGB uint8 frames of a video (PyAV); raises ValueError naming the file when broken."""
    import av

    try:
        with av.open(str(path)) as container:
            out = []
            for frame in container.decode(video=0):
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) >= max_frames:
                    break
            return out
    except (av.error.FFmpegError, IndexError, StopIteration) as exc:
        raise ValueError(f"{path.name}: not a readable video ({exc})") from exc


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def load_project_job(root: Path):
    """Open a project folder; the memory arrives as one full delta (since_version 0)."""
    def job(state, cancel):
        from engine.project import Project

        project = Project.load(root)  # raises ProjectError before anything is replaced
        state.project, state.views = project, project.views
        if project.memory is None:
            from engine.memory import GeometryMemory
            project.memory = GeometryMemory(DEMO_VOXEL)
        state.memory = project.memory
        state.extras["has_root"] = True
        yield CamerasChanged(tuple(state.views.cameras))
        delta = state.memory.changes_since(0)
        yield MemoryChanged(state.memory.version, len(state.memory), delta)
        generated = _read_generated(project)
        return SceneLoaded(project.name, str(project.root), len(project.views), len(state.memory),
                           dict(project.trajectories), list(project.segments), generated)
    return job


def _read_generated(project) -> dict:
    from engine.project import read_image

    out = {}
    for seg in project.segments:
        for png in sorted((project.root / seg.folder).glob("frame_*.png")):
            try:
                out[int(png.stem.split("_")[1])] = read_image(png)
            except Exception:  # a damaged frame is skipped, the project still opens
                continue
    return out


def save_project_job(root: Path, trajectory=None, name: str | None = None, autosave: bool = False):
    """Save the open project to ``root`` (copying generated segments when the folder changes).
    ``autosave`` writes a copy and leaves the project's own folder as it was."""
    def job(state, cancel):
        project = state.project
        if project is None:
            raise ValueError("nothing to save: no project is open")
        had_root = bool(state.extras.get("has_root"))
        old_root = Path(project.root)
        root_path = Path(root)
        if trajectory is not None:
            project.trajectories["main"] = trajectory
        if name:
            project.name = name
        project.views, project.memory = state.views, state.memory
        yield Progress(0.1, f"saving {root_path.name}")
        project.root = root_path
        try:
            for seg_frames in state.extras.get("generated", {}).values():
                for index, frame in seg_frames.items():
                    project.write_generated_frame(frame[0], index, frame[1])
            if had_root and old_root.resolve() != root_path.resolve():
                for seg in project.segments:
                    src = old_root / seg.folder
                    if src.is_dir():
                        shutil.copytree(src, root_path / seg.folder, dirs_exist_ok=True)
            project.save(root_path)
        finally:
            if autosave:
                project.root = old_root
        if not autosave:
            state.extras["has_root"] = True
        yield Progress(1.0, f"saved {root_path.name}")
        return str(root_path)
    return job
