"""What a video knows that a photo set does not: consecutive keyframes are close in time, so
their cameras are close too (issue 14 item 2).

Before mapping, :func:`inconsistent_pairs` chains the relative rotations of short-baseline
sequential pairs (keyframe i to i+1, i+2) into rotations of every keyframe and drops any
verified pair (a loop candidate or a wide sequential pair) whose own relative rotation
contradicts that chain: on a symmetric object or a floor of repeated tiles, a pair of views a
quarter or half turn apart can verify with hundreds of inliers and a wrong rotation, and
rotation averaging would follow it. After mapping, :func:`impossible_steps` finds steps
between consecutive keyframes no handheld camera makes (a rotation above
``max_step_deg`` per keyframe, or a jump far beyond the neighbours' motion) and
:func:`consistent_keyframes` keeps the largest run of keyframes that moves plausibly; the
others are reported, never kept with a flipped pose.

Rotations are ``cam_from_world`` 3x3 matrices (OpenCV axes); a pair's rotation is
``cam_b_from_cam_a``. Keyframe ordinals are positions in video order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rotation_angle_deg(R: np.ndarray) -> float:
    """Angle of the rotation matrix ``R`` [3,3], degrees in [0, 180]."""
    c = (np.trace(R) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


@dataclass(frozen=True)
class PairRotation:
    """A verified pair: keyframe ordinals ``a`` < ``b``, ``R`` = cam_b_from_cam_a [3,3], inliers."""

    a: int
    b: int
    R: np.ndarray
    inliers: int


@dataclass(frozen=True)
class ConsistencyOptions:
    chain_gap: int = 3             # pairs at most this many keyframes apart build the chain (3: each
                                   # keyframe has up to 3 links, so one wrong link is outvoted)
    max_error_deg: float = 20.0    # a pair contradicting the chain by more is dropped ...
    error_per_link_deg: float = 0.5   # ... plus this much per chain link (the chain drifts)
    max_step_deg: float = 45.0     # impossible: more rotation than this per keyframe step
    jump_factor: float = 6.0       # impossible: a step this many times the neighbours' median step
    window: int = 4                # neighbours (each side) whose steps set the local median
    max_kink_deg: float = 3.0      # a video's global solve whose rotation between a keyframe and its
                                   # short-baseline partners differs from theirs by more (median) is
                                   # solved again incrementally (engine.tracking.sfm.ColmapWorkspace.map)
    max_skip: int = 3              # keyframes in a row that may be left out; after more, the
                                   # sequence is cut there (two places, not one flipped frame)


def chain_rotations(pairs: list[PairRotation], chain_gap: int = 2,
                    agree_deg: float = 3.0) -> dict[int, tuple[int, np.ndarray]]:
    """Rotations of the keyframes from short-baseline pairs only, walking in video order:
    keyframe b takes its rotation from a pair (a, b), b - a <= ``chain_gap``, whose a is
    already placed: the one whose result most other such pairs agree with (within
    ``agree_deg``), then the one with the most inliers. A keyframe with no such pair starts
    a new chain. Returns ordinal -> (chain id, cam_from_chain rotation [3,3])."""
    by_b: dict[int, list[PairRotation]] = {}
    for p in pairs:
        if 0 < p.b - p.a <= chain_gap:
            by_b.setdefault(p.b, []).append(p)
    ordinals = sorted({p.a for p in pairs} | {p.b for p in pairs})
    out: dict[int, tuple[int, np.ndarray]] = {}
    chain = -1
    for k in ordinals:
        links = [p for p in by_b.get(k, []) if p.a in out]
        if not links:
            chain += 1
            out[k] = (chain, np.eye(3))
            continue
        cands = [(out[p.a][0], p.R @ out[p.a][1], p.inliers) for p in links]
        # the link most others agree with (one wrong short link is outvoted), then the most inliers
        votes = [sum(c[0] == d[0] and rotation_angle_deg(c[1] @ d[1].T) < agree_deg for d in cands) for c in cands]
        cid, Rk, _ = max(zip(cands, votes), key=lambda cv: (cv[1], cv[0][2]))[0]
        out[k] = (cid, Rk)
    return out


def inconsistent_pairs(pairs: list[PairRotation], options: ConsistencyOptions = ConsistencyOptions()
                       ) -> list[tuple[PairRotation, float]]:
    """Pairs wider than ``chain_gap`` whose rotation differs from the chain's by more than
    ``max_error_deg + error_per_link_deg * (b - a)``, with that difference in degrees.
    Pairs whose ends lie on different chains cannot be checked and are kept."""
    chains = chain_rotations(pairs, options.chain_gap)
    bad = []
    for p in pairs:
        if p.b - p.a <= options.chain_gap or p.a not in chains or p.b not in chains:
            continue
        (ca, Ra), (cb, Rb) = chains[p.a], chains[p.b]
        if ca != cb:
            continue
        err = rotation_angle_deg(p.R @ (Rb @ Ra.T).T)
        if err > options.max_error_deg + options.error_per_link_deg * (p.b - p.a):
            bad.append((p, err))
    return bad


def step_sizes(world_from_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per consecutive step i -> i+1 of cameras [N,4,4]: rotation angle (deg) [N-1] and
    center distance (scene units) [N-1]."""
    R = world_from_cam[:, :3, :3]
    rot = np.array([rotation_angle_deg(R[i].T @ R[i + 1]) for i in range(len(R) - 1)])
    dist = np.linalg.norm(np.diff(world_from_cam[:, :3, 3], axis=0), axis=1)
    return rot, dist


