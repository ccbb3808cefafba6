"""Depth completion: from the matched pixels of one view (plane sweep + geometric filter)
to a depth for every pixel, with a confidence and a ``completed`` flag.

Three steps, all in inverse depth ``w = 1/z`` (a plane in the camera is affine in pixels:
``w = a u + b v + c``, pixel centers at +0.5):

0. **Relaxed matches.** Raw sweep winners that one neighbour confirms (the geometric filter
   asks two: :func:`relaxed_matches`) keep their own depth as completed pixels (confidence
   ``relaxed_conf`` x theirs) and are full-weight plane anchors: on fern they are right
   far more often than a segment plane or the fill at the same pixels.

1. **Segment planes.** The image is cut into segments bounded by its edges (Canny on each
   colour channel, dilated by one pixel to close junction gaps; connected components of the
   rest): a white wall, a table top or a floor is one segment. Each large segment is given
   a plane from its border (the segment dilated by ``anchor_margin`` into the edge band):
   candidates are RANSAC triplets of its anchors (matched pixels, and raw sweep winners above
   ``weak_zncc`` at half weight: an untextured surface is matched only along its edges, where
   the geometric filter rarely keeps a pixel) plus generic planes (fronto-parallel and tilted,
   across the depth range), scored photometrically on the border's textured pixels against
   the neighbour views and refined by a pattern search on a subsample of the border, the
   best then polished on the whole border (engine.tracking.segment_stereo; the cost is
   shallow: stopping short of its minimum tilts a wall by a few percent). A plane is kept when
   that cost is low, when the border is not a single line (one edge does not fix a plane)
   and when it stays in the depth range over the segment; it fills the segment's unmatched
   pixels, and extends 3 px into the edge bands. Segments beyond the ``max_photometric``
   largest, mostly matched ones, and views without neighbours use a RANSAC fit of the
   anchors alone.
2. **Edge-aware fill.** What is still empty (small or unsupported segments, edge pixels)
   is filled by an edge-aware weighted-least-squares solve of the membrane energy (Jacobi
   iterations, weights ``exp(-|dI|^2 / sigma^2)`` between 4-neighbours, known pixels fixed),
   initialised coarse-to-fine from a confidence-weighted image pyramid, so it converges in
   a few dozen iterations per level. A view with no matched pixel at all gets a
   fronto-parallel plane in the middle of its depth range at ``blind_conf``.
3. **Verification.** Completed depths are warped into the neighbour views and scored with
   the sweep's ZNCC cost (:func:`engine.tracking.mvs.photo_cost`). Where the reference has
   texture, a good match raises the confidence (to ``verified_conf`` x ZNCC: a matching
   window does not pin the depth to 2% at working resolution), a bad one divides it; where it has none there is nothing to verify and the prior stays.

Confidence of completed pixels is always below ``max_completed_conf`` (matched pixels keep
theirs): fusion and the generators weigh completed surfaces lower. Nothing matching (a
blank wall, a mirror with nothing in it) thus gives low-confidence completed depth.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.geometry import Camera
from engine.tracking.mvs import MVSOptions, photo_cost
from engine.tracking.segment_stereo import BandScorer, generic_planes, refine_plane, triplet_planes


@dataclass(frozen=True)
class CompletionOptions:
    canny_low: int = 12              # Canny thresholds on 8-bit grey after a 3x3 blur
    canny_high: int = 36
    min_segment: int = 40            # segments smaller than this (pixels) get no plane
    anchor_margin: int = 3           # px: matched pixels this close to a segment support its plane
    weak_zncc: float = 0.3           # raw sweep winners above this ZNCC are weak plane anchors
    relaxed_conf: float = 0.5        # x the sweep's confidence: raw winners one neighbour confirms (not matched)
    keep_relaxed: bool = True        # they keep their own depth (completed), else anchors only
    relaxed_min_views: int = 1       # the looser filter of relaxed_matches (0 = the sweep's own)
    relaxed_depth_tol: float = 0.0
    relaxed_min_zncc: float = 0.0
    weak_weight: float = 0.5         # their vote in RANSAC (matched pixels: 1)
    min_anchors: int = 12
    max_anchors: int = 600           # RANSAC subsample per segment
    ransac_iters: int = 48
    plane_tol: float = 0.015         # relative inverse-depth residual of a plane inlier
    min_inlier_frac: float = 0.4
    min_spread_px: float = 2.0       # second principal std (pixels) of the inliers: not one line
    max_band: int = 400              # border pixels scored per segment plane candidate
    refine_steps: tuple = (0.12, 0.06, 0.03, 0.015, 0.008, 0.004)   # relative jitter per refinement round
    refine_starts: int = 3
    refine_repeats: int = 3          # a refinement step is repeated while it improves (segment_stereo)
    polish_steps: tuple = (0.008, 0.004, 0.002)   # the best plane, refined on up to max_polish_band pixels
    max_polish_band: int = 2400
    max_photometric: int = 48        # largest segments planed photometrically; others by anchors only
    max_matched_for_photo: float = 0.8   # a segment matched this much is planed from its anchors
    inside_tol: float = 0.03         # a photometric plane must agree with the segment's own matched pixels
    min_inside_agree: float = 0.5    # ... this share of them within inside_tol (else: RANSAC on the anchors)
    max_band_cost: float = 0.75      # truncated border cost (0..1, segment_stereo) above which a plane is refused
    edge_sigma: float = 0.06         # grey difference scale of the fill's edge weights
    fill_iters: int = 40             # Jacobi iterations per pyramid level
    plane_conf: float = 0.35         # completed by a well-supported segment plane
    fill_conf: float = 0.12          # completed by the edge-aware fill (decays with distance)
    blind_conf: float = 0.02         # nothing matched in the whole view
    max_completed_conf: float = 0.35
    verified_conf: float = 0.25       # confidence of a completed pixel its neighbours confirm (x ZNCC)
    verify_good: float = 0.7         # ZNCC of a completed pixel that confirms it
    verify_bad: float = 0.3          # ZNCC below which a textured completed pixel is doubted
    seed: int = 0


@dataclass
class CompletedDepth:
    """depth [H,W] float32 z-depth (> 0 everywhere), confidence [H,W] float32 in [0,1],
    completed [H,W] bool (True = filled, not matched); numpy, working resolution."""

    depth: np.ndarray
    confidence: np.ndarray
    completed: np.ndarray


def segments(image: np.ndarray, options: CompletionOptions) -> tuple[np.ndarray, np.ndarray]:
    """Labels [H,W] int32 (0 = edge pixel) of the regions between image edges (Canny on each
    colour channel), and each label's area [L] (index = label)."""
    img = np.ascontiguousarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (3, 3), 0)
    chans = [img[..., c] for c in range(img.shape[2])] if img.ndim == 3 else [img]
    edges = np.zeros(img.shape[:2], np.uint8)
    for ch in chans:                    # colour edges too: a beige floor and a grey wall can share a luminance
        edges |= cv2.Canny(ch, options.canny_low, options.canny_high)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))      # closes the gaps Canny leaves at junctions
    n, labels, stats, _ = cv2.connectedComponentsWithStats((edges == 0).astype(np.uint8), connectivity=4)
    labels[edges > 0] = 0
    return labels.astype(np.int32), stats[:, cv2.CC_STAT_AREA].astype(np.int64)


