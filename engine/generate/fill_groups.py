"""The fill by groups of holes (``FillOptions.boxes == "groups"``): ``auto``'s fill on the GPU path.

There the holes of a frame are thin ragged strips at its far left / right edges (the splats
have not learned them), specks along their inner edges and a few small blobs: 0.1-9% of an
896x512 frame in 18-38 regions (fern's fills recorded on the H200). The frame-wide fill (engine.generate.fill) splits its boxes
only up to ``max_split_regions`` regions, so such a frame went to PatchMatch as one box of the
whole frame at ``max_work_pixels`` (20k: a fifth of the resolution, the strips came back
blocky), and every step around it (uint8 conversion, opening, Telea, pasting) ran on the whole
frame.

Here holes within ``margin_px`` of each other form one group (the connected parts of the
holes dilated by the margin: OpenCV, no merging loop in Python, no region cap); each group is
filled on its own box (its holes' bounding box plus the margin, clipped to the frame: a
context of the source band's 48 px instead cost 1.2-2x the CPU and its fills of fern's wide
strips were blockier, copied from farther away; RESULTS.md, fill-s26), every
step on that crop only: uint8, the ``thin_px`` opening, PatchMatch (engine.generate.fill's
:func:`~engine.generate.fill.patchmatch_crop`: the depth source exclusion, the elevation guide,
the ``max_work_pixels`` / ``hole_work_pixels`` scale), Telea for the thin rest. The groups run
on engine.cpu_split's threads (``FillOptions.threads``; PatchMatch and OpenCV release the GIL)
and only a group's own hole pixels are pasted into the frame, so the result does not depend on
the threads or their timing: each group's fill reads the frame's unfilled pixels only (the
holes of another group inside its box are filled along in its crop, not pasted). A tall
group (an edge strip) is filled in bands at one scale, cross-faded where they meet
(:func:`group_parts`), so its fill runs on several threads; a group of specks too shallow for
PatchMatch (``telea_reach_px``) is Telea's.
"""
from __future__ import annotations

import numpy as np

from engine.generate.fill import (
    FillOptions,
    FillResult,
    _guide_frame,
    _telea,
    _to_u8,
    hole_work_cap,
    large_holes,
    patchmatch_crop,
    patchmatch_module,
)


