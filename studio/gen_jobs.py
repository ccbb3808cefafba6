"""Generation, preview and coverage work for the engine thread (Qt-free).

``generate_job`` wraps :func:`engine.generate.loop.generate_path`; generated frames are kept in
``state.extras["generated"][segment_id][frame_index] = (segment_id, GeneratedFrame)`` and written
to the project folder when it is saved (or at once when the project already has a folder).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.events import FrameGenerated, MemoryChanged, Progress, SegmentFinished, SegmentStarted


@dataclass(frozen=True)
class GenerateOptions:
    generator: str = "ibr"
    segment_length: int = 10
    top_k: int = 4


@dataclass(frozen=True)
class GenerateResult:
    segments: tuple[int, ...]
    frames: int
    memory_points: int


def generate_job(cameras, trajectory_name: str = "main", options: GenerateOptions = GenerateOptions(),
                 only_segments: set[int] | None = None):
    """Generate the sampled path ``cameras`` segment by segment (closed loop with the memory)."""
    cameras = list(cameras)

    def job(state, cancel):
        from engine.generate import make_generator
        from engine.generate.loop import LoopOptions, generate_path
        from engine.project import SegmentRecord

        if state.memory is None or state.memory.is_empty:
            raise ValueError("cannot generate: the scene has no points yet (open a video or the demo)")
        gen = make_generator(options.generator)
        store = state.extras.setdefault("generated", {})
        project = state.project
        before = state.memory.version
        drop = list(state.memory.segments()) if only_segments is None else sorted(only_segments)
        for seg in drop:
            state.memory.remove_segment(seg)
            store.pop(seg, None)
        if only_segments is None:
            store.clear()
        if project is not None:
            project.segments = [s for s in project.segments if s.segment_id not in drop and only_segments is not None]
        if state.memory.version != before:
            yield MemoryChanged(state.memory.version, len(state.memory), state.memory.changes_since(before))
        loop = generate_path(state.memory, state.views, cameras, gen,
                             LoopOptions(segment_length=options.segment_length, top_k=options.top_k),
                             cancel, only_segments=only_segments)
        done, frames = [], 0
        for event in loop:
            if isinstance(event, SegmentStarted):
                store[event.segment_id] = {}
            elif isinstance(event, FrameGenerated):
                store.setdefault(event.segment_id, {})[event.frame_index] = (event.segment_id, event.frame)
                frames += 1
                if project is not None and state.extras.get("has_root"):
                    project.write_generated_frame(event.segment_id, event.frame_index, event.frame)
            elif isinstance(event, SegmentFinished):
                done.append(event.segment_id)
                if project is not None:
                    project.segments = [s for s in project.segments if s.segment_id != event.segment_id]
                    project.segments.append(SegmentRecord(event.segment_id, trajectory_name,
                                                          event.frame_start, event.frame_stop))
            yield event
        return GenerateResult(tuple(done), frames, len(state.memory))
    return job


def preview_render(camera, max_width: int = 320):
    """``render(state) -> (color uint8 [H,W,3], coverage)`` of the memory at ``camera``."""
    if camera.width > max_width:
        camera = camera.scaled(max_width / camera.width)

    def render(state):
        from engine.render.points import render_memory

        if state.memory is None or state.memory.is_empty:
            return np.zeros((camera.height, camera.width, 3), np.uint8), 0.0
        result = render_memory(state.memory, camera)
        color = (result.color.clamp(0, 1) * 255 + 0.5).to(dtype=__import__("torch").uint8).cpu().numpy()
        return color, result.coverage
    return render


def coverage_job(cameras, width: int = 48):
    """Fraction [N] of each path frame the memory covers (rendered at ``width`` pixels)."""
    cameras = list(cameras)

    def job(state, cancel):
        from engine.render.points import render_memory

        out = np.zeros(len(cameras), np.float32)
        if state.memory is None or state.memory.is_empty:
            return out
        for i, cam in enumerate(cameras):
            cancel.raise_if_cancelled()
            small = cam.scaled(width / cam.width) if cam.width > width else cam
            out[i] = render_memory(state.memory, small, max_radius_px=2.0).coverage
            if i % 8 == 7:
                yield Progress((i + 1) / len(cameras), "coverage")
        return out
    return job
