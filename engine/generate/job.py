"""Generation as a Session job on the open project: sample a trajectory, run the closed loop,
store every generated frame and segment record in the project folder, save the memory."""
from __future__ import annotations

from dataclasses import dataclass

from engine.events import FrameGenerated, SegmentFinished, SegmentStarted
from engine.generate.loop import LoopOptions, generate_path
from engine.generate.registry import make_generator
from engine.project import SegmentRecord


@dataclass(frozen=True)
class GenerationSummary:
    trajectory: str
    frames: int
    segments: list
    points_before: int
    points_after: int
    seconds: float


def generate_job(trajectory_name: str, options: LoopOptions = LoopOptions(), generator: str = "ibr",
                 only_segments: set[int] | None = None, save_frames: bool = True, on_frame=None):
    """Session job: generate ``project.trajectories[trajectory_name]`` segment by segment.

    Segment ids continue after the project's existing segments (regenerating passes
    ``only_segments``, which then refer to the existing ids of this trajectory).
    ``on_frame(index, frame)`` is called on the engine thread for each frame (e.g. metrics).
    """
    def job(state, cancel):
        import shutil
        import time

        project, memory = state.project, state.memory
        if project is None or memory is None:
            raise ValueError("no project is open")
        if trajectory_name not in project.trajectories:
            raise ValueError(f"no trajectory named {trajectory_name!r}; have: {', '.join(project.trajectories) or 'none'}")
        cameras = project.trajectories[trajectory_name].sample()
        own = [s for s in project.segments if s.trajectory == trajectory_name]
        if only_segments is None:
            project.segments = [s for s in project.segments if s.trajectory != trajectory_name]
            for s in own:
                memory.remove_segment(s.segment_id)
                shutil.rmtree(project.root / s.folder, ignore_errors=True)
            first = max((s.segment_id for s in project.segments), default=-1) + 1
        else:
            first = min((s.segment_id for s in own), default=0)
        t0, before = time.perf_counter(), len(memory)
        extra = {"project_root": project.root} if generator == "splat" else {}
        gen = make_generator(generator, device=memory.device, **extra)
        records = {s.segment_id: s for s in own}
        for event in generate_path(memory, state.views, cameras, gen, options, cancel, first, only_segments):
            if isinstance(event, SegmentStarted):
                records[event.segment_id] = SegmentRecord(event.segment_id, trajectory_name, event.frame_start,
                                                          event.frame_stop, list(event.reference_view_ids), "running")
            elif isinstance(event, FrameGenerated):
                if save_frames:
                    project.write_generated_frame(event.segment_id, event.frame_index, event.frame)
                if on_frame is not None:
                    on_frame(event.frame_index, event.frame)
            elif isinstance(event, SegmentFinished):
                records[event.segment_id].status = "done"
            yield event
        project.segments = [s for s in project.segments if s.trajectory != trajectory_name] + \
            sorted(records.values(), key=lambda s: s.segment_id)
        return GenerationSummary(trajectory_name, len(cameras), sorted(records), before, len(memory),
                                 time.perf_counter() - t0)
    return job