def hole_groups(holes: np.ndarray, margin: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Groups of ``holes`` [H,W] bool: holes within ``margin`` pixels (Chebyshev) of each other
    are one group. -> (labels [H,W] int32 of the dilated holes, 0 outside every group; boxes
    (r0, r1, c0, c1): group k's holes' bounding box plus ``margin``, clipped to the frame, at
    index k - 1)."""
    import cv2

    m = max(0, int(margin))
    h8 = holes.astype(np.uint8)
    grown = cv2.dilate(h8, np.ones((2 * m + 1, 2 * m + 1), np.uint8)) if m else h8
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    # the dilated part's box is the holes' box plus the margin, clipped by the frame
    boxes = [(int(y), int(y + bh), int(x), int(x + bw)) for x, y, bw, bh, _ in stats[1:n]]
    return labels, boxes


def _fill_group(pm, color: np.ndarray, holes: np.ndarray, depth, options: FillOptions, box, guide,
                scale: float | None) -> tuple[np.ndarray, str]:
    """The crop of ``box`` of ``color`` [H,W,3] float with every hole in it filled, PatchMatch
    at ``scale`` (None: its own) -> (uint8 crop, method of its large holes)."""
    import cv2

    r0, r1, c0, c1 = box
    hole = holes[r0:r1, c0:c1]
    img = _to_u8(np.where(hole[..., None], 0.0, color[r0:r1, c0:c1]))
    method = "telea"
    large = hole
    if pm is not None:
        large = large_holes(hole, options.thin_px)
        if large.any() and options.telea_reach_px > 0 and float(
                cv2.distanceTransform(large.astype(np.uint8), cv2.DIST_L2, 5).max()) < options.telea_reach_px:
            large = np.zeros_like(large)                # shallow specks: Telea
        if large.any():
            d = None if depth is None else depth[r0:r1, c0:c1]
            img = patchmatch_crop(pm, img, large, d, options, box, guide, holes.size, scale)
            method = "patchmatch"
    rest = hole if method == "telea" else hole & ~large
    if rest.any():
        img = _telea(img, rest)
    return img, method


def group_parts(holes: np.ndarray, box, options: FillOptions) -> list[tuple[tuple, tuple, tuple, float | None]]:
    """The parts group ``box`` (r0, r1, c0, c1) of ``holes`` [H,W] bool is filled in: [(crop
    box, own rows (a, b), feather rows (above, below), scale)]. One part (its box, all its rows,
    no feather, its own scale) unless its holes span more than ``band_rows`` rows: then bands of
    about that many rows, filled at the group's work scale (its holes' budget shared, not one
    per band). Two bands' fills are cross-faded over the ``2 * feather`` rows around their cut
    (the margin, at most a quarter band): a cut between two PatchMatch fills was a hard
    seam, the colours jumping. A band is read with ``feather`` rows above and below it (the
    cross-fade's; the group's full context at the cuts made fern's 9% frames' fill 1.2-1.35x the
    CPU, no better to look at) and the group's margin on its sides."""
    r0, r1, c0, c1 = box
    m = options.margin_px
    a0, a1 = min(r0 + m, r1), max(r1 - m, r0)           # the holes' rows (the box less its margin)
    if r0 == 0 or r1 == holes.shape[0]:                 # clipped by the frame: from the holes
        rows = np.flatnonzero(holes[r0:r1, c0:c1].any(1))
        a0, a1 = r0 + int(rows[0]), r0 + int(rows[-1]) + 1
    n = 1 if options.band_rows <= 0 else -(-(a1 - a0) // options.band_rows)
    if n <= 1:
        return [(box, (r0, r1), (0, 0), None)]
    area = (r1 - r0) * (c1 - c0)
    work = hole_work_cap(options, area, int(holes[r0:r1, c0:c1].sum()), holes.size)
    scale = min(1.0, float(np.sqrt(work / area)))
    cuts = [a0 + (a1 - a0) * i // n for i in range(n + 1)]
    cuts[0], cuts[-1] = r0, r1
    f = max(1, min(m, options.band_rows // 4))
    return [((max(r0, a - f), min(r1, b + f), c0, c1), (a, b), (f if i else 0, f if i < n - 1 else 0), scale)
            for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]


def _paste(out: np.ndarray, holes: np.ndarray, labels: np.ndarray, k: int, crop, own_rows, feather,
           img: np.ndarray) -> None:
    """Add part ``crop``'s fill ``img`` (uint8 crop) of group ``k`` to ``out`` [H,W,3] (its
    hole pixels zero before the first part): the group's hole pixels of rows ``own_rows``
    widened by ``feather`` (above, below), weighted by the cross-fade (1 inside, linear ramps
    over 2 * feather rows around a cut whose two sides sum to 1)."""
    r0, _, c0, c1 = crop
    (a, b), (fa, fb) = own_rows, feather
    y0, y1 = a - fa, b + fb
    own = holes[y0:y1, c0:c1] & (labels[y0:y1, c0:c1] == k + 1)
    sub = img[y0 - r0:y1 - r0].astype(np.float32) / 255.0
    if fa or fb:
        w = np.ones(y1 - y0, np.float32)
        if fa:
            w[:2 * fa] = (np.arange(2 * fa, dtype=np.float32) + 0.5) / (2 * fa)
        if fb:
            w[len(w) - 2 * fb:] = (np.arange(2 * fb, 0, -1, dtype=np.float32) - 0.5) / (2 * fb)
        sub *= w[:, None, None]
    out[y0:y1, c0:c1][own] += sub[own]


def fill_groups(color: np.ndarray, holes: np.ndarray, depth, options: FillOptions, camera=None,
                up=None) -> FillResult:
    """:func:`engine.generate.fill.fill_holes` by groups of holes (module docstring); ``color``
    [H,W,3] float32 in [0,1], ``holes`` [H,W] bool (some but not all pixels), ``depth`` [H,W]
    z-depth or None. Known pixels are kept."""
    from engine import cpu_split

    pm = patchmatch_module() if options.method == "patchmatch" else None
    guide = _guide_frame(camera, up, options, holes.shape) if pm is not None else None
    labels, boxes = hole_groups(holes, options.margin_px)
    parts = [(k, *part) for k, b in enumerate(boxes) for part in group_parts(holes, b, options)]
    # the biggest first: cpu_split's workers take from the front, the caller from the back
    parts.sort(key=lambda p: -(p[1][1] - p[1][0]) * (p[1][3] - p[1][2]))
    jobs = [lambda p=p: _fill_group(pm, color, holes, depth, options, p[1], guide, p[4]) for p in parts]
    threads = cpu_split.capped(options.threads) if options.threads > 0 else cpu_split.splits("cpu")
    outs = cpu_split.run_all(jobs, threads)
    out = np.where(holes[..., None], np.float32(0.0), color).astype(np.float32)
    methods = set()
    for (k, crop, own_rows, feather, _), (img, method) in zip(parts, outs):   # in a fixed order
        _paste(out, holes, labels, k, crop, own_rows, feather, img)
        methods.add(method)
    return FillResult(out, "patchmatch" if "patchmatch" in methods else "telea")
