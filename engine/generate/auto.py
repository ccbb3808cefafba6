"""The ``auto`` generator (the default): trained splats where they are confident, the captured
photos on the surface for detail where they agree, the surface generator and its fill for
the rest.

Without trained splats in the project (``PROJECT/splats/splats.ply``), or on the CPU (unless
``AutoGeneratorOptions.splats == "always"``), it *is* the surface generator: same frames.

With splats, per target frame:
1. **Splat render** (gsplat on CUDA, the torch rasterizer elsewhere): color S (black
   background, premultiplied), accumulated opacity A, expected z-depth D_s.
2. **Confident splats**: ``A >= confident_alpha`` and D_s consistent with the memory's surface
   render where that surface is confident (``|D_s - D_m| <= surface_tolerance * D_m`` where
   its confidence >= ``surface_confidence``; floaters in front of a well-measured surface
   and splats behind it are not trusted).
3. **Photos on the splat surface** (engine.generate.lumigraph, the surface generator's own
   sampling, visibility test and unstructured-lumigraph blend): P at the points
   ``eye + ray * D_s``. Where P agrees with S at low frequency (box-filtered RGB distance d,
   weight ``exp(-(d / agree_sigma)^2)``), up to ``photo_weight`` of the pixel comes from P:
   the photos' detail on the splats' geometry. Where they disagree (an occlusion the depth
   test missed, a view-dependent highlight) S stays.
4. **The rest** (not confident, more than ``min_surface_fraction`` of the frame): the surface
   generator's frame F (photos on the memory surface), unfilled. The splats were trained
   against a black background, so their premultiplied colour S already *is* their prediction
   where they are thin (a leaf's silhouette): compositing F under them (``S + (1 - A) F``,
   ``thin="over"``) counts the background twice. The default ``thin="ramp"`` takes S alone
   from ``A >= covered_alpha`` and ramps to F below it (``t S + (1 - t) F``, t = A /
   covered_alpha); F alone where the splats contradict the memory surface.
5. **Fill** (PatchMatch, engine.generate.fill) only where neither covers: F's holes where
   ``A < covered_alpha``. Those pixels are ``invented``.
6. The segment's frames join the splats' training views (``learn_from_generated``) and
   ``iterations_per_segment`` steps run, as the ``splat`` generator does. With ``async_learn``
   they run on a thread and a CUDA stream of their own *while* the segment is generated
   (engine.generate.segment_learner: the frames are rendered from a snapshot of the splats
   taken at the segment's start, so they are the frames of the in-line order; step j waits
   for its share of the frames); the next segment waits for them, and the loop
   (engine.generate.loop.generate_path) calls :meth:`AutoGenerator.settle` when the path
   ends. Without ``async_learn`` they run in line after the segment.

Speed (the GPU path): the fill (PatchMatch, CPU) of frame i runs on a worker thread while
the GPU renders the next frames; frames still leave in order, at most ``fill_lag`` frames
late. The surface pass of frame i samples the last frame already handed out (filled: frame
``i - 1 - fill_lag``) as its previous frame, so an earlier frame's fill is reprojected into
the later ones instead of being invented again; ``fill_lag=0`` is the in-line order. The fill
runs PatchMatch at ``fill_work_pixels`` at most (20k; the surface generator's is 60k): splats
that have not yet learned a path leave 1-8% of each frame (its far edges) to the fill, which at
60k took 260 ms per frame on the H200 machine's CPU and held the engine thread back.

``last_stats`` holds the shares of the last frame's pixels taken from each source.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.device import configure_cpu_threads, resolve_device
from engine.generate.fill import fill_holes
from engine.generate.lumigraph import sample_sources, target_rays, ulr_blend
from engine.generate.protocol import CancelToken, GeneratedFrame, SegmentRequest
from engine.generate.surface import (
    SurfaceGenerator,
    SurfaceGeneratorOptions,
    references_up,
)
from engine.render.surface import SurfaceRender, fill_surface

SPLAT_MODES = ("cuda", "always", "never")
KEEP_ON_DEVICE = 4   # frames whose tensors stay on the device (fuse, the next frame's previous frame)


@dataclass(frozen=True)
class AutoGeneratorOptions:
    splats: str = "cuda"                # use trained splats: on CUDA only / also on the CPU / never
    confident_alpha: float = 0.9        # splat opacity from which the splat render is trusted
    covered_alpha: float = 0.5          # splat opacity from which a pixel needs no fill
    surface_tolerance: float = 0.05     # relative depth difference to a confident memory surface
    # memory surface confidence from which it vetoes splats at another depth (inf: never; on
    # fern's held-out views a veto at 2.0 sent 7% of the pixels to the weaker surface frame)
    surface_confidence: float = float("inf")
    agree_sigma: float = 0.03           # RGB distance (mean abs, [0,1]) at which photo weight is 1/e
    agree_window: int = 1               # box filter (pixels) before comparing photos and splats
    photo_weight: float = 0.25          # at most this share of a confident pixel from the photos
    min_surface_fraction: float = 0.002  # fewer non-confident pixels: no surface pass (Telea fill)
    thin: str = "ramp"                  # thin splats (A < confident_alpha): "ramp" to the surface frame
                                        # below covered_alpha, or "over" it (S + (1 - A) F)
    rest_sweep: bool = False            # the surface pass for the rest runs the depth sweep (slow on
                                        # a GPU: 24 planes x references of small kernels)
    # the surface pass for the rest (typically the frame's sides the capture never saw, 5-18% of
    # the pixels) samples the best ``rest_references`` references only, without forward-warping
    # their depth (``rest_warp``): most of its time on a GPU is per-reference kernel launches
    rest_references: int = 3
    rest_warp: bool = False
    photo_references: int = 4           # references sampled for the photos on the splat surface
    iterations_per_segment: int = 50    # splat training steps after each segment
    learn_from_generated: bool = True
    async_learn: bool = True            # those steps on a thread while the segment is generated
    fill_lag: int = 3                   # frames whose fill may run on worker threads (0: in line)
    # PatchMatch's work size on the splat path (FillOptions.max_work_pixels there: a larger
    # box of holes is inpainted at a lower scale). With splats that have not yet learned a
    # path, 1-8% of each frame (the far frame edges) is filled, and PatchMatch at the surface
    # generator's 60k pixels took 260 ms per frame on the H200's CPU: the engine thread waited
    # for the fills (RESULTS.md, gpu-s23). None: the surface generator's own.
    fill_work_pixels: int | None = 20_000
    # how the splat path's fill cuts a frame's holes (FillOptions.boxes / hole_work_pixels /
    # band_rows / threads there, engine.generate.fill_groups): "groups" of holes each on its own
    # box (the thin ragged edge strips and their specks were > 8 regions, i.e. one frame-wide
    # box at a fifth of the resolution, and every step ran on the whole frame), at most
    # ``fill_hole_work_pixels`` hole pixels per box at work scale (PatchMatch's time follows
    # them; never below the frame-wide box's scale), tall strips in bands of
    # ``fill_band_rows`` rows, on ``fill_threads`` threads per fill: a fill's latency, which
    # the engine thread waits for ``fill_lag`` frames later, drops by about the threads
    # (RESULTS.md, fill-s26). "frame": the surface generator's way.
    fill_boxes: str = "groups"
    fill_hole_work_pixels: int = 600
    fill_band_rows: int = 128
    fill_threads: int = 4
    # ... and a group whose holes reach less than this from the seen pixels is Telea's (specks)
    fill_telea_reach_px: float = 4.0
    surface: SurfaceGeneratorOptions = field(default_factory=SurfaceGeneratorOptions)

    def __post_init__(self) -> None:
        if self.thin not in ("ramp", "over"):
            raise ValueError(f"thin must be 'ramp' or 'over', got {self.thin!r}")
        if self.rest_references < 1 or self.photo_references < 1:
            raise ValueError("rest_references and photo_references must be >= 1")
        if self.fill_lag < 0:
            raise ValueError(f"fill_lag must be >= 0, got {self.fill_lag}")
        if self.fill_work_pixels is not None and self.fill_work_pixels < 64:
            raise ValueError(f"fill_work_pixels must be >= 64 (or None), got {self.fill_work_pixels}")
        if self.fill_boxes not in ("groups", "frame"):
            raise ValueError(f"fill_boxes must be 'groups' or 'frame', got {self.fill_boxes!r}")
        if min(self.fill_hole_work_pixels, self.fill_band_rows, self.fill_telea_reach_px) < 0 or self.fill_threads < 1:
            raise ValueError("fill_hole_work_pixels, fill_band_rows and fill_telea_reach_px must be >= 0, "
                             "fill_threads >= 1")
        if self.splats not in SPLAT_MODES:
            raise ValueError(f"splats must be one of {', '.join(SPLAT_MODES)}, got {self.splats!r}")


def project_has_splats(root) -> bool:
    """True when ``root`` (a project folder or None) holds trained splats."""
    from engine.splat.checkpoint import SPLAT_PLY

    return root is not None and (Path(root) / SPLAT_PLY).is_file()


class AutoGenerator:
    """Splats + photos on the surface + fill (see module docstring)."""

    name = "auto"
    guidance = "surface"
    top_k = SurfaceGenerator.top_k
    fuse_below_confidence = SurfaceGenerator.fuse_below_confidence

    def __init__(self, options: AutoGeneratorOptions = AutoGeneratorOptions(), device=None,
                 project_root: str | Path | None = None) -> None:
        self.options = options
        self.device = resolve_device(device)
        self.surface = SurfaceGenerator(options.surface, device=self.device)
        rest = options.surface if options.rest_sweep else replace(options.surface,
                                                                  sweep=replace(options.surface.sweep, enabled=False))
        rest = replace(rest, warp_references=options.rest_warp and options.surface.warp_references)
        self._rest = SurfaceGenerator(rest, device=self.device)   # the pass under the splats
        self.project_root = None if project_root is None else Path(project_root)
        self._splat = None
        self._up: np.ndarray | None = None   # world up [3] of the segment's references (fill guide)
        self.last_stats: dict[str, float] = {}
        self._on_device: dict[int, tuple] = {}   # id(frame) -> (frame, its tensors), see frame_on_device

    @property
    def uses_splats(self) -> bool:
        """Whether frames come from the splats (trained splats found, and allowed here)."""
        mode = self.options.splats
        if mode == "never" or (mode == "cuda" and self.device.type != "cuda"):
            return False
        return self._splat is not None or project_has_splats(self.project_root)

    @property
    def last_fill_method(self) -> str:
        return self.surface.last_fill_method

    def _splat_generator(self):
        if self._splat is None:
            from engine.splat.generator import SplatGenerator, SplatGeneratorOptions

            o = self.options
            self._splat = SplatGenerator(SplatGeneratorOptions(iterations_per_segment=o.iterations_per_segment,
                                                               learn_from_generated=o.learn_from_generated),
                                         device=self.device, project_root=self.project_root, base=self.surface)
        return self._splat

    def generate(self, request: SegmentRequest, cancel: CancelToken | None = None) -> Iterator[GeneratedFrame]:
        if not self.uses_splats:
            yield from self.surface.generate(request, cancel)
            return
        self.settle()
        splat = self._splat_generator()
        splat.prepare(request)
        sources = self.surface.reference_sources(request)   # best first
        self._up = references_up(sources)                    # the fill's elevation guide
        o = self.options
        learns = o.iterations_per_segment > 0 or o.learn_from_generated
        learner = None
        trainer = splat.trainer
        if learns and o.async_learn:
            from engine.generate.segment_learner import SegmentLearner, snapshot_params

            # the segment renders from the splats as they are now, while its training steps
            # update the live parameters on a thread (engine.generate.segment_learner)
            self._render_from = (snapshot_params(trainer.params), trainer.sh_degree_at(trainer.step))
            learner = SegmentLearner(splat, len(request.targets), o.iterations_per_segment,
                                     o.learn_from_generated, cancel, seed=request.segment_id)
            self._learner = learner
        else:
            self._render_from = None
        lag = o.fill_lag
        pool = None
        if lag:
            from concurrent.futures import ThreadPoolExecutor

            # lag + 1 threads: up to lag + 1 fills are out when the oldest is waited for, and
            # the newest starts at once instead of behind it (which thread fills changes nothing)
            pool = ThreadPoolExecutor(lag + 1, thread_name_prefix="auto-fill", initializer=configure_cpu_threads)
        previous = request.context[-1] if request.context else None
        frames, inflight = [], deque()
        done = False
        try:
            for i, target in enumerate(request.targets):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                guide = request.guidance[i] if i < len(request.guidance) else None
                part = self._render_unfilled(target, guide, sources, previous, request.voxel_size)
                inflight.append((pool.submit(self._fill, part) if lag else part, part))
                while len(inflight) > lag or (i == len(request.targets) - 1 and inflight):
                    job, part = inflight.popleft()
                    previous = job.result() if lag else self._fill(job)
                    self._keep_on_device(previous, part)
                    frames.append(previous)
                    if learner is not None:
                        learner.add(previous)
                    yield previous
            done = True
        finally:
            for job, _ in inflight:
                if lag:
                    job.cancel()
            if pool is not None:
                pool.shutdown(wait=True)
            self._render_from = None
            if learner is not None:
                learner.close() if done else learner.abort()
        if learns and learner is None:
            splat.learn(frames, cancel)

    _learner = None
    _render_from = None

    def settle(self) -> None:
        """Wait for the last segment's training steps (on a thread with ``async_learn``);
        their error, if any, is raised here (a cancelled run just stops early)."""
        learner, self._learner = self._learner, None
        self._on_device.clear()
        if learner is not None:
            learner.join()

    # ------------------------------------------------------------------ frames kept on the device
    def _keep_on_device(self, frame: GeneratedFrame, part) -> None:
        """Keep ``frame``'s tensors (``part``: what :meth:`_render_unfilled` made of it, before
        its fill) on the device, the filled pixels uploaded, for :meth:`frame_on_device`;
        the last :data:`KEEP_ON_DEVICE` frames only."""
        unfilled, holes_np, _, dev = part
        if dev is None:
            return
        color, depth, confidence, invented, _ = dev
        if frame.color is not unfilled.color:
            # the fill changed the hole pixels only (engine.generate.fill keeps known pixels)
            # by the holes' flat numbers from the host mask (a device mask would be a nonzero:
            # a host sync per frame)
            at = torch.as_tensor(np.flatnonzero(holes_np), device=color.device)
            color.view(-1, 3)[at] = torch.as_tensor(np.ascontiguousarray(frame.color[holes_np]),
                                                    device=color.device).float()
        self._on_device[id(frame)] = (frame, (color, depth, confidence, invented))
        while len(self._on_device) > KEEP_ON_DEVICE:
            del self._on_device[next(iter(self._on_device))]

    def frame_on_device(self, frame: GeneratedFrame):
        """``frame``'s (color [H,W,3], depth [H,W], confidence [H,W], invented [H,W] bool) as
        tensors on the device, equal to its numpy arrays, when this generator still holds
        them (one of its last frames), else None: the loop fuses them without uploading."""
        hit = self._on_device.get(id(frame))
        return hit[1] if hit is not None and hit[0] is frame else None

    def _previous_source(self, previous):
        """``previous`` as a sampling source from its tensors on the device (what
        ``make_source(camera, color, depth, device, invented)`` makes of its numpy arrays,
        without the uploads); None when they are no longer held."""
        dev = self.frame_on_device(previous) if previous is not None else None
        if dev is None:
            return None
        from engine.generate.lumigraph import make_source

        color, depth, _, invented = dev
        return make_source(previous.camera, color, depth, self.device, invented)

    # ------------------------------------------------------------------ one frame
    def _render_splats(self, target):
        """The splats rendered into ``target`` (RenderOutput): from the segment's snapshot
        while its training steps run on a thread, else from the trainer."""
        trainer = self._splat_generator().trainer
        if self._render_from is None:
            return trainer.render(target)
        from engine.splat.render import render_params

        params, degree = self._render_from
        return render_params(params, target, degree, trainer.backend, trainer.options.background)

    def _guide(self, guide, target, voxel_size):
        if guide is None:
            return None
        if not isinstance(guide, SurfaceRender):
            guide = fill_surface(guide, voxel_size, target)
        return guide

    def _confident(self, alpha, depth, guide) -> torch.Tensor:
        """[H,W] bool: splats opaque enough and consistent with a confident memory surface."""
        o = self.options
        ok = (alpha >= o.confident_alpha) & (depth > 0)
        # the default surface_confidence (inf) vetoes nothing (the memory's confidences are
        # finite): no uploads, no compares (a dozen launches per frame on a GPU)
        if guide is not None and np.isfinite(o.surface_confidence):
            gd = guide.depth.to(self.device)
            sure = guide.mask.to(self.device) & (gd > 0) & (guide.confidence.to(self.device) >= o.surface_confidence)
            ok &= ~(sure & ((depth - gd).abs() > o.surface_tolerance * gd))
        return ok

    def _photos(self, target, depth, sources, voxel_size, splat_color):
        """Photos sampled on the splat surface -> (color [H,W,3], weight [H,W] in [0, photo_weight])."""
        o, so = self.options, self.options.surface
        if not sources or o.photo_weight <= 0:
            return None, None
        rays, eye = target_rays(target, self.device)
        x = eye + rays * depth[..., None]
        measured = torch.zeros(depth.shape, dtype=torch.bool, device=self.device)
        samples = sample_sources(sources, x, eye, so, measured, so.depth_tolerance_voxels * voxel_size)
        color, weight, _ = ulr_blend(samples, so.blend_k, verified=False)
        k = o.agree_window
        low = [F.avg_pool2d(c.permute(2, 0, 1)[None], k, stride=1, padding=k // 2, count_include_pad=False)
               for c in (color, splat_color)]
        dist = (low[0] - low[1]).abs().mean(1)[0]
        w = o.photo_weight * torch.exp(-(dist / o.agree_sigma) ** 2) * (weight > 0)
        return color, w

    @torch.no_grad()
    def _render_unfilled(self, target, guide, sources, previous, voxel_size: float):
        """GPU part of one frame -> (frame with its holes unfilled, holes [H,W] bool, whether
        they are few enough for Telea)."""
        o = self.options
        out = self._render_splats(target)
        s_color, alpha = out.color.clamp(0, 1), out.alpha.clamp(0, 1)
        # (python scalars in torch.where: no zeros tensor made, the same values)
        s_depth = torch.where(alpha > 1e-3, out.depth, 0.0)
        guide = self._guide(guide, target, voxel_size)
        conf = self._confident(alpha, s_depth, guide)
        color = s_color
        p_color, p_w = self._photos(target, s_depth, sources[:o.photo_references], voxel_size, s_color)
        if p_color is not None:
            mix = torch.where(conf, p_w, 0.0)[..., None]
            color = s_color + mix * (p_color - s_color)
        covered = alpha >= o.covered_alpha
        depth = torch.where(covered, s_depth, 0.0)
        confidence = torch.where(conf, 0.9 * alpha, 0.6 * alpha)
        rest = ~conf
        rest_share = float(rest.float().mean())
        if rest_share > o.min_surface_fraction:
            # the surface pass stays on the device: its frame's tensors, and the previous
            # frame's sampling source from the tensors kept of it (no download, no upload)
            b_color, b_depth, b_conf, b_inv = self._rest.render_frame(
                target, guide, sources[:o.rest_references], previous, voxel_size, fill=False,
                prev_source=self._previous_source(previous), on_device=True)
            holes = self._rest.last_holes
            # splats that contradict the memory's surface give way to it entirely
            opaque = (alpha >= o.confident_alpha) & (s_depth > 0)
            a = torch.where(opaque, 0.0, alpha)[..., None]
            if o.thin == "over":
                under = s_color * a / alpha.clamp_min(1e-6)[..., None] + (1 - a) * b_color
            else:
                t = (a / max(o.covered_alpha, 1e-6)).clamp(0, 1)
                under = t * s_color + (1 - t) * b_color
            color = torch.where(rest[..., None], under, color)
            depth = torch.where(rest & ~(covered & ~opaque), b_depth, depth)
            confidence = torch.where(rest, torch.maximum(0.9 * a[..., 0], (1 - a[..., 0]) * b_conf), confidence)
            inv = b_inv & ~holes
            invented = rest & (a[..., 0] < o.covered_alpha) & (inv | holes)
            holes = rest & holes & (a[..., 0] < o.covered_alpha)
        else:
            holes = rest & ~covered
            invented = holes            # not modified below: no copy
        # one download: colour, depth, confidence, holes, invented and the stats in one buffer
        # (the frame's arrays are views of it); the tensors stay for frame_on_device
        h, w = holes.shape
        color_out = color.clamp(0, 1).float()
        depth_out = depth.float()
        conf_out = torch.where(holes, 0.1, confidence.clamp(0, 1)).float()
        inv_out = invented | holes
        photos = (((p_w > 0.05) & conf).float().sum() / conf.numel() if p_w is not None
                  else torch.zeros((), device=conf.device))
        stats = torch.stack([conf.float().mean(), photos.float()])
        flags = holes.float() + 2 * inv_out.float()       # holes and invented in one plane (0..3)
        host = torch.cat([color_out.reshape(-1), depth_out.reshape(-1), conf_out.reshape(-1),
                          flags.reshape(-1), stats]).cpu().numpy()
        n = h * w
        color_np = host[:3 * n].reshape(h, w, 3)
        planes = host[3 * n:6 * n].reshape(3, h, w)
        holes_np = (planes[2] == 1) | (planes[2] == 3)
        self.last_stats = {"splats": float(host[6 * n]), "rest": rest_share, "photos": float(host[6 * n + 1]),
                           "filled": float(holes_np.mean())}
        frame = GeneratedFrame(target, color_np, planes[0], planes[1], planes[2] >= 2)
        return frame, holes_np, rest_share <= o.min_surface_fraction, (color_out, depth_out, conf_out, inv_out, holes)

    def _fill(self, part) -> GeneratedFrame:
        """The frame of :meth:`_render_unfilled` with its holes filled (numpy / OpenCV /
        PatchMatch only: runs on a worker thread)."""
        frame, holes, few = part[:3]
        if not holes.any():
            return frame
        color = fill_holes(frame.color, holes, frame.depth, self.fill_options(self.options, few),
                           camera=frame.camera, up=self._up).color
        return replace(frame, color=color)

    @staticmethod
    def fill_options(o: AutoGeneratorOptions, few: bool = False):
        """The FillOptions of the splat path's fill under ``o`` (``few``: a few holes, Telea)."""
        fill_opts = o.surface.fill
        if o.fill_work_pixels is not None:
            fill_opts = replace(fill_opts, max_work_pixels=min(fill_opts.max_work_pixels, o.fill_work_pixels))
        if o.fill_boxes == "groups":
            fill_opts = replace(fill_opts, boxes="groups", hole_work_pixels=o.fill_hole_work_pixels,
                                band_rows=o.fill_band_rows, threads=o.fill_threads,
                                telea_reach_px=o.fill_telea_reach_px)
        if few:
            fill_opts = replace(fill_opts, method="telea")    # a few pixels: Telea
        return fill_opts

    def render_frame(self, target, guide, sources, previous, voxel_size: float) -> GeneratedFrame:
        """One frame, filled (what :meth:`generate` does per frame, in line)."""
        self._up = references_up(sources)
        return self._fill(self._render_unfilled(target, guide, sources, previous, voxel_size))

    # ------------------------------------------------------------------ warm-up
    @torch.no_grad()
    def warm(self, memory, views, cancel: CancelToken | None = None, frames: int = 2) -> bool:
        """Pay the first Generate's one-time costs now (the studio runs this on the engine
        thread when a project with splats opens and after splat training): the trained splats
        read and their trainer built, and ``frames`` throwaway frames at the first captured
        view's camera through every stage of :meth:`generate`'s device path (guidance, splat
        render, photos, rest pass, compose, fill, the previous frame's source, a fuse into a
        scratch memory), so the device's kernels are loaded and its allocator holds their
        buffers. Measured on an H200 (benchmarks/RESULTS.md, session 26): the first Generate
        of a process otherwise takes several seconds longer than the next.

        Nothing the project holds changes: ``memory`` is only rendered, no training step runs,
        the splats' parameters stay; the warm request's references join the splats' training
        views, as a Generate's references do. False (nothing done) where this generator does
        not use splats (the CPU path has no such costs) or there are no views."""
        if not self.uses_splats or not len(views) or memory.is_empty:
            return False
        from engine.generate.loop import LoopOptions, fuse_generated_frame, reference_views
        from engine.memory import GeometryMemory
        from engine.render.retrieval import retrieve_views
        from engine.render.surface import render_surface

        self.settle()
        camera = list(views)[0].camera
        retrieved = retrieve_views(memory, views, [camera], self.top_k)
        if not retrieved:
            return False
        guide = render_surface(memory, camera)
        request = SegmentRequest(-1, [camera] * frames, [guide] * frames, reference_views(views, retrieved),
                                 [], memory.voxel_size)
        self._splat_generator().prepare(request)
        sources = self.surface.reference_sources(request)
        self._up = references_up(sources)
        scratch = GeometryMemory(memory.voxel_size, device=memory.device)
        previous = None
        try:
            for _ in range(frames):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                part = self._render_unfilled(camera, guide, sources, previous, memory.voxel_size)
                previous = self._fill(part)
                self._keep_on_device(previous, part)
                kept = self.frame_on_device(previous) if torch.device(memory.device).type == self.device.type else None
                fuse_generated_frame(scratch, previous, guide, -1, LoopOptions(), self.fuse_below_confidence, 0.0, kept)
        finally:
            self._on_device.clear()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return True