def fit_plane(uv: np.ndarray, w: np.ndarray, weight: np.ndarray, options: CompletionOptions,
              rng: np.random.Generator):
    """RANSAC plane ``w = a u + b v + c`` through anchors uv [N,2] px, w [N] inverse depth,
    voting with ``weight`` [N]. Returns (params [3], weighted inlier fraction, inlier mask [N])
    or None when no plane is credible."""
    n = len(w)
    if n < options.min_anchors:
        return None
    A = np.concatenate([uv, np.ones((n, 1))], 1)
    idx = rng.integers(0, n, (options.ransac_iters, 3))
    M = A[idx]                                                      # [R,3,3]
    ok = np.abs(np.linalg.det(M)) > 1e-6
    if not ok.any():
        return None
    params = np.linalg.solve(M[ok], w[idx[ok]][..., None])[..., 0]  # [R',3]
    resid = np.abs(params @ A.T - w[None]) / w[None]                # [R',N]
    inl = resid < options.plane_tol
    best = int((inl * weight[None]).sum(1).argmax())
    mask = inl[best]
    for _ in range(2):                                              # refit on inliers, re-score
        if mask.sum() < 3:
            return None
        sw = np.sqrt(weight[mask])[:, None]
        p, *_ = np.linalg.lstsq(A[mask] / w[mask, None] * sw, sw[:, 0], rcond=None)
        mask = np.abs(A @ p - w) / w < options.plane_tol
    frac = float((weight * mask).sum() / weight.sum())
    if frac < options.min_inlier_frac or mask.sum() < options.min_anchors:
        return None
    cov = np.cov(uv[mask].T)
    if np.sqrt(max(np.linalg.eigvalsh(cov)[0], 0.0)) < options.min_spread_px:
        return None
    return p, frac, mask