def impossible_steps(world_from_cam: np.ndarray, gaps: np.ndarray | None = None,
                     options: ConsistencyOptions = ConsistencyOptions()) -> np.ndarray:
    """Indices i of impossible steps i -> i+1 between consecutive keyframes [N,4,4] (video
    order; ``gaps`` [N-1] keyframe ordinals between them, 1 when none is missing): a rotation
    above ``max_step_deg`` per keyframe, or a center jump above ``jump_factor`` times the
    median step of the ``window`` steps on each side (and of all steps, so a still camera's
    tiny steps do not make an ordinary one look like a jump)."""
    if len(world_from_cam) < 2:
        return np.zeros(0, dtype=int)
    rot, dist = step_sizes(world_from_cam)
    gaps = np.ones(len(rot)) if gaps is None else np.maximum(np.asarray(gaps, dtype=float), 1.0)
    per = dist / gaps
    overall = float(np.median(per))
    bad = rot > options.max_step_deg * gaps
    for i in range(len(per)):
        lo, hi = max(0, i - options.window), min(len(per), i + options.window + 1)
        neighbours = np.delete(per[lo:hi], i - lo)
        local = float(np.median(neighbours)) if len(neighbours) else overall
        if per[i] > options.jump_factor * max(local, overall, 1e-12):
            bad[i] = True
    return np.flatnonzero(bad)


def step_scale(world_from_cam: np.ndarray, ordinals: np.ndarray) -> float:
    """Median center distance per keyframe between consecutive cameras [N,4,4] (scene units)."""
    if len(world_from_cam) < 2:
        return 0.0
    _, dist = step_sizes(world_from_cam)
    return float(np.median(dist / np.maximum(np.diff(np.asarray(ordinals)), 1)))


def step_possible(a: np.ndarray, b: np.ndarray, gap: int, scale: float,
                  options: ConsistencyOptions = ConsistencyOptions()) -> bool:
    """Whether a camera can move from ``a`` to ``b`` (world_from_cam [4,4]) in ``gap``
    keyframes: at most ``max_step_deg`` rotation and ``jump_factor`` x ``scale`` (the median
    step, :func:`step_scale`) distance per keyframe."""
    gap = max(int(gap), 1)
    R = a[:3, :3].T @ b[:3, :3]
    d = float(np.linalg.norm(b[:3, 3] - a[:3, 3]))
    return rotation_angle_deg(R) <= options.max_step_deg * gap and d <= options.jump_factor * scale * gap


def consistent_keyframes(world_from_cam: np.ndarray, ordinals: np.ndarray,
                         options: ConsistencyOptions = ConsistencyOptions()) -> np.ndarray:
    """[N] bool: keyframes to keep. The sequence is cut at impossible steps; the longest run
    is kept and grown both ways one keyframe at a time, a keyframe joining when its step from
    the last kept one is possible (so a lone flipped frame is left out and its neighbours
    rejoin) until more than ``max_skip`` keyframes in a row were left out; the rest (a flipped frame, the smaller side of a cut between two places) is not
    kept."""
    n = len(world_from_cam)
    keep = np.zeros(n, dtype=bool)
    if n < 3:
        keep[:] = True
        return keep
    ordinals = np.asarray(ordinals)
    bad = set(impossible_steps(world_from_cam, np.diff(ordinals), options).tolist())
    runs, start = [], 0
    for i in range(n - 1):
        if i in bad:
            runs.append((start, i + 1))
            start = i + 1
    runs.append((start, n))
    a, b = max(runs, key=lambda r: r[1] - r[0])
    keep[a:b] = True
    scale = step_scale(world_from_cam, ordinals)

    def possible(i: int, j: int) -> bool:
        return step_possible(world_from_cam[i], world_from_cam[j], abs(int(ordinals[j]) - int(ordinals[i])),
                             scale, options)

    last = b - 1
    for j in range(b, n):
        if j - last > options.max_skip + 1:
            break
        if possible(last, j):
            keep[j], last = True, j
    last = a
    for j in range(a - 1, -1, -1):
        if last - j > options.max_skip + 1:
            break
        if possible(last, j):
            keep[j], last = True, j
    return keep
