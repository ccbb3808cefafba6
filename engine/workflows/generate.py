"""Generate a camera path through the open scene: the one implementation behind
``anyrecon generate``, the studio's Generate / Regenerate segment, and batch runs.

Everything is checked before anything is removed: the scene, the path, the generator (built,
or taken from the workspace's cache) and the options. Then the path's earlier segments leave
the memory, the closed loop runs (engine.generate.loop), and each finished segment's frames
replace the earlier ones on disk only once they are complete (a staging folder per segment).
An unsaved scene keeps its frames in ``workspace.pending_frames`` until its first save.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from engine.events import FrameGenerated, MemoryChanged, SegmentFinished, SegmentStarted
from engine.generate.loop import LoopOptions, generate_path, plan_segments
from engine.generate.registry import DEFAULT_GENERATOR
from engine.project import SegmentRecord


@dataclass(frozen=True)
class GenerateOptions:
    """generator: registry name; generator_options: its options dataclass (None: defaults);
    segment_length, top_k (None: the generator's own), fuse_generated: see
    engine.generate.loop.LoopOptions; fuse_in_roi: generated pixels fuse back only inside the
    scene frame's region of interest (an error when the project has none switched on)."""

    generator: str = DEFAULT_GENERATOR
    generator_options: object = None
    segment_length: int = 40
    top_k: int | None = None
    fuse_generated: bool = True
    fuse_in_roi: bool = False

    def loop_options(self, generator=None, scene_frame=None) -> LoopOptions:
        """The loop's options; the generator says how many previous frames it chains on, the
        scene frame (engine.geometry.scene_frame.SceneFrame) where fusion may add points."""
        context = max(1, int(getattr(generator, "context_frames", 1)))
        region = None
        if self.fuse_in_roi:
            if scene_frame is None or not scene_frame.has_roi:
                raise ValueError("fusing only inside the region of interest was asked for, but the project has "
                                 "no region of interest switched on: draw or fit one first")
            region = (np.asarray(scene_frame.roi_world_from_box, dtype=np.float64),
                      np.asarray(scene_frame.roi_half_extent, dtype=np.float64))
        # the job coalesces the memory's growth into deltas of its own (_CoalescedGrowth)
        return LoopOptions(segment_length=self.segment_length, top_k=self.top_k, fuse_generated=self.fuse_generated,
                           context_frames=context, fuse_region=region, memory_deltas=False)

    def validate(self) -> None:
        if self.segment_length < 1:
            raise ValueError(f"segment length must be at least 1 frame, got {self.segment_length}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top-k must be at least 1 reference view, got {self.top_k}")


@dataclass(frozen=True)
class GenerateResult:
    """What one Generate produced. ``segments``: ids generated in this run, in order."""

    trajectory: str
    generator: str
    frames: int
    segments: tuple[int, ...]
    points_before: int
    points_after: int
    seconds: float

    @property
    def memory_points(self) -> int:
        return self.points_after


def preset_in_scene(preset: str, memory, views):
    """The preset named ``preset`` placed in a scene (engine.trajectory.presets.make_preset):
    on the memory's points (a 200k-point snapshot) and the views' captured cameras, at the
    first view's FOV and size (55 deg, 640x360 without views). What ``anyrecon generate
    --preset`` and the demo's path (engine.demo.demo_path) fly."""
    from engine.trajectory.presets import make_preset

    cam = views[0].camera if len(views) else None
    return make_preset(preset, points=memory.snapshot(max_points=200_000).xyz,
                       captured_world_from_cam=views.world_from_cams() if len(views) else None,
                       fov_y_deg=cam.fov_y_deg if cam else 55.0,
                       width=cam.width if cam else 640, height=cam.height if cam else 360)


def path_in_project(project, preset: str | None = None, trajectory_file=None, frames: int | None = None):
    """The camera path to generate in ``project``: a camera-path file as written
    (engine.trajectory.camera_files), or a preset placed in the project's memory and captured
    cameras (engine.trajectory.presets.make_preset); ``frames`` retimes it to that many frames.
    Used by ``anyrecon generate`` and the batch generation pool. ValueError when neither is
    given or the project has no memory to place a preset in."""
    from dataclasses import replace
    from pathlib import Path

    from engine.trajectory.camera_files import read_trajectory_file

    if trajectory_file:
        traj = read_trajectory_file(Path(trajectory_file))
    elif preset:
        if project.memory is None or project.memory.is_empty:
            raise ValueError(f"{project.root}: the project has no geometry memory to place a preset in")
        traj = preset_in_scene(preset, project.memory, project.views)
    else:
        raise ValueError("give a preset or a camera-path file")
    if frames:
        traj = replace(traj, fps=(frames - (0 if traj.loop else 1)) / traj.resolved_duration)
    return traj


def generate_job(trajectory_name: str, trajectory=None, options: GenerateOptions = GenerateOptions(),
                 only_segments: set[int] | None = None, on_frame=None):
    """Session job: generate ``trajectory_name`` (``trajectory`` replaces the stored path of that
    name first, when given) segment by segment; returns a GenerateResult.

    Segment ids continue after the segments of the project's other paths; ``only_segments``
    regenerates those ids of this path alone. ``on_frame(index, frame)`` runs on the engine
    thread for each generated frame (metrics in benchmarks)."""
    options.validate()

    def job(ws, cancel):
        project = ws.require_scene("Generate")
        if ws.memory.is_empty:
            raise ValueError("cannot generate: the geometry memory is empty (track or import a scene first)")
        traj = trajectory if trajectory is not None else project.trajectories.get(trajectory_name)
        if traj is None:
            raise ValueError(f"no camera path named {trajectory_name!r}; have: "
                             f"{', '.join(project.trajectories) or 'none'}")
        cameras = traj.sample()
        own = {s.segment_id: s for s in project.segments if s.trajectory == trajectory_name}
        first = _first_segment_id(project, trajectory_name, own, only_segments)
        plans = plan_segments(len(cameras), options.segment_length, first)
        if only_segments is not None:
            missing = sorted(set(only_segments) - {p.segment_id for p in plans})
            if missing:
                raise ValueError(f"path {trajectory_name!r} has no segment {', '.join(map(str, missing))} "
                                 f"(it has {', '.join(str(p.segment_id) for p in plans)})")
        generator = ws.generators.get(options.generator, ws.generator_context(), options.generator_options)
        loop_options = options.loop_options(generator, project.scene_frame)
        # checked: from here on, earlier work of this path is replaced
        project.trajectories[trajectory_name] = traj
        t0, before, version = time.perf_counter(), len(ws.memory), ws.memory.version
        replaced = set(own) if only_segments is None else set(only_segments)
        for seg in sorted(replaced):
            ws.memory.remove_segment(seg)
            ws.pending_frames.pop(seg, None)
        if ws.memory.version != version:
            yield MemoryChanged(ws.memory.version, len(ws.memory), ws.memory.changes_since(version))
        records = {k: v for k, v in own.items() if only_segments is not None and k not in replaced}
        done, frames = [], 0
        events = generate_path(ws.memory, ws.views, cameras, generator, loop_options, cancel,
                               first, only_segments)
        growth = _CoalescedGrowth(ws.memory)
        writer = _FrameWriter()
        interval = _ShortSwitchInterval()
        try:
            for event in events:
                if isinstance(event, MemoryChanged):
                    event = growth.take(final=False)
                    if event is None:
                        continue
                elif isinstance(event, SegmentFinished):
                    flushed = growth.take(final=True)
                    if flushed is not None:
                        yield flushed
                if isinstance(event, SegmentStarted):
                    records[event.segment_id] = SegmentRecord(event.segment_id, trajectory_name, event.frame_start,
                                                              event.frame_stop, list(event.reference_view_ids),
                                                              "running")
                elif isinstance(event, FrameGenerated):
                    on_device = getattr(generator, "frame_on_device", None)
                    dev = on_device(event.frame) if on_device is not None else None
                    event = _with_viewer_images(event, dev)
                    # the PNG is the viewer's uint8 when made on the device (the conversion
                    # write_image would make: no float pass on the writer threads)
                    _keep_frame(ws, event, writer, event.color_u8 if dev is not None else None)
                    frames += 1
                    if on_frame is not None:
                        on_frame(event.frame_index, event.frame)
                elif isinstance(event, SegmentFinished):
                    records[event.segment_id].status = "done"
                    if ws.saved:
                        writer.wait()      # every frame of the segment on disk before it commits
                        project.commit_segment_frames(event.segment_id)
                    done.append(event.segment_id)
                yield event
        finally:
            interval.restore()
            writer.close()
            _finish(ws, project, trajectory_name, records, replaced, done)
        return GenerateResult(trajectory_name, options.generator, frames, tuple(done), before, len(ws.memory),
                              time.perf_counter() - t0)
    return job


@dataclass(frozen=True)
class WarmResult:
    """What :func:`warm_generator_job` did: ``warmed`` False when the generator has nothing
    to warm (no splats, the CPU path, no scene); ``seconds`` its wall time."""

    generator: str
    warmed: bool
    seconds: float


def warm_generator_job(options: GenerateOptions = GenerateOptions()):
    """Session job: the first Generate as fast as the next. The generator a Generate with
    ``options`` gets (the workspace's cached instance) pays its one-time costs now, on the
    engine thread (its ``warm(memory, views, cancel)``: ``AutoGenerator.warm`` reads the
    trained splats and runs throwaway frames through its device path). The studio submits it
    when a scene opens and after splat training; the project is not changed. Returns a
    WarmResult."""

    def job(ws, cancel):
        t0 = time.perf_counter()
        if ws.project is None or ws.memory.is_empty:
            return WarmResult(options.generator, False, 0.0)
        generator = ws.generators.get(options.generator, ws.generator_context(), options.generator_options)
        warm = getattr(generator, "warm", None)
        warmed = bool(warm(ws.memory, ws.views, cancel)) if warm is not None else False
        return WarmResult(options.generator, warmed, time.perf_counter() - t0)
    return job


GENERATE_SWITCH_INTERVAL_S = 0.0005


class _ShortSwitchInterval:
    """Python's GIL switch interval at most :data:`GENERATE_SWITCH_INTERVAL_S` while a
    Generate job runs (restored by :meth:`restore`). The engine thread launches thousands of
    small kernels per frame, each releasing the GIL; when a worker thread (fills, frame
    writes, the splats' training steps) takes it in between, the engine thread waits until
    that thread lets go, up to the switch interval (5 ms by default). Measured on an H200
    (RESULTS.md, gpu-s21): a 40-frame segment's job 4.52 s -> 4.09 s median of 7 runs."""

    def __init__(self) -> None:
        import sys

        self.before = sys.getswitchinterval()
        sys.setswitchinterval(min(self.before, GENERATE_SWITCH_INTERVAL_S))

    def restore(self) -> None:
        import sys

        sys.setswitchinterval(self.before)


class _CoalescedGrowth:
    """One MemoryChanged per ``interval_s`` (and at each segment's end) instead of one per
    fused frame: the viewer applies fewer, larger deltas."""

    def __init__(self, memory, interval_s: float = 0.25) -> None:
        self.memory, self.interval_s = memory, interval_s
        self.version, self.last = memory.version, time.perf_counter()

    def take(self, final: bool) -> MemoryChanged | None:
        now = time.perf_counter()
        if self.memory.version == self.version or (not final and now - self.last < self.interval_s):
            return None
        event = MemoryChanged(self.memory.version, len(self.memory), self.memory.changes_since(self.version))
        self.version, self.last = self.memory.version, now
        return event


def _first_segment_id(project, name: str, own: dict, only_segments) -> int:
    if only_segments is not None and own:
        return min(own)
    others = [s.segment_id for s in project.segments if s.trajectory != name]
    return max(others, default=-1) + 1


def _with_viewer_images(event: FrameGenerated, on_device=None) -> FrameGenerated:
    """The frame as viewers show it (uint8 colour and a thumbnail), made here on the engine
    thread so that the GUI thread never converts full-resolution float frames.
    ``on_device``: the generator's tensors of the frame (``frame_on_device``, or None): the
    uint8 conversion then runs there, as ``engine.project.write_image`` makes it (NaN -> 0,
    same float32 operations), instead of four numpy passes on the engine thread."""
    import dataclasses

    import numpy as np

    from engine.workflows.scene import thumbnail

    color = event.frame.color
    dev = on_device if color.dtype != np.uint8 else None
    if dev is not None:
        import torch

        u = torch.nan_to_num(dev[0]).clamp(0, 1) * 255
        u += 0.5
        color = u.to(torch.uint8).cpu().numpy()
    elif color.dtype != np.uint8:
        # (clip(c, 0, 1) * 255 + 0.5) -> uint8, in one buffer (this runs per frame on the engine thread)
        u = np.clip(color, 0, 1)
        u *= 255
        u += 0.5
        color = u.astype(np.uint8)
    return dataclasses.replace(event, color_u8=color, thumbnail=thumbnail(color))


class _FrameWriter:
    """Writes generated frames (Project.write_generated_frame, ``fast``) on a few threads while the engine
    thread generates the next ones (PNG encoding and file writes release the GIL): on a GPU
    the writes took as long as the generation. ``wait`` raises the first write error."""

    def __init__(self, threads: int | None = None) -> None:
        import os

        self._pool, self._pending = None, []
        # two are enough to keep up with a 896x512 segment on an H200 (60 ms per frame each,
        # mostly encoder and fsync, which release the GIL); more only fight the engine thread
        # for the GIL between its kernel launches
        self.threads = threads or min(2, max(1, os.cpu_count() or 2))

    def submit(self, fn, *args) -> None:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="frame-writer")
        self._pending.append(self._pool.submit(fn, *args))

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Wait for every write (errors already on their way out are not replaced), stop the threads."""
        try:
            for future in self._pending:
                future.exception()
            self._pending = []
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def _keep_frame(ws, event: FrameGenerated, writer: _FrameWriter | None = None, png_u8=None) -> None:
    """Write the frame (on ``writer``'s threads) or keep it until the first save; ``png_u8``:
    its colour as uint8 already (what write_image makes of the float colour) for the PNG."""
    if ws.saved:
        import dataclasses

        frame = event.frame if png_u8 is None else dataclasses.replace(event.frame, color=png_u8)
        write = functools.partial(ws.project.write_generated_frame, event.segment_id, event.frame_index,
                                  frame, staging=True, fast=True)
        if writer is None:
            write()
        else:
            writer.submit(write)
    else:
        ws.pending_frames.setdefault(event.segment_id, {})[event.frame_index] = event.frame


def _finish(ws, project, name: str, records: dict, replaced: set, done: list) -> None:
    """After the run (finished, cancelled or failed): the path's segments are the ones that
    completed plus those not regenerated; replaced segments that did not complete are gone
    (their points left the memory), and so are their frames."""
    keep = {sid: r for sid, r in records.items() if r.status == "done"}
    for sid in replaced - set(keep):
        ws.pending_frames.pop(sid, None)
        if ws.saved:
            project.remove_segment_frames(sid)
    for sid, r in records.items():
        if r.status != "done":
            ws.pending_frames.pop(sid, None)
            if ws.saved:
                project.remove_segment_frames(sid)
    project.segments = [s for s in project.segments if s.trajectory != name] + \
        sorted(keep.values(), key=lambda s: s.segment_id)
