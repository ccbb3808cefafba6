"""Hole filling for generated frames: exemplar-based inpainting that continues texture.

What no reference saw is filled from the frame itself:
- thin holes (gone after a ``thin_px`` opening: cracks, single pixels) by OpenCV's Telea
  inpaint, which is exact enough at that scale and takes milliseconds;
- larger holes by PatchMatch (Barnes et al. 2009; ``pypatchmatch``, MIT), run on the
  bounding box of the holes plus a margin, at ``work_scale`` when the box is large. When a
  depth map is given, pixels clearly nearer than the hole's own (background-biased) depth
  are kept out of the source (``global_mask``), so a disocclusion continues the background
  behind an object, not the object.
- ``boxes="groups"`` (``auto``'s fill, engine.generate.fill_groups): each group of nearby holes
  on its own box and crop, tall ones in bands, on threads.
- ``method="pushpull"`` is the fast preview fallback (smooth, smeared); ``"telea"`` uses
  Telea everywhere. If the PatchMatch library cannot load, ``patchmatch`` falls back to
  Telea and says so in ``FillResult.method``.

The PatchMatch source is what an unseen border should continue: the surface next to the hole
at the hole's own depth, not whatever textured object the frame holds (a target camera backed
past a capture has wide unseen borders; PatchMatch copied the room's chairs and plant into
them: livingroom's beyond path). Per hole box the source is narrowed to seen pixels
(:func:`source_exclusion`) that lie within ``source_band_px`` of a hole, are not nearer than
``foreground_ratio`` times the depth of the nearest hole pixel (the hole's depth where it
touches them, not one median for the box: a floor's depth changes down the frame) and, where
the depth cannot tell objects from walls (a guessed depth), are smooth (local luminance spread
at most ``texture_max``) where the hole is wide and the band mostly smooth: a plain wall, floor,
ceiling with objects on it continues the wall; a textured background (fern's planter wall)
continues its texture. Constraints are dropped, texture first, while too little source is left.

Structure guide: PatchMatch alone continues texture, not structure (livingroom's beyond frame 0:
a white wall and a light floor with the wall-floor line not carried across the unseen border).
The guessed depth in such holes is a smooth fronto-parallel sheet (the completion's
background-biased push-pull: no floor plane, no wall corner; its normals are uniform), so it
cannot tell floor from wall. What does is the pixel's ray elevation above the scene's horizon
(the camera's rotation and the scene's up, no depth): floors lie below the horizon, walls across
it, ceilings above, and on a horizontal floor or ceiling equal elevation is equal distance, i.e.
equal texture scale. When ``camera`` is given, wide holes (reaching ``guide_hole_share`` of the
frame's shorter side from the seen pixels) are inpainted with ``patchmatch.inpaint_regularity``, whose guide term
(``guide_weight``) makes PatchMatch prefer source pixels of the hole pixel's elevation
(:func:`elevation_guide`): floor is copied into floor, wall into wall, and their junction is
carried across the hole at its elevation. The guided metric has no early exit and costs about
1.5-2x per work pixel, so guided boxes are inpainted at ``guide_work_share`` (half) of the plain
fill's work pixels: no more CPU time than the plain fill.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_PATCHMATCH = None


@dataclass(frozen=True)
class FillOptions:
    method: str = "patchmatch"   # patchmatch | telea | pushpull
    patch_size: int = 3          # PatchMatch patch radius (patches are 2r+1 wide)
    thin_px: int = 3             # holes thinner than this go to Telea
    margin_px: int = 24          # source context around the holes' bounding box
    max_work_pixels: int = 60_000  # larger boxes are inpainted at a lower scale
    # source pixels nearer than ratio * the nearest hole pixel's depth are excluded (0 = off)
    foreground_ratio: float = 0.9
    # source pixels farther than this from every hole pixel (full-resolution pixels) are
    # excluded: the fill continues what is next to the hole (0 = off)
    source_band_px: int = 48
    # source pixels whose luminance spread (std over ``texture_window`` work-scale pixels, the
    # holes left out) exceeds this are excluded: objects, not walls (0 = off) ...
    texture_max: float = 0.025
    texture_window: int = 7
    # ... unless less than this share of the band is that smooth: the surface next to the hole
    # is textured itself (fern's planter wall: 10% smooth; livingroom's white wall with a plant
    # and chairs on it: 42%), and its texture is continued (the rule is off)
    texture_keep_share: float = 0.25
    # ... and only in boxes whose holes reach this far (full-resolution pixels) from every seen
    # pixel: a wide unseen area continues the wall next to it; a small disocclusion inside a
    # textured object continues that texture (livingroom held-out view 2: 32.88 -> 32.45 dB
    # with the rule on its small holes)
    texture_hole_px: float = 16.0
    # fewer source pixels than this share of the box's seen pixels (or than a few patches):
    # the constraints are dropped, texture first, then depth, then the band
    min_source_share: float = 0.02
    # separate hole regions are inpainted box by box when their boxes cover less than this
    # share of the one box around all of them (0: always the one box)
    split_share: float = 0.5
    # ... and only up to this many regions: many small scattered holes (the splat-covered
    # frames of `auto` on a GPU) cost more in PatchMatch calls and in merging their boxes (in
    # Python, holding the GIL the engine thread needs) than one box does
    max_split_regions: int = 8
    # structure guide (elevation of the pixel's ray above the horizon, see elevation_guide):
    # weight of its term against the patch distance in PatchMatch's metric; 0 = off (plain
    # PatchMatch, the A/B switch). Only used when fill_holes is given the camera.
    guide_weight: float = 0.5
    # elevation (degrees) mapped to the guide's full range: elevations beyond +-this are alike
    guide_degrees: float = 30.0
    # only boxes whose holes reach this share of the frame's shorter side (and at least
    # ``guide_hole_px`` full-resolution pixels) from every seen pixel are guided: the wide unseen
    # borders of a camera backed past the capture (livingroom / fern beyond frame 0: 0.71 /
    # 0.62). Narrower holes are anchored by what is around them: office held-out view 2's unseen
    # right border (0.17) took the dark chair at its elevation into the floor and far wall,
    # 17.74 -> 17.34 dB guided
    guide_hole_share: float = 0.25
    guide_hole_px: float = 16.0
    # guided boxes are inpainted at this share of the plain fill's work pixels (the box's, or
    # ``max_work_pixels`` when larger): the guided metric costs 1.5-2x per pixel (no early
    # exit). A frame-wide box at 30k takes 0.75-0.85x the plain fill's CPU time at 60k (the
    # cost steps with the pyramid's levels: 32-40k took 1.2-1.4x); office beyond frame 2's
    # box (6.6% holes) guided at its full size took 1.76x
    guide_work_share: float = 0.5
    # "frame": the holes of the whole frame at once (the boxes of _patchmatch_box, the
    # surface generator's fill); "groups": holes within ``margin_px`` of each other form a group
    # filled on its box alone, every step (uint8, opening, PatchMatch, Telea) on the box's crop
    # only, the groups on engine.cpu_split's threads (engine.generate.fill_groups: auto's fill,
    # whose thin edge strips and specks made > ``max_split_regions`` regions, i.e. one
    # frame-wide box at a fifth of the resolution)
    boxes: str = "frame"
    # with "groups": a box is inpainted at a lower scale also when it holds more than this many
    # hole pixels at work scale, never below the scale of the whole frame at ``max_work_pixels``
    # (0 = off): PatchMatch's time follows the holes' pixels (and their depth) more than the box's
    hole_work_pixels: int = 0
    # threads the groups' fills run on (the calling one included; at most ANYRECON_CPU_SPLIT
    # when set); 0: engine.cpu_split's choice
    threads: int = 0
    # with "groups": a group whose holes span more rows than this is filled in bands of about
    # this many rows at the group's work scale, cross-faded where they meet, the bands on those
    # threads: the tall edge strips' fill in parallel (0 = off)
    band_rows: int = 0
    # with "groups": a group whose large holes reach less than this (full-resolution pixels)
    # from every seen pixel is Telea's, not PatchMatch's (0 = off): scattered specks a few pixels
    # across were a PatchMatch call each (100 specks: 2x the frame-wide fill's CPU)
    telea_reach_px: float = 0.0


@dataclass(frozen=True)
class FillResult:
    color: np.ndarray   # [H,W,3] float32 in [0,1]
    method: str         # what actually filled the large holes


def patchmatch_module():
    """The ``patchmatch`` module when its native library loads, else None."""
    global _PATCHMATCH
    if _PATCHMATCH is None:
        try:
            import patchmatch

            _PATCHMATCH = patchmatch if patchmatch.patchmatch_available else False
            if _PATCHMATCH:
                patchmatch.set_random_seed(0)
        except ImportError:
            _PATCHMATCH = False
    return _PATCHMATCH or None


def _to_u8(color: np.ndarray) -> np.ndarray:
    return (np.clip(color, 0, 1) * 255 + 0.5).astype(np.uint8)


def large_holes(holes: np.ndarray, thin_px: int) -> np.ndarray:
    """The pixels of ``holes`` [H,W] bool left by a ``thin_px`` opening (PatchMatch's; the thin
    rest, cracks and single pixels, is Telea's)."""
    import cv2

    k = np.ones((thin_px, thin_px), np.uint8)
    return (cv2.dilate(cv2.erode(holes.astype(np.uint8), k), k) > 0) & holes


def _telea(img_u8: np.ndarray, holes: np.ndarray, radius: int = 3) -> np.ndarray:
    import cv2

    return cv2.inpaint(img_u8, holes.astype(np.uint8), radius, cv2.INPAINT_TELEA)


def _push_pull_fill(color: np.ndarray, holes: np.ndarray) -> np.ndarray:
    import torch

    from engine.generate.pushpull import push_pull

    known = torch.as_tensor(~holes, dtype=torch.float32)
    out = push_pull(torch.as_tensor(color).permute(2, 0, 1), known).permute(1, 2, 0).numpy()
    return np.where(holes[..., None], out, color).astype(np.float32)


def fill_holes(color: np.ndarray, holes: np.ndarray, depth: np.ndarray | None = None,
               options: FillOptions = FillOptions(), camera=None, up: np.ndarray | None = None) -> FillResult:
    """Fill ``holes`` [H,W] bool of ``color`` [H,W,3] float in [0,1]; known pixels are kept.

    depth  [H,W] z-depth (meters, > 0 everywhere it is known or guessed, holes included):
           used to keep nearer surfaces out of the PatchMatch source.
    camera the frame's camera (``K``, ``world_from_cam``, OpenCV axes) or None: with it, wide
           holes are filled with the elevation guide (``options.guide_weight`` > 0).
    up     [3] world up direction (the scene's, e.g. the references' mean -y axis) or None:
           the camera's own up (its -y axis).
    """
    color = np.asarray(color, np.float32)
    holes = np.asarray(holes, bool)
    if not holes.any():
        return FillResult(color, "none")
    if holes.all():
        return FillResult(np.full_like(color, 0.5), "constant")
    if options.method == "pushpull":
        return FillResult(_push_pull_fill(color, holes), "pushpull")
    if options.boxes == "groups":
        from engine.generate.fill_groups import fill_groups

        return fill_groups(color, holes, depth, options, camera, up)
    img = _to_u8(np.where(holes[..., None], 0.0, color))
    large = large_holes(holes, options.thin_px)
    method = "telea"
    pm = patchmatch_module() if options.method == "patchmatch" else None
    if large.any() and pm is not None:
        img = _patchmatch_box(pm, img, large, depth, options, _guide_frame(camera, up, options, holes.shape))
        method = "patchmatch"
    rest = holes if method == "telea" else holes & ~large
    if rest.any():
        img = _telea(img, rest)
    out = img.astype(np.float32) / 255.0
    return FillResult(np.where(holes[..., None], out, color).astype(np.float32), method)


def _hole_boxes(large: np.ndarray, margin: int, max_regions: int | None = None) -> list[tuple[int, int, int, int]]:
    """Boxes (r0, r1, c0, c1) covering the connected hole regions of ``large`` [H,W] bool, each
    with ``margin`` pixels of context (clipped to the image), overlapping boxes merged: the
    boxes of separate holes do not overlap. More than ``max_regions`` regions: [] (not split)."""
    import cv2

    h, w = large.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(large.astype(np.uint8), connectivity=8)
    if max_regions is not None and n - 1 > max_regions:
        return []
    boxes = [(max(0, y - margin), min(h, y + bh + margin), max(0, x - margin), min(w, x + bw + margin))
             for x, y, bw, bh, _ in stats[1:n]]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        out = []
        for b in boxes:
            for i, o in enumerate(out):
                if b[0] < o[1] and o[0] < b[1] and b[2] < o[3] and o[2] < b[3]:
                    out[i] = (min(b[0], o[0]), max(b[1], o[1]), min(b[2], o[2]), max(b[3], o[3]))
                    merged = True
                    break
            else:
                out.append(b)
        boxes = out
    return boxes


def _patchmatch_box(pm, img: np.ndarray, large: np.ndarray, depth, options: FillOptions, guide=None) -> np.ndarray:
    """PatchMatch on the holes' bounding box (+ margin), downscaled when large. When the holes
    are separate small regions (their own boxes, with margin, cover less than
    ``split_share`` of that box: the later frames of a segment, whose few new holes lie at
    opposite borders), each region's box is inpainted on its own instead: PatchMatch's cost
    follows the box's area, not the holes' (fern's beyond path: 1-4% holes in a box of the
    whole frame took as long as the first frame's 37%)."""
    h, w = large.shape
    rows, cols = np.nonzero(large)
    m = options.margin_px
    r0, r1 = max(0, rows.min() - m), min(h, rows.max() + 1 + m)
    c0, c1 = max(0, cols.min() - m), min(w, cols.max() + 1 + m)
    if options.split_share > 0:
        boxes = _hole_boxes(large, m, options.max_split_regions)
        if len(boxes) > 1 and sum((b[1] - b[0]) * (b[3] - b[2]) for b in boxes) < options.split_share * (
                (r1 - r0) * (c1 - c0)):
            # the boxes do not overlap: each one's fill reads only its own box, so they run
            # on engine.cpu_split's threads (the PatchMatch library releases the GIL
            # and seeds every call alike) and are pasted in: the same image as one after another
            from engine import cpu_split

            boxes = sorted(boxes, key=lambda b: -(b[1] - b[0]) * (b[3] - b[2]))   # the biggest first
            outs = cpu_split.run_all([lambda b=b: _patchmatch_in(pm, img, large, depth, options, *b, guide=guide)
                                      for b in boxes], cpu_split.splits("cpu"))
            img = img.copy()
            for (b0, b1, b2, b3), out in zip(boxes, outs):
                img[b0:b1, b2:b3] = out[b0:b1, b2:b3]
            return img
    return _patchmatch_in(pm, img, large, depth, options, r0, r1, c0, c1, guide=guide)


def _patchmatch_in(pm, img: np.ndarray, large: np.ndarray, depth, options: FillOptions,
                   r0: int, r1: int, c0: int, c1: int, guide=None) -> np.ndarray:
    """PatchMatch on the box rows r0:r1, columns c0:c1 of ``img``, downscaled when large;
    ``guide``: (K, world_from_cam, up, min_reach) of :func:`_guide_frame` or None (see
    :func:`elevation_guide`), used when the box's holes reach ``min_reach`` pixels."""
    crop = img[r0:r1, c0:c1]
    hole = large[r0:r1, c0:c1]
    d = None if depth is None else depth[r0:r1, c0:c1]
    out = img.copy()
    out[r0:r1, c0:c1] = patchmatch_crop(pm, crop, hole, d, options, (r0, r1, c0, c1), guide)
    return out


def patchmatch_crop(pm, crop: np.ndarray, hole: np.ndarray, d, options: FillOptions,
                    box: tuple[int, int, int, int], guide=None, frame_pixels: int = 0,
                    scale: float | None = None) -> np.ndarray:
    """``crop`` [h,w,3] uint8 (the frame's rows r0:r1, columns c0:c1 of ``box``) with its
    ``hole`` [h,w] bool pixels inpainted by PatchMatch, downscaled when the box has more than
    ``max_work_pixels`` (or its holes more than ``hole_work_pixels``, but never below the
    scale of a box of ``frame_pixels`` at ``max_work_pixels``); ``d`` [h,w] z-depth or None;
    ``guide`` as in :func:`_patchmatch_in`; ``scale``: the work scale, given (the guide's work
    share then applies on top). Pixels outside ``hole`` are kept."""
    import cv2

    r0, r1, c0, c1 = box
    ch, cw = hole.shape
    work = options.max_work_pixels if scale is None else scale * scale * ch * cw
    if guide is not None:
        guide, min_reach = guide[:3], guide[3]
        if float(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5).max()) >= min_reach:
            work = options.guide_work_share * min(work, ch * cw)
        else:
            guide = None
    if scale is None:
        work = min(work, hole_work_cap(options, ch * cw, int(hole.sum()), frame_pixels))
    scale = min(1.0, float(np.sqrt(work / max(ch * cw, 1))))
    d = None if d is None else np.asarray(d, np.float32)
    if scale < 1.0:
        size = (max(8, int(cw * scale)), max(8, int(ch * scale)))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        # any work pixel a hole pixel falls in is a hole: its area average holds the holes'
        # black (a 0/1 mask averaged as uint8 rounds partial cover to 0: a dark rim that
        # PatchMatch continued as grey streaks)
        small_hole |= cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 1e-3
        small_d = None if d is None else cv2.resize(d, size, interpolation=cv2.INTER_NEAREST)
        exclude = source_exclusion(small, small_hole, small_d, options, scale)
        g = None if guide is None else elevation_guide(*guide, (r0, r1, c0, c1), size[::-1], options.guide_degrees)
        filled = _pm_call(pm, small, small_hole, exclude, options, g)
        filled = cv2.resize(filled, (cw, ch), interpolation=cv2.INTER_LINEAR)
    else:
        g = None if guide is None else elevation_guide(*guide, (r0, r1, c0, c1), (ch, cw), options.guide_degrees)
        filled = _pm_call(pm, crop, hole, source_exclusion(crop, hole, d, options, 1.0), options, g)
    return np.where(hole[..., None], filled, crop)


