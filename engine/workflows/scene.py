"""Workflows that make a scene the open one: the demo, a tracked capture (video or photos), an
imported posed dataset (COLMAP, transforms.json, LLFF) and a saved project. Each is a Session
job ``fn(workspace, cancel)`` that streams CamerasChanged / MemoryChanged / Progress and returns
a ``SceneLoaded``; the open scene is replaced only when the job succeeds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.events import CamerasChanged, MemoryChanged, Progress


@dataclass(frozen=True)
class SceneLoaded:
    """What a scene-replacing job made: what a viewer needs to show it, plain data only.

    trajectories      name -> engine Trajectory
    segments          [engine.project.SegmentRecord]
    generated         frame index of the main path -> color uint8 [h,w,3] (saved frames)
    scene_frame       engine.geometry.scene_frame.SceneFrame: world up and region of interest
    holdout           names of held-out views (imported datasets)
    unregistered      names of frames tracking could not place
    timings           named durations, seconds
    train_splats      a new capture / dataset on CUDA: its splats should train now
                      (engine.workflows.splats.auto_splats_job; the studio starts it)
    """

    name: str
    root: str | None
    num_views: int
    num_points: int
    trajectories: dict = field(default_factory=dict)
    segments: list = field(default_factory=list)
    generated: dict = field(default_factory=dict)
    scene_frame: object = None
    holdout: tuple[str, ...] = ()
    unregistered: tuple[str, ...] = ()
    timings: dict = field(default_factory=dict)
    note: str = ""
    train_splats: bool = False


def splats_by_default(ws) -> bool:
    from engine.workflows.splats import splats_by_default as by_default

    return by_default(ws)


def thumbnail(image: np.ndarray, height: int = 36) -> np.ndarray:
    """[H,W,3] uint8 or float [0,1] -> small uint8 copy of the given height (aspect kept)."""
    import cv2

    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def loaded_result(ws, note: str = "", **extra) -> SceneLoaded:
    project = ws.project
    if project.scene_frame is None:
        project.scene_frame = scene_frame_of(project)
    return SceneLoaded(project.name, str(project.root) if ws.saved else None, len(project.views), len(ws.memory),
                       dict(project.trajectories), list(project.segments),
                       scene_frame=project.scene_frame, note=note, **extra)


def scene_frame_of(project):
    """The scene frame estimated from the project's cameras: its up. The region of interest
    stays unset until the artist draws or fits one (exports crop only to a chosen box)."""
    from engine.geometry.scene_frame import estimate_scene_frame

    return estimate_scene_frame(project.views.world_from_cams() if len(project.views) else None)


def _announce(ws):
    """Events that show the whole open scene (after it replaced another)."""
    yield CamerasChanged(tuple(ws.views.cameras))
    yield MemoryChanged(ws.memory.version, len(ws.memory), ws.memory.changes_since(0))


def insert_view(ws, view, stride: int, total: int, started: float, done: int, label: str):
    """Add a CapturedView to the open scene and fuse its depth (streams the growth)."""
    vid = ws.views.add(view)
    before = ws.memory.version
    if view.depth is not None:
        ws.memory.insert_depth(view.camera, view.depth, view.image, view.confidence, view=vid, stride=stride)
    yield CamerasChanged(tuple(ws.views.cameras))
    if ws.memory.version != before:
        yield MemoryChanged(ws.memory.version, len(ws.memory), ws.memory.changes_since(before))
    elapsed = time.perf_counter() - started
    yield Progress(done / total, f"{label}: view {done}/{total}", elapsed / done * (total - done))


def demo_job(options=None, root: Path | str | None = None, with_path: bool = True, cache_renders: bool = False):
    """The built-in synthetic scene (exact depth), memory growing view by view; ``with_path``
    adds the demo's path (engine.demo.demo_path: the app's Orbit preset on the demo capture,
    or options.path_preset) as the path "orbit". ``root`` names the folder it will be saved to.
    ``cache_renders``: the capture's renders are kept for the next load that asks for them too
    (engine.demo.demo_views' cache: tests that load the same demo many times)."""
    from engine import demo

    options = options or demo.DemoOptions()

    def job(ws, cancel):
        from engine.memory import GeometryMemory
        from engine.project import Project

        project = Project(root=Path(root or "demo_project"), name="demo", memory=GeometryMemory(options.voxel_size),
                          info={"source": "synthetic demo scene"})
        ws.replace_scene(project, saved=False)
        started = time.perf_counter()
        for i, (view, _) in enumerate(demo.demo_views(options, cache=cache_renders)):
            cancel.raise_if_cancelled()
            yield from insert_view(ws, view, options.stride, options.num_views, started, i + 1, "demo scene")
        if with_path:
            project.trajectories["orbit"] = demo.demo_path(ws.memory, ws.views, options)
        return loaded_result(ws, "synthetic demo scene (exact depth)")
    return job


def _default_track_options(settings):
    """TrackOptions from the engine settings: device, models folder, pose backend (Pi3's
    depth goes with Pi3's cameras)."""
    from engine.tracking.pipeline import TrackOptions

    depth = {"depth_backend": "pi3"} if settings.pose_backend == "pi3" else {}
    return TrackOptions(device=settings.device, models_dir=settings.models_dir,
                        pose_backend=settings.pose_backend, **depth)


def open_capture_job(path: Path | str, options=None, track=None):
    """Track a video or a photo folder (engine.tracking.pipeline) into a new scene. ``track``:
    ``(path, TrackOptions) -> job`` yielding the tracker's events and returning its TrackResult
    (default: the single-process ``track_job``; engine.workflows.windows.track_factory:
    window-parallel on Ray)."""
    path = Path(path)

    def job(ws, cancel):
        from engine.project import Project
        from engine.tracking.pipeline import track_job
        from engine.workflows.workspace import Workspace

        opts = options or _default_track_options(ws.settings)
        scratch = Workspace(settings=ws.settings)           # the open scene stays until tracking succeeds
        result = yield from _forward((track or track_job)(path, opts)(scratch, cancel))
        info = {"source": str(path), "tracking": {
            "mapper": opts.sfm.mapper, "registered": len(result.registered), "unregistered": result.unregistered,
            "keyframes": len(result.registered) + len(result.unregistered),
            "source_frames": result.num_source_frames, "timings": result.timings, "warnings": result.warnings}}
        ws.replace_scene(Project(root=Path(path.stem), name=path.stem, views=result.views, memory=result.memory,
                                 info=info), saved=False)
        ws.timings = dict(result.timings)
        yield from _announce(ws)
        return loaded_result(ws, "; ".join(result.warnings or []), unregistered=tuple(result.unregistered),
                             timings=dict(result.timings), train_splats=splats_by_default(ws))
    return job


@dataclass(frozen=True)
class ImportOptions:
    """images: image folder overriding the reference's; holdout: keep every N-th view out (0:
    none; LLFF's protocol is 8); max_side: downscale larger images (pixels); mvs_side: dense
    depth working resolution (pixels)."""

    images: Path | None = None
    holdout: int = 0
    max_side: int | None = 1600
    mvs_side: int = 480
    max_depths: int = 96
    depth_backend: str | None = None  # engine.tracking.depth_backend.DEPTH_BACKENDS (None: its default)


def import_dataset_job(reference: Path | str, options: ImportOptions = ImportOptions()):
    """Import a posed dataset: its cameras are taken as they are (no tracking), the views
    get dense depth and fill a new memory; held-out views are kept for evaluation."""
    reference = Path(reference)
    if options.holdout < 0:
        raise ValueError(f"holdout must be 0 (none) or a positive N, got {options.holdout}")

    def job(ws, cancel):
        from engine.project import Project
        from engine.tracking.import_poses import import_poses
        from engine.tracking.mvs import MVSOptions
        from engine.tracking.posed import dense_job
        from engine.workflows.workspace import Workspace

        yield Progress(0.0, f"reading {reference.name}")
        scene = import_poses(reference, images=options.images, holdout=options.holdout, max_side=options.max_side)
        scratch = Workspace(settings=ws.settings)
        mvs = MVSOptions(max_side=options.mvs_side, max_depths=options.max_depths)
        backend = {"depth_backend": options.depth_backend} if options.depth_backend else {}
        memory = yield from _forward(dense_job(scene, mvs, device=ws.settings.device, **backend)(scratch, cancel))
        name = reference.name if reference.is_dir() else reference.parent.name
        info = {"source": str(options.images or reference), "poses": {"reference": str(reference), "kind": scene.kind}}
        if scene.holdout:
            info["holdout"] = {"every": options.holdout, "names": [v.name for v in scene.holdout]}
        project = Project(root=Path(name), name=name, views=scene.views, memory=memory, info=info)
        project.holdout = list(scene.holdout)
        ws.replace_scene(project, saved=False)
        ws.timings = dict(scratch.timings)
        yield from _announce(ws)
        return loaded_result(ws, f"{scene.kind} poses imported" + (f", {len(scene.holdout)} views held out"
                                                              if scene.holdout else ""),
                             holdout=tuple(v.name for v in scene.holdout), timings=dict(scratch.timings),
                             train_splats=splats_by_default(ws))
    return job


def open_project_job(root: Path | str):
    """Open a project folder; the memory arrives as one full delta (since version 0)."""
    root = Path(root)

    def job(ws, cancel):
        from engine.memory import GeometryMemory
        from engine.project import Project, read_image

        project = Project.load(root, device=ws.settings.device)  # raises ProjectError before anything is replaced
        if project.memory is None:
            project.memory = GeometryMemory(0.05)
        ws.replace_scene(project, saved=True)
        yield from _announce(ws)
        main = "main" if "main" in project.trajectories else next(iter(project.trajectories), None)
        generated = {}
        for _, index, png in project.generated_frames(main):
            try:
                generated[index] = read_image(png)
            except Exception:  # noqa: BLE001, S112 - a damaged frame is skipped, the project still opens
                continue
        return loaded_result(ws, generated=generated)
    return job


def _forward(events):
    """``yield from`` a scratch job, dropping its snapshot-less MemoryChanged (delta None):
    the caller announces the whole scene when it becomes the open one."""
    try:
        event = next(events)
        while True:
            if not (isinstance(event, MemoryChanged) and event.delta is None):
                yield event
            event = next(events)
    except StopIteration as stop:
        return stop.value
