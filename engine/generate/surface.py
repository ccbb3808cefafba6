"""The surface generator: the captured photos sampled backward onto a complete surface.

Per target frame (view-dependent texture mapping / unstructured lumigraph):
1. **Surface.** Target depth from the memory's surface render (``engine.render.surface``;
   the loop hands it in as guidance). Where the memory has no surface, the depth is
   completed by a push-pull of inverse depth that never comes nearer than the farthest
   known depth close by (disocclusions show the background); those pixels are *guessed*.
   Stray depth never spreads: memory points drawn in front of their surroundings or alone in
   an empty part of the render are no surface, the previous frame's stray near pixels are
   dropped before its depth is carried over, the background bias counts only known depth
   that its neighbours share, and the sweep moves only whole regions (plus-shaped specks).
   The previous frame's depth, carried over as known (not swept again), is kept only where it
   is not in front of the memory's surface and not a near blob among the guessed depth around
   it (a guess of one frame would otherwise travel along the path, fused back into the memory
   on the way: livingroom's beyond speckles); there the memory's depth or the completion
   around the blob is held, unswept (as cheap as the carry).
2. **Backward sampling.** Every target pixel's surface point is projected into each
   retrieved reference (and the previous generated frame of the segment) and its color
   sampled bilinearly where the reference's own depth confirms that it sees the point:
   ``|z_ref - depth_ref(u,v)| <= depth_tolerance * z_ref (+ 2 voxels)`` where both depths
   were measured; where either was completed (a guess), a measured reference depth must
   agree within ``unverified_tolerance`` and a completed one is no evidence: the sample
   counts ``unverified_weight`` times; no test where the reference has no depth. Pixels that
   no reference passes strictly (depth off at an edge or a thin structure) take this rule.
3. **Unstructured-lumigraph blending.** Penalty per reference = angle between the target's
   and the reference's rays to the point (degrees) + ``resolution_weight`` * (1 - d_min /
   d_max); the ``blend_k`` best visible references take ``w = (1 - p / p_k+1) / p`` (Buehler
   et al. 2001), feathered near their image borders; unverified samples count
   ``unverified_weight`` times. The previous frame only counts where no reference sees.
   A sample drawn through stretched geometry (one reference pixel over many target pixels
   along one axis: a grazing angle, a guessed surface far from what the reference measured)
   pays a penalty; where every reference is stretched beyond ``max_stretch`` the pixel is a
   smear, not an observation: blurred and ``invented`` (``stretch_mode``).
4. **Fallbacks.** The memory's own color where no reference sees but the memory has the
   surface; then **real hole filling** (``engine.generate.fill``: PatchMatch) for what
   nothing saw: ``invented``.
5. **No depth at all** (no memory surface in view, no previous frame): the references are
   sampled on a fronto-parallel plane at their median depth, and every pixel is marked
   ``invented`` (the frame is a guess, and says so).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from engine.device import resolve_device
from engine.generate.fill import FillOptions, fill_holes
from engine.generate.lumigraph import (
    PrefetchSlot,
    Sample,
    Source,
    complete_inverse_depth,
    limit_stretch,
    make_source,
    near_specks,
    prefetch_reference_depth,
    sample_source,
    sample_sources,
    stretch_smeared,
    target_rays,
    ulr_blend,
    warp_depth,
    warp_reference_depth,
)
from engine.generate.protocol import CancelToken, GeneratedFrame, SegmentRequest
from engine.generate.stretch import focal_px
from engine.generate.sweep import SweepOptions, sweep_guessed_depth
from engine.geometry.scene_frame import up_from_cameras
from engine.memory.store import INVENTED_VIEW
from engine.render.surface import (
    SurfaceRender,
    box_mean,
    closing,
    fill_surface,
    front_push_pull,
)

__all__ = ["SurfaceGenerator", "SurfaceGeneratorOptions", "complete_inverse_depth", "make_source",
           "render_segment", "target_rays"]


def render_segment(request: SegmentRequest, sources, render_frame, cancel: CancelToken | None = None,
                   prefetch=None) -> Iterator[GeneratedFrame]:
    """The segment's frames in order: ``render_frame(target, guide, sources, previous,
    voxel_size)`` per target camera, each frame handed to the next as ``previous`` (the
    segment's context frame to the first); checks ``cancel`` before each frame.
    ``prefetch(sources, target, voxel_size)``, when given, is called before the frame's guide
    is rendered (work that needs no guide may start on another thread meanwhile)."""
    previous = request.context[-1] if request.context else None
    for i, target in enumerate(request.targets):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if prefetch is not None:
            prefetch(sources, target, request.voxel_size)
        guide = request.guidance[i] if i < len(request.guidance) else None
        frame = render_frame(target, guide, sources, previous, request.voxel_size)
        previous = frame
        yield frame


@dataclass(frozen=True)
class SurfaceGeneratorOptions:
    max_references: int = 6
    blend_k: int = 4
    consensus: float = 0.0             # color distance (RGB, [0,1]) of the outlier reweighting
    resolution_weight: float = 10.0    # degrees of penalty for a 2x resolution mismatch ~ 5
    # a sample through stretched geometry (lumigraph.footprint_stretch: one reference pixel
    # drawn over many target pixels along one axis more than along the other, or over many in
    # all directions beyond ``max_magnification``; the reference saw the surface at a grazing
    # angle, or the surface is a guess far from what the reference measured) is a smear of a
    # few reference pixels: it pays ``stretch_weight`` degrees of penalty per doubling of the
    # stretch beyond ``stretch_free`` (a less stretched reference wins), and where every
    # reference is stretched beyond ``max_stretch`` the pixel was not seen (0 = off). Then
    # ``stretch_mode`` "blur": the smear, blurred (``stretch_blur`` px box, twice), marked
    # invented with confidence <= 0.1; "mark": the smear as it is, marked; "fill": a hole
    # (the fill layers, the previous frame, the memory's color, PatchMatch). On office's
    # beyond path PatchMatch's fill of these (up to 60% of a frame) was a wallpaper of desk
    # objects and a gravel texture; the blur reads as out of focus (benchmarks/RESULTS.md,
    # stretch-s24). Held-out, stretch_weight 0 / 2: fern 22.64 / 22.62 dB (before: 22.64),
    # office 20.39 / 20.51 (20.36)
    stretch_weight: float = 2.0
    stretch_free: float = 1.5
    max_stretch: float = 3.0
    max_magnification: float = 6.0
    stretch_window: int = 9            # pixels: the stretch is the local fit over this square
    stretch_mode: str = "blur"         # "blur" | "mark" | "fill"
    stretch_blur: int = 21
    depth_tolerance: float = 0.02      # relative, against a measured reference depth
    depth_tolerance_voxels: float = 2.0  # ... plus this many memory voxels (its depth error)
    unverified_tolerance: float = 0.10  # relative, against a completed reference depth
    unverified_weight: float = 0.25
    border_px: float = 12.0            # samples feather out over this many pixels at a border
    memory_confidence_scale: float = 3.0
    occluder_confidence: float = 0.3   # generated memory content at least this confident occludes
    # memory surface weaker than this is only a hint (the guessed depth's start, which the
    # sweep may move); the references' matched depth is always known. Fern held-out, matched
    # only / completed depth: 0.3 -> 22.58 / 18.68 dB, 1.5 -> 22.85 / 20.10, inf -> 22.88 / 20.61
    known_confidence: float = float("inf")
    background_reach: int = 9         # guessed depth is never nearer than the known depth this close
    # ... taken over known pixels whose whole square of this size is known: one stray far pixel
    # no longer pushes a plus-shaped patch around it back (specks on fern's paths); 1 = off
    background_support: int = 3
    # gaps of the known surface up to this many pixels wide (between the splats of references
    # the target magnifies, between matched pixels of a textured object) take the front-most
    # interpolation of the surface around them, not the background-biased guess nor the sweep
    # (which printed the background, or dots, into objects); 0 = off
    gap_px: int = 7
    gap_strict: bool = False           # interpolated gap pixels get the strict visibility test
    use_previous_frame: bool = True
    # the previous frame's depth, carried over as known, is dropped where it is nearer than the
    # memory's surface by more than this (relative; 0 = off): the memory's depth is held there;
    # carried or hint depth in front of the guessed surface around it (``near_specks`` over this
    # square, pixels at half resolution; 0 = off) takes the completed depth around it instead.
    # Livingroom beyond, near-blob pixels of frames 5 / 6 / 7 (benchmarks/bench_real_views.py's
    # near-blob line, both 0 vs the defaults): 25.6 / 16.7 / 9.9% -> 2.7 / 1.9 / 1.9%
    previous_front_tolerance: float = 0.1
    previous_speck_window: int = 15
    previous_speck_fraction: float = 0.6
    previous_hold: bool = True         # dropped pixels are not swept (False: swept, +CPU)
    # fill once along a segment: what PatchMatch invented in a frame is kept as an image layer
    # (that frame's color and depth) and sampled backward by the later frames of the segment,
    # which inpaint only what no layer covers (no re-invention, no resampling chain)
    reuse_fills: bool = True
    max_fill_layers: int = 12
    # invented memory content (generated, weak) is used only where it forms a surface: at
    # least this share of a ``weak_window``-pixel square around the pixel holds it
    # (isolated fused points came back as plus-shaped specks)
    weak_density: float = 0.5
    weak_window: int = 7
    # memory content in front of most of the memory surface in this square (pixels) is a
    # speck, whatever its footprint (stray points, captured or fused, are drawn as plus-shaped
    # discs that pass the density test): neither depth nor color; 0 = off
    speck_window: int = 11
    warp_references: bool = True       # refine the surface with the references' measured depth
    sweep: SweepOptions = field(default_factory=SweepOptions)
    fill: FillOptions = field(default_factory=FillOptions)


class SurfaceGenerator:
    """Photos sampled backward onto the memory's surface, PatchMatch for the rest."""

    name = "surface"
    guidance = "surface"   # the loop renders the memory as a surface for this generator
    top_k = 6              # references the loop retrieves for it unless told otherwise
    # observed pixels fuse only where the memory has no surface: the captured photos are
    # sampled again by later frames anyway, and re-fusing their colors on a slightly
    # different depth over the captured surface stacks ghost layers (seen on fern's orbit)
    fuse_below_confidence = 0.0
    # frame pixels at most this confident are colors on a guessed depth (see render_frame):
    # the loop fuses them as a guess (INVENTED_VIEW), never as a measured surface
    guessed_confidence = 0.2

    def __init__(self, options: SurfaceGeneratorOptions = SurfaceGeneratorOptions(), device=None) -> None:
        self.options = options
        self.device = resolve_device(device)
        self._sources: dict[int, tuple] = {}    # view id -> (camera, image, depth, Source)
        self._prefetched = PrefetchSlot()        # the next frame's reference-depth warp, started ahead
        self.last_fill_method = "none"

    def reference_sources(self, request: SegmentRequest) -> list[Source]:
        """The request's references, best first (at most ``max_references``), as Sources on
        this generator's device. The last segment's are reused while a reference is the very
        same camera/image/depth objects (identity, not ``id()``: a freed object's id can be
        reused); the cache holds the last segment's references only."""
        refs = sorted(request.references, key=lambda r: -r.weight)[: self.options.max_references]
        out, keep = [], {}
        for r in refs:
            hit = self._sources.get(r.view_id)
            if hit is not None and hit[0] is r.camera and hit[1] is r.image and hit[2] is r.depth:
                src = hit[3]
            else:
                src = make_source(r.camera, r.image, r.depth, self.device, completed=r.completed)
            keep[r.view_id] = (r.camera, r.image, r.depth, src)
            out.append(src)
        self._sources = keep   # views of the last segment stay cached for the next
        return out

    def generate(self, request: SegmentRequest, cancel: CancelToken | None = None) -> Iterator[GeneratedFrame]:
        self._layers = [] if self.options.reuse_fills else None
        if self._layers is not None and request.context:
            # the previous segment's last frame hands on what it invented
            self._add_layer(request.context[-1], np.asarray(request.context[-1].invented, bool))
        try:
            # the references' depth warp (no guide needed) runs on a CPU worker while the
            # memory is rendered (engine.generate.lumigraph.prefetch_reference_depth)
            prefetch = (partial(prefetch_reference_depth, slot=self._prefetched)
                        if self.options.warp_references else None)
            yield from render_segment(request, self.reference_sources(request), self.render_frame, cancel,
                                      prefetch)
        finally:
            self._layers = None

    _layers: list | None = None
    # a dict to record the next frames' intermediate layers in (diagnostics, see _trace)
    trace: dict | None = None

    def _trace(self, **layers) -> None:
        """Record [H,W] tensors of one frame (known / guessed depth, which branch drew each
        pixel) in ``self.trace`` as numpy arrays when tracing is on."""
        if self.trace is not None:
            self.trace.update({k: v.detach().cpu().numpy().copy() for k, v in layers.items()})

    def _add_layer(self, frame: GeneratedFrame, mask: np.ndarray) -> None:
        """Keep ``frame``'s pixels under ``mask`` (invented) as a fill layer of the segment."""
        if self._layers is None or not mask.any() or frame.depth is None or not (frame.depth > 0).any():
            return
        src = make_source(frame.camera, frame.color, frame.depth, self.device, invented=mask)
        if src.depth is None:
            return
        self._layers.append(src)
        del self._layers[:-max(1, self.options.max_fill_layers)]

    def _sample_layers(self, x, eye, need):
        """The segment's fill layers sampled at surface points x [H,W,3] -> (color [H,W,3],
        taken [H,W] bool): per pixel of ``need``, the layer with the lowest penalty among those
        that see the point (the loose depth test of guessed references) and had invented it;
        the newest wins ties."""
        opt = self.options
        best_pen = torch.full(need.shape, float("inf"), device=self.device)
        color = torch.zeros(*need.shape, 3, device=self.device)
        if x.is_cuda:
            # on a GPU the whole frame in one go: selecting the pixels would sync the stream
            loose = torch.ones_like(need)    # a layer's depth is a guess: the loose depth test
            for layer in reversed(self._layers):
                s = sample_source(layer, x, eye, opt, loose)
                ok = need & torch.isfinite(s.penalty) & s.invented & (s.penalty < best_pen)
                color = torch.where(ok[..., None], s.color, color)
                best_pen = torch.where(ok, s.penalty, best_pen)
            return color, torch.isfinite(best_pen)
        # only the pixels of ``need`` are sampled (per-pixel arithmetic: the same values as
        # sampling the whole frame, at a fraction of the cost)
        xs = x[need][None]                                   # [1,N,3]
        bp = torch.full(xs.shape[:2], float("inf"), device=self.device)
        cs = torch.zeros(*xs.shape[:2], 3, device=self.device)
        loose = torch.ones(xs.shape[:2], dtype=torch.bool, device=self.device)  # a layer's depth is a guess
        for layer in reversed(self._layers):
            s = sample_source(layer, xs, eye, opt, loose)
            ok = torch.isfinite(s.penalty) & s.invented & (s.penalty < bp)
            cs = torch.where(ok[..., None], s.color, cs)
            bp = torch.where(ok, s.penalty, bp)
        color[need] = cs[0]
        best_pen[need] = bp[0]
        return color, torch.isfinite(best_pen)

    # ------------------------------------------------------------------ one frame
    def _weak_memory(self, guide: SurfaceRender, also=None) -> tuple[torch.Tensor, torch.Tensor]:
        """([H,W] bool weak, [H,W] bool dense): pixels where the memory shows generated
        content that is a guess (invented, tagged ``INVENTED_VIEW``, or fused with a low
        confidence, or ``also``) or a near speck (any content, ``speck_window``), and those of
        them that form a surface (at least ``weak_density`` of the ``weak_window`` square
        around them is weak, specks never): isolated ones are specks, not a surface."""
        o = self.options
        k = int(o.weak_window) | 1
        base, speck = self._weak_parts(guide)
        weak = base | speck
        if also is not None:
            weak = weak | (guide.mask & also)
        if o.weak_density <= 0:
            return weak, weak & ~speck
        # (no ``weak.any()`` check: without weak pixels the density test gives the same empty
        # mask, and the check was a host sync per call on a GPU)
        dens = box_mean(weak[None, None].float(), k)[0, 0]
        return weak, weak & (dens >= o.weak_density) & ~speck

    def _weak_parts(self, guide: SurfaceRender) -> tuple[torch.Tensor, torch.Tensor]:
        """The parts of :meth:`_weak_memory` that depend on ``guide`` alone: ([H,W] bool weak
        generated content, [H,W] bool specks). Computed once per guide (a frame asks twice:
        the same near-speck count of an 11x11 square, ~0.2 s on a CPU, was done twice)."""
        hit = self._weak_cache
        if hit is not None and hit[0] is guide:
            return hit[1]
        o = self.options
        weak = guide.mask & ((guide.source_view == INVENTED_VIEW)
                             | ((guide.segment >= 0) & (guide.confidence < o.occluder_confidence)))
        k = int(o.weak_window) | 1
        if o.weak_density > 0:     # (no generated content: nothing added; no host sync to check)
            # generated content that is not a surface here (isolated points of an earlier
            # frame drawn in front of a measured surface) is a guess too: no occluder, no depth
            gen = (guide.mask & (guide.segment >= 0))[None, None].float()
            share = box_mean(gen, k)[0, 0]
            weak |= guide.mask & (guide.segment >= 0) & (share < o.weak_density)
        speck = torch.zeros_like(weak)
        if o.speck_window > 1 and bool(guide.mask.any()):
            drawn = torch.where(guide.mask, guide.depth, 0.0)
            speck = guide.mask & near_specks(drawn, int(o.speck_window) | 1)
            if o.weak_density > 0:
                # a few memory pixels with no memory surface around them (a stray point far
                # behind, drawn where the memory is empty) are no surface either
                share = box_mean(guide.mask[None, None].float(), k)[0, 0]
                speck |= guide.mask & (share < 0.5 * o.weak_density)
        self._weak_cache = (guide, (weak, speck))
        return weak, speck

    _weak_cache: tuple | None = None

    def _stray_previous(self, warped, carry, depth, hint) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the previous frame's depth ``warped`` [H,W] (carried to this camera at the
        pixels ``carry``) is no surface to keep: ([H,W] bool front, [H,W] bool blob).
        ``front``: carried pixels nearer by more than ``previous_front_tolerance`` (relative)
        than the memory's surface ``depth`` where the memory has one (``hint``). ``blob``:
        carried or hint pixels in front of the guessed surface around them (``near_specks`` of
        the carried and hint depth over ``previous_speck_window`` pixels, at half resolution).
        The carried depth counts as known (never swept again), so a stray near guess of one
        frame (a sweep's wrong plane on a white wall, a fused guess drawn as a plus-shaped
        disc) travelled along the path, was fused back as a dense weak memory surface, and
        sampled the photos elsewhere: white checker speckles on livingroom's beyond frames 4-7."""
        o = self.options
        front = torch.zeros_like(carry)
        if o.previous_front_tolerance > 0:
            front = carry & hint & (warped < depth * (1.0 - o.previous_front_tolerance))
        blob = torch.zeros_like(carry)
        k = int(o.previous_speck_window) | 1
        if o.previous_speck_window > 1:
            both = torch.where(carry & ~front, warped, torch.where(hint, depth, 0.0))
            h, w = both.shape
            small = near_specks(both[::2, ::2].contiguous(), k, fraction=o.previous_speck_fraction)
            blob = small.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w] & ((carry & ~front) | hint)
        return front, blob

    def _surface_depth(self, target, guide, sources, previous, voxel_size, prev_source=None):
        """(depth [H,W] or zeros, known [H,W] bool, guide SurfaceRender or None, hint [H,W]
        bool: pixels whose depth is only a weak memory surface, kept as the guess's start,
        gap [H,W] bool: interpolated gaps of the known surface, held [H,W] bool: guesses never
        swept where the previous frame's carried depth was dropped: the memory's depth where
        depth > 0, else (depth 0) the completion around them; see :meth:`_stray_previous`).

        The references' measured depth, forward-warped, gives the precise surface (sharp
        silhouettes); the memory's surface render covers the rest, and wins where it holds
        generated content in front of what the references show."""
        dev = self.device
        h, w = target.height, target.width
        if guide is not None and not isinstance(guide, SurfaceRender):
            guide = fill_surface(guide, voxel_size, target)
        if guide is not None:
            guide = SurfaceRender(*(t.to(dev) if isinstance(t, torch.Tensor) else t
                                    for t in (getattr(guide, f) for f in guide.__dataclass_fields__)))
            depth, known = guide.depth, guide.mask & (guide.depth > 0)
            weak, dense = self._weak_memory(guide)
            self._trace(memory_segment=guide.segment, memory_view=guide.source_view, memory_depth=guide.depth,
                        memory_confidence=guide.confidence, memory_mask=guide.mask, memory_weak=weak, memory_dense=dense)
            # generated content fused with a guessed depth (low confidence) or invented is a
            # guess again
            known &= ~weak
            # a surface the memory holds only weakly (completed depth, one uncertain view) is
            # a hint: it starts the guessed depth, which the sweep may still move; so does
            # invented content where it forms a surface (what earlier segments invented)
            hint = known & (guide.confidence < self.options.known_confidence)
            known &= ~hint
            hint |= dense & (guide.depth > 0)
        else:
            depth, known = torch.zeros(h, w, device=dev), torch.zeros(h, w, dtype=torch.bool, device=dev)
            hint = known.clone()
        if self.options.warp_references:
            warped, covered = warp_reference_depth(sources, target, voxel_size, self._prefetched)
            take = covered
            if guide is not None:
                band = torch.clamp(self.options.depth_tolerance * warped, min=2 * voxel_size)
                # observed generated content in front of what the references show occludes
                # it; invented content (low confidence) never hides a measured surface
                observed = (guide.confidence >= self.options.occluder_confidence) & ~weak
                occluder = known & (guide.segment >= 0) & observed & (depth < warped - band)
                take = take & ~occluder
            depth = torch.where(take, warped, depth)
            known = known | take
        gap = torch.zeros_like(known)
        k = int(self.options.gap_px) | 1
        if k > 1 and bool(known.any()) and not bool(known.all()):
            gap = closing(known, k) & ~known
            if bool(gap.any()):
                inv = torch.where(known, 1.0 / depth.clamp_min(1e-6), 0.0)
                vals, reached, _ = front_push_pull(inv[None], torch.where(known, depth, 0.0),
                                                   known, int(np.ceil(np.log2(k))) + 1)
                gap &= reached & (vals[0] > 0)
                depth = torch.where(gap, 1.0 / vals[0].clamp_min(1e-9), depth)
        held = torch.zeros_like(known)
        if not bool(known.all()) and previous is not None and self.options.use_previous_frame:
            prev = prev_source or make_source(previous.camera, previous.color, previous.depth, dev)
            if prev.depth is not None:
                # the previous frame's surface, forward to this camera by sampling: cheap
                # and enough to fill the depth where the memory has none
                warped = warp_depth(prev, target, dev)
                carry = (warped > 0) & ~gap & ~known
                hint = hint & ~known & ~gap
                front, blob = self._stray_previous(warped, carry, depth, hint)
                carry &= ~front & ~blob
                # where nothing of the previous frame lands, a memory hint keeps its depth;
                # where the carried depth is in front of the memory's surface, that surface is
                # held as it is; a near blob (carried or hint) takes the completed depth around
                # it: guesses, but not swept (carried pixels never were; sweeping them cost
                # +10-50% CPU per frame)
                if self.options.previous_hold:
                    held = (front & hint) | blob
                hint &= ~blob
                depth = torch.where(carry, warped, torch.where(blob, 0.0, depth))
                self._trace(known_previous=carry, previous_front=front, previous_blob=blob)
                known = known | carry
        return depth, known, guide, hint & ~known & ~gap & ~held, gap, held

    def render_frame(self, target, guide, sources: list[Source], previous: GeneratedFrame | None,
                     voxel_size: float, fill: bool = True, prev_source: Source | None = None,
                     on_device: bool = False):
        """One frame. ``fill=False`` leaves what nothing saw unfilled (black, invented) for a
        caller that covers part of it otherwise (the auto generator); ``last_holes`` [H,W] bool
        says which pixels those are.

        For such a caller on a GPU: ``prev_source`` is ``previous`` as a sampling source made
        by the caller (``make_source`` of its color, depth and invented, e.g. from tensors
        already on the device); ``on_device=True`` (with ``fill=False``) returns the frame's
        tensors on the device instead of a GeneratedFrame: (color [H,W,3] in [0,1], depth [H,W],
        confidence [H,W] (0.1 in the holes), invented [H,W] bool (holes included)), the very
        values the GeneratedFrame would hold, and ``last_holes`` is a tensor too."""
        opt = self.options
        dev = self.device
        h, w = target.height, target.width
        # the previous frame as a sampling source, made once (its depth completion is a push-pull)
        if prev_source is None and previous is not None and opt.use_previous_frame:
            prev_source = make_source(previous.camera, previous.color, previous.depth, dev, previous.invented)
        depth, known, guide, hint, gap, held = self._surface_depth(target, guide, sources, previous, voxel_size,
                                                                   prev_source)
        self._trace(known=known, hint=hint, gap=gap, held=held, depth_start=depth)
        no_depth = not bool((known | hint | gap | (held & (depth > 0))).any())
        if no_depth:
            depth = torch.full((h, w), _fallback_depth(sources, target), device=dev)
            guessed = torch.ones(h, w, dtype=torch.bool, device=dev)
        else:
            guessed = ~known
            # held pixels keep their depth where it is set (a memory surface the previous
            # frame's carried depth was in front of) and take the completion elsewhere (a near
            # blob: the surface around it); never swept
            keep = hint | gap | (held & (depth > 0))
            depth = torch.where(keep, depth, complete_inverse_depth(depth, known | keep, opt.background_reach,
                                                                     opt.background_support))
            self._trace(depth_completed=depth)
            depth, swept = sweep_guessed_depth(depth, guessed & ~gap & ~held, [s for s in sources if s.depth is not None],
                                               target, target_rays, opt.sweep)
            self._trace(swept=swept, depth=depth)
            if opt.gap_strict:
                guessed = guessed & ~gap
        rays, eye = target_rays(target, dev)
        x = eye + rays * depth[..., None]
        samples = sample_sources(sources, x, eye, opt, guessed, opt.depth_tolerance_voxels * voxel_size,
                                 target_focal=focal_px(target))
        smeared = None
        if samples and opt.max_stretch > 0:
            # pixels every reference sees through stretched geometry: not seen (a smear)
            if opt.stretch_mode == "fill":
                limited, smeared = limit_stretch(samples, opt.max_stretch)
                self._trace(smeared=smeared)
                samples, smeared = limited, None
            else:   # the samples stay: the mask alone (stacked, fewer ops)
                smeared = stretch_smeared(samples, opt.max_stretch)
                self._trace(smeared=smeared)
        if samples:
            stacks: dict = {}    # the samples' stacked factors and colours, for both blends
            color, weight, verified = ulr_blend(samples, opt.blend_k, consensus=opt.consensus, stacks=stacks)
            if not bool((weight > 0).all()):
                # no reference confirms the surface: the depth is off (an edge, a thin
                # structure); take the references that are not clearly occluded, at low weight
                # blended only where it is used (per-pixel arithmetic: the same values there;
                # on a GPU the whole frame: selecting the pixels would sync the stream)
                none = weight <= 0
                if color.is_cuda:
                    c2, w2, _ = ulr_blend(samples, opt.blend_k, fallback=True, stacks=stacks, verified=False)
                else:
                    sub = [Sample(s.color[none], s.penalty[none], s.factor[none], s.verified[none], None,
                                  s.fallback_penalty[none], None) for s in samples]
                    c2s, w2s, _ = ulr_blend(sub, opt.blend_k, fallback=True)
                    c2, w2 = torch.zeros_like(color), torch.zeros_like(weight)
                    c2[none], w2[none] = c2s, w2s
                use = none & (w2 > 0)
                color = torch.where(use[..., None], c2, color)
                weight = torch.where(use, w2 * opt.unverified_weight, weight)
        else:
            color = torch.zeros(h, w, 3, device=dev)
            weight = torch.zeros(h, w, device=dev)
            verified = torch.zeros(h, w, device=dev)
        seen = weight > 0
        drawn_by = torch.where(seen, 1, 0)   # 1 references, 2 fill layers, 3 previous frame, 4 memory
        confidence = torch.where(seen, (0.35 + 0.6 * verified) * weight / (weight + 0.02), 0.0)
        # colors observed on a guessed surface: fused into the memory, they must neither
        # occlude measured surfaces nor count as known depth later
        confidence = torch.where(guessed, confidence.clamp(max=0.2), confidence)
        invented = torch.zeros(h, w, dtype=torch.bool, device=dev)
        if smeared is not None:
            # "blur" / "mark": the smear is drawn (blurred: no streaks), but as a guess (closing
            # small sharp islands into it, tried at 11 px, blurred fern's leaves in blocks)
            if opt.stretch_mode == "blur" and (color.is_cuda or bool(smeared.any())):
                # a box blur of the smeared pixels alone (normalised by their share), twice
                m = smeared[None].float()
                num = torch.cat([color.permute(2, 0, 1) * m, m])
                for _ in range(2):
                    num = box_mean(num.contiguous(), int(opt.stretch_blur) | 1)
                blur = (num[:3] / num[3:].clamp_min(1e-6)).permute(1, 2, 0)
                color = torch.where(smeared[..., None], blur, color)
            invented |= smeared
            confidence = torch.where(smeared, confidence.clamp(max=0.1), confidence)
        layers = self._layers if fill else None
        if layers and not bool(seen.all()):
            lcol, take = self._sample_layers(x, eye, ~seen)
            color = torch.where(take[..., None], lcol, color)
            confidence = torch.where(take, 0.1, confidence)
            invented |= take
            drawn_by = torch.where(take & ~seen, 2, drawn_by)
            seen = seen | take
        if previous is not None and opt.use_previous_frame and not bool(seen.all()) and not no_depth:
            prev = prev_source
            if prev.depth is not None:
                s = _sample_where(prev, x, eye, opt, guessed, ~seen)
                take = ~seen & torch.isfinite(s.penalty)
                if layers is not None and s.invented is not None:
                    # invented content comes from the layers (sampled once), not re-sampled
                    # frame after frame from the previous frame (drift, blur)
                    take &= ~s.invented
                color = torch.where(take[..., None], s.color, color)
                prev_inv = s.invented if s.invented is not None else torch.zeros_like(take)
                confidence = torch.where(take, torch.where(prev_inv, 0.1, 0.3), confidence)
                invented |= take & prev_inv
                drawn_by = torch.where(take & ~seen, 3, drawn_by)
                seen = seen | take
        if guide is not None and not no_depth:
            use_mem = ~seen & guide.mask
            mem_conf = guide.confidence
            mem_conf = 0.7 * mem_conf / (mem_conf + opt.memory_confidence_scale)
            weak, dense = self._weak_memory(guide, (guide.segment >= 0) & (mem_conf < 0.35))
            # isolated invented points are specks: what they cover is filled (or taken from
            # the segment's fill layers) instead
            use_mem &= ~(weak & ~dense)
            color = torch.where(use_mem[..., None], guide.color, color)
            confidence = torch.where(use_mem, torch.where(weak, mem_conf.clamp(max=0.1), mem_conf), confidence)
            # surface the memory holds only from generated content stays "invented"
            invented |= use_mem & weak
            drawn_by = torch.where(use_mem & ~seen, 4, drawn_by)
            seen = seen | use_mem
        if no_depth:
            invented[:] = True
            confidence = torch.minimum(confidence, torch.full_like(confidence, 0.1))
        holes = ~seen
        self._trace(drawn_by=drawn_by, invented_before_fill=invented)
        if on_device and not fill:
            self.last_holes = holes
            return (color.clamp(0, 1).float(), depth.float(),
                    torch.where(holes, 0.1, confidence.clamp(0, 1)).float(),
                    invented | holes)
        color_np = color.clamp(0, 1).cpu().numpy()
        depth_np = depth.cpu().numpy()
        holes_np = holes.cpu().numpy()
        self.last_holes = holes_np
        if fill and holes_np.any():
            # the fill's structure guide: the frame's camera and the scene's up (the references'
            # mean up axis; the frame's own when there are none)
            filled = fill_holes(color_np, holes_np, depth_np, opt.fill, camera=target, up=references_up(sources))
            color_np = filled.color
            self.last_fill_method = filled.method
            if layers is not None and not no_depth:
                self._add_layer(GeneratedFrame(target, color_np.astype(np.float32), depth_np.astype(np.float32),
                                               np.zeros_like(depth_np, np.float32), holes_np), holes_np)
        conf_np = confidence.clamp(0, 1).cpu().numpy().astype(np.float32)
        conf_np[holes_np] = 0.1
        inv_np = invented.cpu().numpy() | holes_np
        return GeneratedFrame(target, color_np.astype(np.float32), depth_np.astype(np.float32), conf_np, inv_np)