def hole_work_cap(options: FillOptions, box_pixels: int, hole_pixels: int, frame_pixels: int = 0) -> float:
    """Work pixels of a box of ``box_pixels`` holding ``hole_pixels`` holes: ``max_work_pixels``,
    fewer where its holes would exceed ``hole_work_pixels`` at work scale (when set), but never
    below the scale of a box of ``frame_pixels`` at ``max_work_pixels`` (the whole frame's)."""
    work = float(options.max_work_pixels)
    if options.hole_work_pixels > 0:
        floor = work * box_pixels / max(frame_pixels, box_pixels)
        work = min(work, max(floor, options.hole_work_pixels * box_pixels / max(hole_pixels, 1)))
    return work


def source_exclusion(img_u8: np.ndarray, hole: np.ndarray, depth: np.ndarray | None, options: FillOptions,
                     scale: float = 1.0) -> np.ndarray | None:
    """The seen pixels kept out of PatchMatch's source (``global_mask``) for filling ``hole``
    [h,w] bool of ``img_u8`` [h,w,3] uint8 (a box at work scale; ``scale`` = work / full
    resolution); ``depth`` [h,w] z-depth (meters, 0 = none; holes carry their guessed depth)
    or None. Excluded: pixels farther than ``source_band_px`` from every hole pixel, nearer
    than ``foreground_ratio`` times the depth of their nearest hole pixel, textured (luminance
    spread above ``texture_max``, only where the holes reach ``texture_hole_px`` from the seen
    pixels and at least ``texture_keep_share`` of the band is that smooth). None when nothing
    is excluded. While fewer than ``min_source_share`` of the seen pixels (and at least a few
    patches' worth) would be left, the texture, then the depth, then the band constraint is
    dropped."""
    import cv2

    seen = ~hole
    n_seen = int(seen.sum())
    if n_seen == 0 or not hole.any():
        return None
    dist, lab = cv2.distanceTransformWithLabels(seen.astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    parts = []
    band = seen.copy()
    if options.source_band_px > 0:
        band &= dist <= max(2.0, options.source_band_px * scale)
    parts.append(~band & seen)
    near = np.zeros_like(seen)
    if depth is not None and options.foreground_ratio > 0:
        hy, hx = np.nonzero(hole)                 # DIST_LABEL_PIXEL labels the zeros in raster order
        hd = np.zeros(int(lab.max()) + 1, np.float32)
        hd[1:len(hy) + 1] = depth[hy, hx]
        hole_depth = hd[lab]
        near = seen & (depth > 0) & (hole_depth > 0) & (depth < options.foreground_ratio * hole_depth)
    parts.append(near)
    textured = np.zeros_like(seen)
    deep = 0.0
    if options.texture_max > 0:
        deep = float(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5).max()) / max(scale, 1e-6)
    if options.texture_max > 0 and deep >= options.texture_hole_px:
        k = (max(3, int(options.texture_window) | 1),) * 2
        g = cv2.cvtColor(img_u8, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        w = seen.astype(np.float32)
        sw = np.maximum(cv2.blur(w, k), 1e-6)
        m = cv2.blur(g * w, k) / sw
        spread = np.sqrt(np.maximum(cv2.blur(g * g * w, k) / sw - m * m, 0.0))
        cand = band & ~near
        if cand.any() and float((spread[cand] <= options.texture_max).mean()) >= options.texture_keep_share:
            textured = seen & (spread > options.texture_max)
    parts.append(textured)
    need = max(options.min_source_share * n_seen, 4 * (2 * options.patch_size + 1) ** 2)
    # drop texture, then depth, then the band, while too little source is left
    for kept in range(len(parts), -1, -1):
        exclude = np.zeros_like(seen)
        for p in parts[:kept]:
            exclude |= p
        if n_seen - int((exclude & seen).sum()) >= min(need, n_seen) or kept == 0:
            break
    return exclude if exclude.any() else None


def _guide_frame(camera, up, options: FillOptions, shape: tuple[int, int]):
    """(K [3,3], world_from_cam [4,4], up [3] unit world, the holes' reach in full-resolution
    pixels from which a box is guided) for a frame of ``shape`` (H, W), or None when unguided
    (no camera, ``guide_weight`` 0)."""
    if camera is None or options.guide_weight <= 0:
        return None
    wfc = np.asarray(camera.world_from_cam, np.float64)
    u = -wfc[:3, 1] if up is None else np.asarray(up, np.float64)
    n = float(np.linalg.norm(u))
    if not np.isfinite(n) or n < 1e-9:
        return None
    reach = max(options.guide_hole_px, options.guide_hole_share * min(shape))
    return np.asarray(camera.K, np.float64), wfc, u / n, reach


def elevation_guide(K: np.ndarray, world_from_cam: np.ndarray, up: np.ndarray, box: tuple[int, int, int, int],
                    size: tuple[int, int], degrees: float = 30.0) -> np.ndarray:
    """PatchMatch's guide map (``ijmap``) [h,w,3] float32 for the box rows r0:r1, columns c0:c1
    (``box``, full-resolution pixels) of a frame of camera ``K`` / ``world_from_cam`` sampled at
    ``size`` = (h, w) work pixels: channel 0 is the elevation of the pixel's ray above the
    horizon (``up`` [3] unit world), 0.25 + 0.25 * elevation / ``degrees`` clipped to [0, 0.5]
    (the guide is periodic with period 1 in the library: the half period is its largest
    difference); channels 1-2 are 0."""
    r0, r1, c0, c1 = box
    h, w = size
    u = c0 + (np.arange(w, dtype=np.float64) + 0.5) * ((c1 - c0) / w)
    v = r0 + (np.arange(h, dtype=np.float64) + 0.5) * ((r1 - r0) / h)
    up_cam = np.asarray(world_from_cam, np.float64)[:3, :3].T @ np.asarray(up, np.float64)   # up in camera axes
    # ray (x, y, 1) in camera axes for pixel (u, v): x = (u - cx) / fx, y = (v - cy) / fy
    kinv = np.linalg.inv(np.asarray(K, np.float64))
    x = kinv[0, 0] * u + kinv[0, 2]
    y = kinv[1, 1] * v + kinv[1, 2]
    dot = up_cam[0] * x[None, :] + up_cam[1] * y[:, None] + up_cam[2]
    norm = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2 + 1.0)
    elev = np.degrees(np.arcsin(np.clip(dot / norm, -1.0, 1.0)))
    out = np.zeros((h, w, 3), np.float32)
    out[..., 0] = 0.25 + 0.25 * np.clip(elev / max(degrees, 1e-6), -1.0, 1.0)
    return out


