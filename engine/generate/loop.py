"""The closed loop: a trajectory generated segment by segment, each segment fused back into
the geometry memory so that the next one is conditioned on what was generated before.

Per segment: retrieve the top-k captured views by geometric contribution, render the memory
into every target (guidance), run the generator, and back-project each generated frame into
the memory as ``generated`` by that segment, only where it adds information (pixels the
memory did not cover, or covered with low confidence).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from engine.events import FrameGenerated, MemoryChanged, Progress, SegmentFinished, SegmentStarted
from engine.generate.protocol import CancelToken, GeneratedFrame, ReferenceView, SegmentRequest
from engine.render.points import render_memory
from engine.render.retrieval import retrieve_views


@dataclass(frozen=True)
class LoopOptions:
    segment_length: int = 40
    top_k: int | None = None            # references per segment; None: the generator's
                                        # ``top_k`` attribute (surface: 6), else 4
    fuse_generated: bool = True
    fuse_below_confidence: float | None = None  # memory confidence under which observed generated
                                        # pixels fuse; None: the generator's own, else 0.5
    fuse_stride: int = 1
    invented_stride: int = 2            # invented pixels fuse on this pixel grid ...
    invented_gap_px: int = 2            # ... and only this far from what the memory shows
    context_frames: int = 1             # frames of the previous segment handed on
                                        # (confidence <= its ``guessed_confidence``) too
    fuse_region: tuple | None = None    # (world_from_box [4,4], half_extent [3]) world: generated
                                        # pixels fuse only where they land inside this box; None: anywhere
    memory_deltas: bool = True          # MemoryChanged events carry the delta (points since the
                                        # frame's start; False: delta None, for a caller that takes
                                        # its own, coalesced deltas: no per-frame download)


@dataclass(frozen=True)
class SegmentPlan:
    segment_id: int
    frame_start: int
    frame_stop: int


def plan_segments(num_frames: int, segment_length: int, first_segment_id: int = 0) -> list[SegmentPlan]:
    """Cut [0, num_frames) into consecutive segments of at most segment_length frames."""
    if num_frames <= 0:
        raise ValueError("the trajectory has no frames to generate")
    if segment_length <= 0:
        raise ValueError(f"segment length must be positive, got {segment_length}")
    return [SegmentPlan(first_segment_id + i, s, min(s + segment_length, num_frames))
            for i, s in enumerate(range(0, num_frames, segment_length))]


def guidance_renderer(generator):
    """How the memory is rendered for ``generator``: a generator whose ``guidance`` attribute
    is ``"surface"`` gets hole-free surface renders (``engine.render.surface``), the others
    the point render."""
    if getattr(generator, "guidance", "points") == "surface":
        from engine.render.surface import render_surface

        return render_surface
    return render_memory


class LiveGuidance(Sequence):
    """The memory rendered into each target *when the generator asks for it*, so that a
    frame-by-frame generator sees what earlier frames of the same segment fused (the loop
    closes within a segment too). A generator that reads all of them first (a diffusion
    model) gets the memory as it was at the segment's start. Each render is kept once made.
    ``render(memory, camera)`` makes the render (default: the point render)."""

    def __init__(self, memory, targets, render=render_memory) -> None:
        self.memory, self.targets = memory, list(targets)
        self.render = render
        self._cache: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if i not in self._cache:
            self._cache[i] = self.render(self.memory, self.targets[i])
        return self._cache[i]


def reference_views(views, retrieved) -> list[ReferenceView]:
    return [ReferenceView(r.view_id, views[r.view_id].camera, views[r.view_id].image_float(),
                          views[r.view_id].depth, max(r.gain, 1e-3),
                          completed=getattr(views[r.view_id], "completed", None)) for r in retrieved]


def fuse_generated_frame(memory, frame: GeneratedFrame, guide, segment_id: int, options: LoopOptions,
                         fuse_below_confidence: float | None = None, guessed_confidence: float = 0.0,
                         on_device=None) -> int:
    """Back-project a generated frame where it adds information; returns points added.

    Observed pixels (warped from captured views) fuse where the memory was empty or unsure.
    Invented pixels fuse only where the memory has nothing within ``invented_gap_px`` pixels,
    every ``invented_stride``-th pixel (and, with ``options.fuse_region``, only pixels that land
    inside that box): invented surfaces are smooth guesses whose depth shifts
    a little from frame to frame, and fusing all of them would stack layer after layer of the
    same guess (the memory would grow with the frame count).

    The masks are made on the memory's device from the guidance render (no download);
    ``on_device``: the frame's (color [H,W,3], depth, confidence, invented) already as tensors
    there (a generator's ``frame_on_device``, equal to its arrays), else they are uploaded once."""
    import torch
    import torch.nn.functional as F

    from engine.memory.backproject import backproject_depth
    from engine.memory.rows import split_by_flag
    from engine.memory.store import INVENTED_VIEW

    dev = memory.device
    if on_device is None:
        on_device = tuple(torch.as_tensor(np.ascontiguousarray(a), device=dev)
                          for a in (frame.color, frame.depth, frame.confidence, frame.invented))
    color, depth, confidence, invented = on_device
    depth = depth.float()
    invented = invented.bool()
    gmask = torch.as_tensor(guide.mask, device=dev).bool()
    gconf = torch.as_tensor(guide.confidence, device=dev)
    valid = depth > 0
    below = fuse_below_confidence if fuse_below_confidence is not None else options.fuse_below_confidence
    below = 0.5 if below is None else below
    observed = ((~gmask) | (gconf < below)) & ~invented & valid
    k = 2 * options.invented_gap_px + 1
    # a k x k dilation of the memory's mask (max pool: pixels outside the frame add nothing)
    near_memory = F.max_pool2d(gmask[None, None].float(), k, stride=1, padding=k // 2)[0, 0] > 0
    grid = torch.zeros_like(valid)
    grid[::options.invented_stride, ::options.invented_stride] = True
    adds = observed | (invented & valid & ~near_memory & grid)
    if options.fuse_region is not None and bool(adds.any()):
        from engine.geometry.scene_frame import box_contains

        inside = box_contains(*options.fuse_region, frame.camera.backproject(frame.depth).reshape(-1, 3))
        adds &= torch.as_tensor(np.asarray(inside).reshape(tuple(adds.shape)), device=dev)
    # (no ``adds.any()`` check: without pixels to add nothing is lifted and nothing inserted
    # below; the check was a host sync per frame on a GPU)
    conf = torch.clamp_min(confidence.float(), 1e-3)
    added = 0
    # invented points, and colors observed on a guessed depth (confidence at most the
    # generator's ``guessed_confidence``), carry their own tag (view INVENTED_VIEW): merged
    # many times their confidence grows, and that must not turn them into a measured surface.
    # The frame is lifted once and its points go in as two inserts, observed first, each in
    # pixel order.
    guess = invented | (confidence <= guessed_confidence)
    pts = backproject_depth(frame.camera, depth, color, conf, adds, options.fuse_stride, dev)
    is_guess = guess.to(pts.flat.device).reshape(-1)[pts.flat]
    # the observed rows then the guessed ones, each in pixel order (one host sync for both)
    for rows, view in zip(split_by_flag(is_guess), (-1, INVENTED_VIEW)):
        if rows.numel():
            added += memory.insert_points(pts.xyz[rows], pts.rgb[rows], pts.conf[rows], pts.normal[rows], view,
                                          segment_id).added
    return added


def _fuse_below(options: LoopOptions, generator) -> float:
    if options.fuse_below_confidence is not None:
        return options.fuse_below_confidence
    return float(getattr(generator, "fuse_below_confidence", 0.5))


def run_segment(memory, views, cameras: Sequence, plan: SegmentPlan, generator, options: LoopOptions,
                context: list[GeneratedFrame], cancel: CancelToken | None, total_frames: int,
                started_at: float, frames_done_before: int = 0) -> Iterator:
    """Generate one segment; yields events; leaves the last frames in ``context``."""
    t0 = time.perf_counter()
    targets = list(cameras[plan.frame_start:plan.frame_stop])
    top_k = options.top_k if options.top_k is not None else int(getattr(generator, "top_k", 4))
    retrieved = retrieve_views(memory, views, targets, top_k) if len(views) else []
    yield SegmentStarted(plan.segment_id, plan.frame_start, plan.frame_stop, tuple(r.view_id for r in retrieved))
    guidance = LiveGuidance(memory, targets, guidance_renderer(generator))
    if not retrieved and not any(bool(render_memory(memory, cam.scaled(0.25)).mask.any()) for cam in targets):
        raise ValueError(f"segment {plan.segment_id}: no target camera sees any part of the scene "
                         "(every point is behind or outside the cameras); move the path into the scene")
    request = SegmentRequest(plan.segment_id, targets, guidance, reference_views(views, retrieved),
                             list(context), memory.voxel_size)
    added = 0
    for offset, frame in enumerate(generator.generate(request, cancel)):
        index = plan.frame_start + offset
        version = memory.version
        if options.fuse_generated:
            on_device = getattr(generator, "frame_on_device", None)
            added += fuse_generated_frame(memory, frame, guidance[offset], plan.segment_id, options,
                                          _fuse_below(options, generator),
                                          float(getattr(generator, "guessed_confidence", 0.0)),
                                          on_device(frame) if on_device is not None else None)
        yield FrameGenerated(plan.segment_id, index, frame)
        if memory.version != version:
            yield MemoryChanged(memory.version, len(memory),
                                memory.changes_since(version) if options.memory_deltas else None)
        done = frames_done_before + offset + 1
        elapsed = time.perf_counter() - started_at
        eta = elapsed / done * (total_frames - done)
        yield Progress(done / total_frames, f"segment {plan.segment_id}: frame {done}/{total_frames}", eta)
        context.append(frame)
        del context[:-max(1, options.context_frames)]
        if cancel is not None:
            cancel.raise_if_cancelled()
    yield SegmentFinished(plan.segment_id, plan.frame_start, plan.frame_stop, time.perf_counter() - t0, added)


def generate_path(memory, views, cameras: Sequence, generator, options: LoopOptions = LoopOptions(),
                  cancel: CancelToken | None = None, first_segment_id: int = 0,
                  only_segments: set[int] | None = None) -> Iterator:
    """The closed loop over a whole trajectory (``cameras`` = its sampled frames).

    Yields SegmentStarted, FrameGenerated, MemoryChanged, Progress and SegmentFinished events.
    ``only_segments`` regenerates just those segment ids (their old points are removed first).
    """
    if memory.is_empty:
        raise ValueError("cannot generate: the geometry memory is empty (track or import a scene first)")
    plans = plan_segments(len(cameras), options.segment_length, first_segment_id)
    if only_segments is not None:
        plans = [p for p in plans if p.segment_id in only_segments]
        for p in plans:
            memory.remove_segment(p.segment_id)
    total = sum(p.frame_stop - p.frame_start for p in plans)
    context: list[GeneratedFrame] = []
    started = time.perf_counter()
    done_before = 0
    try:
        for plan in plans:
            yield from run_segment(memory, views, cameras, plan, generator, options, context, cancel,
                                   total, started, done_before)
            done_before += plan.frame_stop - plan.frame_start
    finally:
        # a generator's background work (``settle()``: auto's training steps after a segment)
        # ends with the path, so no thread of it outlives the job that owns the device
        settle = getattr(generator, "settle", None)
        if settle is not None:
            settle()
        from engine.generate.lumigraph import clear_caches

        clear_caches()        # the segment's rays and stacked references (device memory)