def _spread(ys: np.ndarray, xs: np.ndarray) -> float:
    """Second principal standard deviation (px) of pixel positions: ~0 for one line."""
    if len(ys) < 3:
        return 0.0
    return float(np.sqrt(max(np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)))[0], 0.0)))


def segment_planes(labels: np.ndarray, areas: np.ndarray, inv: np.ndarray, matched: np.ndarray,
                   anchor_weight: np.ndarray, inv_range: tuple[float, float], options: CompletionOptions,
                   scorer: BandScorer | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse depth [H,W] (0 = none), confidence [H,W] and plane [H,W,3] (a, b, c of
    ``w = a u + b v + c``; zeros = none) of the pixels of every segment whose plane is
    credible; depth and confidence only where not ``matched`` [H,W] bool. ``inv`` [H,W] is
    the anchors' inverse depth where ``anchor_weight`` [H,W] > 0. With a ``scorer`` the plane
    is chosen photometrically on the segment's textured border (segment_stereo), else by
    RANSAC on the anchors alone."""
    anchors = anchor_weight > 0
    h, w = labels.shape
    out_w = np.zeros((h, w), np.float32)
    out_c = np.zeros((h, w), np.float32)
    out_p = np.zeros((h, w, 3), np.float64)
    rng = np.random.default_rng(options.seed)
    m = options.anchor_margin
    kernel = np.ones((2 * m + 1, 2 * m + 1), np.uint8)
    big = np.flatnonzero(areas >= options.min_segment)
    big = big[big > 0]
    if not len(big) or not anchors.any():
        return out_w, out_c, out_p
    textured = scorer.textured.cpu().numpy() if scorer is not None else None
    photometric = set(big[np.argsort(-areas[big])][:options.max_photometric].tolist())
    generic = generic_planes(scorer.K, 1.0 / inv_range[1], 1.0 / inv_range[0]) if scorer is not None else None
    ys, xs = np.nonzero(labels > 0)
    lab = labels[ys, xs]
    order = np.argsort(lab, kind="stable")
    ys, xs, lab = ys[order], xs[order], lab[order]
    starts = np.searchsorted(lab, big)
    ends = np.searchsorted(lab, big, side="right")
    for k, s, e in zip(big, starts, ends):
        sy, sx = ys[s:e], xs[s:e]
        if matched[sy, sx].all():
            continue
        y0, y1 = max(sy.min() - m, 0), min(sy.max() + m + 1, h)
        x0, x1 = max(sx.min() - m, 0), min(sx.max() + m + 1, w)
        lc = labels[y0:y1, x0:x1]
        support = (cv2.dilate((lc == k).astype(np.uint8), kernel) > 0) & ((lc == k) | (lc == 0))
        ay, ax = np.nonzero(support & anchors[y0:y1, x0:x1])
        if len(ay) < options.min_anchors:
            continue
        if len(ay) > options.max_anchors:
            pick = rng.choice(len(ay), options.max_anchors, replace=False)
            ay, ax = ay[pick], ax[pick]
        uv = np.stack([ax + x0 + 0.5, ay + y0 + 0.5], 1).astype(np.float64)
        aw = inv[ay + y0, ax + x0].astype(np.float64)
        wt = anchor_weight[ay + y0, ax + x0].astype(np.float64)
        if scorer is None or k not in photometric or matched[sy, sx].mean() > options.max_matched_for_photo:
            fit = fit_plane(uv, aw, wt, options, rng)
            if fit is None:
                continue
            p, quality = fit[0], fit[1] * min(1.0, fit[2].sum() / 50.0)
        else:
            found = _photometric_plane(scorer, support & textured[y0:y1, x0:x1], (y0, x0), uv, aw, wt,
                                       generic, options, rng)
            if found is not None and not _agrees_inside(found[0], sy, sx, matched, inv, options):
                fit = fit_plane(uv, aw, wt, options, rng)   # the segment's own matched depth outvotes its border
                found = None if fit is None else (fit[0], fit[1] * min(1.0, fit[2].sum() / 50.0))
            if found is None:
                continue
            p, quality = found
        fill = ~matched[sy, sx]
        fy, fx = sy[fill], sx[fill]
        wv = p[0] * (fx + 0.5) + p[1] * (fy + 0.5) + p[2]
        if len(wv) and (wv.min() < 0.5 * inv_range[0] or wv.max() > 2.0 * inv_range[1]):
            continue                                   # behind the camera or far outside the range
        out_w[fy, fx] = wv
        out_c[fy, fx] = options.plane_conf * quality
        out_p[sy, sx] = p
    return out_w, out_c, out_p


def _agrees_inside(p: np.ndarray, sy: np.ndarray, sx: np.ndarray, matched: np.ndarray, inv: np.ndarray,
                   options: CompletionOptions) -> bool:
    """Whether plane ``p`` [3] agrees with the matched pixels inside its segment (pixels sy, sx):
    at least ``min_inside_agree`` of them within ``inside_tol`` (relative inverse depth);
    True when fewer than ``min_anchors`` are matched (nothing to judge by). A border that
    matches photometrically on a wrong plane (a repeated edge, an occluder's outline) is
    caught by the segment's own matched texture."""
    m = matched[sy, sx]
    if m.sum() < options.min_anchors:
        return True
    iy, ix = sy[m], sx[m]
    w = inv[iy, ix]
    pw = p[0] * (ix + 0.5) + p[1] * (iy + 0.5) + p[2]
    return float(np.mean(np.abs(pw - w) < options.inside_tol * w)) >= options.min_inside_agree


def _photometric_plane(scorer: BandScorer, band: np.ndarray, origin: tuple[int, int], uv, aw, wt,
                       generic: np.ndarray, options: CompletionOptions, rng: np.random.Generator):
    """(plane [3], quality in [0,1]) of one segment from its textured border ``band`` [h,w]
    bool (a crop at ``origin``), candidates from its anchors; None when not credible."""
    by, bx = np.nonzero(band)
    if len(by) < options.min_anchors or _spread(by, bx) < options.min_spread_px:
        return None                                    # no texture, or only one straight edge
    perm = rng.permutation(len(by))
    by, bx = by[perm] + origin[0], bx[perm] + origin[1]
    all_y, all_x = by[:options.max_polish_band], bx[:options.max_polish_band]
    by, bx = by[:options.max_band], bx[:options.max_band]
    hyps = [triplet_planes(uv, aw, options.ransac_iters, rng), generic]
    fit = fit_plane(uv, aw, wt, options, rng)
    if fit is not None:
        hyps.append(fit[0][None])
    hyps = np.concatenate(hyps)
    if not len(hyps):
        return None
    few = slice(0, options.max_band // 3)               # (by, bx) are in random order: a subsample
    costs = scorer.cost(hyps, by[few], bx[few])
    plane, cost = None, np.inf
    for i in np.argsort(costs)[:options.refine_starts]:      # a few starts: the cost is shallow
        p, c = refine_plane(scorer, hyps[i], float(costs[i]), by, bx, rng, options.refine_steps,
                            repeats=options.refine_repeats)
        if c < cost:
            plane, cost = p, c
    if options.polish_steps and len(all_y) > len(by):     # the subsample's minimum, polished on the whole border
        plane, cost = refine_plane(scorer, plane, float(scorer.cost(plane[None], all_y, all_x)[0]), all_y, all_x,
                                   rng, options.polish_steps, per_step=0, repeats=4)
    if cost > options.max_band_cost:
        return None
    return plane, float(np.clip((1.0 - cost) / 0.6, 0.1, 1.0))


def extend_planes(plane_w: np.ndarray, plane_c: np.ndarray, plane_p: np.ndarray, known: np.ndarray,
                  max_dist: float) -> None:
    """Give unknown pixels within ``max_dist`` px of a planed segment (edge bands between
    segments) the plane of the nearest planed pixel, in place. A crease's two planes meet
    on the edge, so either side's plane is right there."""
    has = np.abs(plane_p).sum(-1) > 0
    if not has.any():
        return
    dist, lab = cv2.distanceTransformWithLabels((~has).astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    src_y, src_x = np.nonzero(has)                         # label i = i-th zero pixel (row-major)
    ty, tx = np.nonzero(~known & (dist <= max_dist) & ~has)
    if not len(ty):
        return
    k = lab[ty, tx] - 1
    p = plane_p[src_y[k], src_x[k]]
    plane_w[ty, tx] = p[:, 0] * (tx + 0.5) + p[:, 1] * (ty + 0.5) + p[:, 2]
    plane_c[ty, tx] = plane_c[src_y[k], src_x[k]] * 0.8


def _edge_weights(gray: torch.Tensor, sigma: float) -> torch.Tensor:
    """[4,H,W] weights to the left/right/up/down neighbour (0 outside the image)."""
    wx = torch.exp(-((gray[:, 1:] - gray[:, :-1]) / sigma) ** 2).clamp_min(1e-4)   # [H,W-1]
    wy = torch.exp(-((gray[1:] - gray[:-1]) / sigma) ** 2).clamp_min(1e-4)         # [H-1,W]
    return torch.stack([F.pad(wx, (1, 0)), F.pad(wx, (0, 1)), F.pad(wy, (0, 0, 1, 0)), F.pad(wy, (0, 0, 0, 1))])


def _shifts(x: torch.Tensor) -> torch.Tensor:
    """[4,H,W] values of the left/right/up/down neighbour (edge-replicated)."""
    return torch.stack([torch.cat([x[:, :1], x[:, :-1]], 1), torch.cat([x[:, 1:], x[:, -1:]], 1),
                        torch.cat([x[:1], x[:-1]], 0), torch.cat([x[1:], x[-1:]], 0)])


def edge_aware_fill(values: torch.Tensor, known: torch.Tensor, gray: torch.Tensor,
                    options: CompletionOptions, min_side: int = 12) -> torch.Tensor:
    """Fill ``values`` [H,W] where ``known`` [H,W] bool is False by the edge-aware membrane
    solve (guide ``gray`` [H,W] in [0,1]); known pixels are returned unchanged. Needs at
    least one known pixel. Coarse-to-fine: each level starts from the solution of the level
    below (confidence-weighted 2x2 pooling), the coarsest from the nearest known value."""
    h, w = values.shape
    if known.all():
        return values
    if min(h, w) < 2 * min_side:
        init = _nearest_known(values, known)
    else:
        num = F.avg_pool2d((values * known)[None, None], 2, ceil_mode=True)[0, 0]
        den = F.avg_pool2d(known.float()[None, None], 2, ceil_mode=True)[0, 0]
        g2 = F.avg_pool2d(gray[None, None], 2, ceil_mode=True)[0, 0]
        k2 = den > 0
        coarse = edge_aware_fill(torch.where(k2, num / den.clamp_min(1e-9), torch.zeros_like(num)), k2, g2,
                                 options, min_side)
        up = F.interpolate(coarse[None, None], size=(h, w), mode="nearest")[0, 0]
        init = torch.where(known, values, up)
    wts = _edge_weights(gray, options.edge_sigma)
    norm = wts.sum(0)
    x = init
    for _ in range(options.fill_iters):
        x = torch.where(known, values, (wts * _shifts(x)).sum(0) / norm)
    return x


def _nearest_known(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Every unknown pixel takes the value of the nearest known one [H,W]."""
    k = known.cpu().numpy()
    _, lab = cv2.distanceTransformWithLabels((~k).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    ky, kx = np.nonzero(k)
    idx = torch.as_tensor(lab.astype(np.int64) - 1, device=values.device)
    flat = values[torch.as_tensor(ky, device=values.device), torch.as_tensor(kx, device=values.device)]
    return torch.where(known, values, flat[idx])


def complete_depth(cam: Camera, image: np.ndarray, depth: np.ndarray, confidence: np.ndarray,
                   near_far: tuple[float, float], neighbours: list[tuple[Camera, np.ndarray]] = (),
                   options: CompletionOptions = CompletionOptions(), mvs: MVSOptions = MVSOptions(),
                   device="cpu", raw: tuple[np.ndarray, np.ndarray] | None = None,
                   relaxed: tuple[np.ndarray, np.ndarray] | None = None) -> CompletedDepth:
    """Complete one view's matched depth (see module docstring).

    cam         working-resolution camera; image [H,W,3] uint8 RGB at that size
    depth       [H,W] float32 matched z-depth (0 = none); confidence [H,W] float32 in [0,1]
    near_far    the view's depth range (scene units) for the blind fallback and sanity
    neighbours  (camera, image) pairs at working resolution for the photometric verification
    raw         the unfiltered sweep (depth [H,W], ZNCC confidence [H,W]): winners above
                ``weak_zncc`` are weak plane anchors (edges of flat surfaces rarely pass the
                geometric filter, but RANSAC tolerates their outliers)
    relaxed     raw winners that fewer neighbours confirm than the filter asks (depth [H,W], 0 =
                none, confidence [H,W]; :func:`relaxed_matches`): full-weight plane anchors and,
                with ``keep_relaxed``, completed pixels that keep their own depth
    """
    h, w = depth.shape
    matched = depth > 0
    near, far = near_far
    weight = matched.astype(np.float32)
    inv = np.where(matched, 1.0 / np.maximum(depth, 1e-9), 0).astype(np.float32)
    if raw is not None:
        weak = ~matched & (raw[1] >= options.weak_zncc) & (raw[0] > 0)
        weight[weak] = options.weak_weight
        inv[weak] = 1.0 / raw[0][weak]
    soft = np.zeros((h, w), bool)
    if relaxed is not None:
        soft = ~matched & (relaxed[0] > 0)
        weight[soft] = 1.0
        inv[soft] = 1.0 / relaxed[0][soft]
    if not matched.any() and not (weight > 0).any():
        d = float(np.sqrt(near * far))
        return CompletedDepth(np.full((h, w), d, np.float32), np.full((h, w), options.blind_conf, np.float32),
                              np.ones((h, w), bool))
    labels, areas = segments(image, options)
    scorer = BandScorer(cam, image, list(neighbours), mvs, device) if neighbours else None
    keep = soft if options.keep_relaxed else np.zeros_like(soft)
    plane_w, plane_c, plane_p = segment_planes(labels, areas, inv, matched | keep, weight, (1.0 / far, 1.0 / near),
                                               options, scorer)
    if keep.any():
        plane_w[keep] = inv[keep]
        plane_c[keep] = options.relaxed_conf * relaxed[1][keep]
    extend_planes(plane_w, plane_c, plane_p, matched | (plane_w > 0), options.anchor_margin)
    planed = (plane_w > 0) & ~matched
    known = matched | planed
    gray = torch.as_tensor(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY), device=device).float() / 255
    if not known.any():                 # only weak anchors, none fitting a plane: fill from them
        known = weight > 0
        plane_w = np.where(known, inv, plane_w)
        plane_c = np.where(known, options.fill_conf, plane_c).astype(np.float32)
        planed = known & ~matched
    vals = torch.as_tensor(np.where(matched, inv, plane_w), device=device)
    filled = edge_aware_fill(vals, torch.as_tensor(known, device=device), gray, options)
    filled = filled.clamp(0.5 / far, 2.0 / near)
    dist = cv2.distanceTransform((~known).astype(np.uint8), cv2.DIST_L2, 3)
    fill_c = options.fill_conf * np.exp(-dist / (0.05 * np.hypot(h, w)))
    conf = np.where(matched, confidence, np.where(planed, plane_c, fill_c)).astype(np.float32)
    out_depth = (1.0 / filled).cpu().numpy().astype(np.float32)
    out_depth[matched] = depth[matched]
    completed = ~matched
    if neighbours:
        conf = _verify(cam, image, out_depth, conf, completed, neighbours, options, mvs, device)
    conf = np.where(completed, np.minimum(conf, options.max_completed_conf), conf).astype(np.float32)
    return CompletedDepth(out_depth, conf, completed)


def relaxed_matches(state, vid: int, options: CompletionOptions = CompletionOptions()) -> tuple[np.ndarray, np.ndarray]:
    """Raw winners of view ``vid`` that a looser geometric filter keeps (that of
    :func:`engine.tracking.dense.filtered_depth` with ``options.relaxed_min_views`` consistent
    neighbours, depth tolerance ``relaxed_depth_tol`` and ZNCC ``relaxed_min_zncc``; 0 / None
    keep the sweep's own): depth [H,W] float32 (0 = none) and confidence [H,W] float32, numpy.
    On fern ``geo_min_views`` 2 -> 1 keeps 40% more pixels at 74% instead of 78% precision:
    too noisy for matched depth, good anchors and fill for the completion."""
    from dataclasses import replace

    from engine.tracking.dense import filtered_depth

    loose = copy.copy(state)
    o = state.options
    loose.options = replace(o, geo_min_views=options.relaxed_min_views or o.geo_min_views,
                            geo_depth_tol=options.relaxed_depth_tol or o.geo_depth_tol,
                            min_zncc=options.relaxed_min_zncc or o.min_zncc)
    dm = filtered_depth(loose, vid)
    return dm.depth, dm.confidence


def _verify(cam, image, depth, conf, completed, neighbours, options: CompletionOptions, mvs: MVSOptions, device):
    """Raise / lower the confidence of completed pixels by their ZNCC in the neighbours."""
    srcs = [c for c, _ in neighbours]
    imgs = [im for _, im in neighbours]
    zncc, textured = photo_cost(cam, image, srcs, imgs, torch.as_tensor(depth, device=device), mvs, device)
    zncc, textured = zncc.cpu().numpy(), textured.cpu().numpy()
    check = completed & textured
    good = check & (zncc >= options.verify_good)
    bad = check & (zncc < options.verify_bad)
    out = conf.copy()
    out[good] = np.maximum(conf[good], options.verified_conf * zncc[good])
    out[bad] = conf[bad] * 0.25
    return out