_CUBE_CORNERS = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], np.int32)


def unfilled_sentinel(img: np.ndarray, source: np.ndarray) -> np.ndarray | None:
    """A colour [3] uint8 that PatchMatch cannot produce from the ``source`` [H,W] bool pixels of
    ``img`` [H,W,3] uint8: the RGB cube corner farthest (L1) from every source pixel, when that
    is >= 3 levels. The L1 distance to a cube corner is linear inside the cube, so a weighted
    average of source colours (what PatchMatch writes) stays >= 3 away and cannot round to the
    corner. None when every corner has a source pixel nearer than that."""
    px = img[source].astype(np.int32)
    if not len(px):
        return None
    flip = _CUBE_CORNERS > 0                                              # [8,3]
    dist = np.array([np.where(f, 255 - px, px).sum(1).min() for f in flip])
    best = int(dist.argmax())
    return _CUBE_CORNERS[best].astype(np.uint8) if dist[best] >= 3 else None


def _pm_call(pm, img, hole, exclude, options: FillOptions, guide=None) -> np.ndarray:
    if exclude is not None:
        exclude = exclude & ~hole
        if not exclude.any():
            exclude = None
    gm = None if exclude is None else exclude.astype(np.uint8)
    # where a narrow source vanishes at PatchMatch's coarse levels no source patch is valid and
    # hole pixels come back as they went in: the holes go in as a colour no fill can produce
    # (PatchMatch's result does not depend on the hole pixels' input colour), so a fill that
    # really copied black is kept
    sentinel = None if exclude is None else unfilled_sentinel(img, ~hole & ~exclude)
    if sentinel is not None:
        img = img.copy()
        img[hole] = sentinel
    if guide is not None:
        out = pm.inpaint_regularity(img, hole.astype(np.uint8), guide, global_mask=gm, patch_size=options.patch_size,
                                    guide_weight=float(options.guide_weight))
    elif gm is None:
        return pm.inpaint(img, hole.astype(np.uint8), patch_size=options.patch_size)
    else:
        out = pm.inpaint(img, hole.astype(np.uint8), global_mask=gm, patch_size=options.patch_size)
    if exclude is None:
        return out
    # Telea from what was filled and the source (the excluded pixels are inpainted along,
    # then put back)
    left = hole & ((out == sentinel).all(-1) if sentinel is not None else (out == img).all(-1))
    if left.any():
        out = np.where(left[..., None], _telea(out, left | exclude), out)
    return out