def _sample_where(src: Source, x, eye, opt, guessed, where) -> Sample:
    """:func:`sample_source` of ``src`` at the surface points x [H,W,3] evaluated only where
    ``where`` [H,W] bool (per-pixel arithmetic: the same values there); elsewhere the penalty
    is inf, color 0, invented False. On a GPU the whole frame is sampled (selecting the pixels
    would sync the stream): the same values where ``where``."""
    if x.is_cuda:
        return sample_source(src, x, eye, opt, guessed)
    xs = x[where][None]
    s = sample_source(src, xs, eye, opt, guessed[where][None])
    h, w = where.shape

    def put(t, fill):
        out = torch.full((h, w) + tuple(t.shape[2:]), fill, dtype=t.dtype, device=t.device)
        out[where] = t[0]
        return out
    return Sample(put(s.color, 0.0), put(s.penalty, float("inf")), put(s.factor, 0.0), put(s.verified, False),
                  None if s.invented is None else put(s.invented, False),
                  None if s.fallback_penalty is None else put(s.fallback_penalty, float("inf")))


def references_up(sources: list[Source]) -> np.ndarray | None:
    """[3] unit world up of the sources' cameras (engine.geometry.scene_frame.up_from_cameras:
    most perpendicular to their right axes, so a capture pitched down at a desk does not tilt
    it; their mean -y axis was 24 deg off on TUM office), None without sources."""
    cams = [np.asarray(s.camera.world_from_cam, np.float64) for s in sources if s.camera is not None]
    return up_from_cameras(np.stack(cams)) if cams else None


def _fallback_depth(sources: list[Source], target) -> float:
    """A plane depth for a target with no surface: the median measured depth of the
    references, else 1 (scene units)."""
    vals = [s.depth[s.measured].median() for s in sources if s.depth is not None and bool(s.measured.any())]
    return float(torch.stack(vals).median()) if vals else 1.0
