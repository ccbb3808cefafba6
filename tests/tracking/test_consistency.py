"""Cycle consistency of verified pairs and impossible steps between video keyframes
(engine.tracking.consistency), the pose-backend registry and dropping views from a solve."""
from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import se3
from engine.tracking.consistency import (ConsistencyOptions, PairRotation, chain_rotations, consistent_keyframes,
                                         impossible_steps, inconsistent_pairs, rotation_angle_deg)


def _orbit(n=30, step_deg=6.0, radius=2.0):
    """Cameras [n,4,4] on a circle looking at the origin, ``step_deg`` apart."""
    out = []
    for i in range(n):
        a = np.radians(step_deg * i)
        out.append(se3.look_at(np.array([radius * np.sin(a), -0.5, -radius * np.cos(a)]), np.zeros(3)))
    return np.stack(out)


def _pairs(wfc, gaps=(1, 2, 4, 8), noise_deg=0.3, seed=0):
    rng = np.random.default_rng(seed)
    R = np.transpose(wfc[:, :3, :3], (0, 2, 1))                       # cam_from_world
    out = []
    for a in range(len(wfc)):
        for g in gaps:
            if a + g < len(wfc):
                Rn = se3.so3_exp(np.radians(noise_deg) * rng.normal(size=3) / np.sqrt(3))
                out.append(PairRotation(a, a + g, Rn @ R[a + g] @ R[a].T, 200))
    return out


def test_chain_reproduces_rotations_and_wrong_wide_pairs_are_found():
    wfc = _orbit()
    pairs = _pairs(wfc)
    chain = chain_rotations(pairs)
    R = np.transpose(wfc[:, :3, :3], (0, 2, 1))
    assert {c for c, _ in chain.values()} == {0}
    # the chain's frame is camera 0's: R_chain_k = R_k R_0^T
    assert max(rotation_angle_deg(chain[k][1].T @ (R[k] @ R[0].T)) for k in chain) < 3.0
    assert inconsistent_pairs(pairs) == []
    # look-alike views a quarter turn apart: a loop pair "verified" with no rotation at all
    wrong = [PairRotation(2, 17, np.eye(3), 500), PairRotation(5, 20, se3.so3_exp(np.array([0, np.pi, 0])), 400)]
    bad = inconsistent_pairs(pairs + wrong)
    assert sorted((p.a, p.b) for p, _ in bad) == [(2, 17), (5, 20)]
    assert all(err > 60 for _, err in bad)


def test_pairs_across_a_broken_chain_are_kept():
    wfc = _orbit(12)
    pairs = [p for p in _pairs(wfc, gaps=(1, 2, 4)) if not (p.a <= 5 < p.b and p.b - p.a <= 2)]
    chain = chain_rotations(pairs)
    assert chain[5][0] != chain[6][0]                     # nothing short links 5 and 6
    wrong = [PairRotation(4, 8, np.eye(3), 500)]          # spans the break: cannot be checked
    assert inconsistent_pairs(pairs + wrong) == []


def test_a_flipped_keyframe_is_found_and_left_out():
    wfc = _orbit()
    flipped = wfc.copy()
    flipped[11, :3, :3] = flipped[11, :3, :3] @ se3.so3_exp(np.array([0.0, np.pi, 0.0]))   # turned 180 deg
    assert impossible_steps(wfc).tolist() == []
    assert impossible_steps(flipped).tolist() == [10, 11]
    keep = consistent_keyframes(flipped, np.arange(30))
    assert np.flatnonzero(~keep).tolist() == [11]
    jumped = wfc.copy()
    jumped[20, :3, 3] += 3.0                              # half the scene away, then back
    assert impossible_steps(jumped).tolist() == [19, 20]
    assert np.flatnonzero(~consistent_keyframes(jumped, np.arange(30))).tolist() == [20]


def test_a_cut_between_two_places_keeps_the_larger_side():
    wfc = _orbit(30)
    cut = wfc.copy()
    cut[22:, :3, 3] += np.array([10.0, 0.0, 0.0])         # the last 8 keyframes: another place
    cut[22:, :3, :3] = cut[22:, :3, :3] @ se3.so3_exp(np.array([0.0, 2.0, 0.0]))
    assert impossible_steps(cut).tolist() == [21]
    keep = consistent_keyframes(cut, np.arange(30))
    assert keep[:22].all() and not keep[22:].any()


def test_missing_keyframes_widen_the_allowed_step():
    wfc = _orbit(30, step_deg=30.0)[::2]                  # 60 deg between kept keyframes, 2 ordinals apart
    ordinals = np.arange(0, 30, 2)
    assert impossible_steps(wfc).tolist() != []
    assert impossible_steps(wfc, np.diff(ordinals)).tolist() == []
    assert consistent_keyframes(wfc, ordinals, ConsistencyOptions()).all()


def test_pose_backend_registry_and_dropping_views():
    from engine.geometry import Camera
    from engine.tracking.colmap_io import SparsePoints
    from engine.tracking.pose_backend import POSE_BACKENDS, make_pose_backend, without_views
    from engine.tracking.sfm import SfmOptions, SfmResult

    assert "colmap" in POSE_BACKENDS
    with pytest.raises(ValueError, match="unknown pose backend 'nope'"):
        make_pose_backend("nope", SfmOptions(), True)
    K = np.array([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    names = ["a", "b", "c"]
    cams = {n: Camera(K, 100, 80, np.eye(4), name=n) for n in names}
    pts = SparsePoints(np.arange(9.0).reshape(3, 3), np.zeros((3, 3), np.uint8), np.zeros(3),
                       [np.array([0, 1]), np.array([1]), np.array([0, 2])])
    res = SfmResult(cams, {n: np.zeros(4) for n in names}, names, ["d"], pts)
    out = without_views(res, {"b"})
    assert out.registered == ["a", "c"] and out.unregistered == ["d", "b"] and "b" not in out.cameras
    assert len(out.points.xyz) == 2 and [t.tolist() for t in out.points.tracks] == [[0], [0, 1]]
    np.testing.assert_array_equal(out.points.xyz, pts.xyz[[0, 2]])
    assert without_views(res, {"zzz"}) is res


def test_one_wrong_short_link_is_outvoted():
    """A short-baseline pair decomposed wrongly (10 degrees off, with the most inliers) must
    not bend the chain: the other links to that keyframe agree with each other."""
    wfc = _orbit()
    pairs = _pairs(wfc, gaps=(1, 2, 3, 8))
    R = np.transpose(wfc[:, :3, :3], (0, 2, 1))
    i = next(k for k, p in enumerate(pairs) if (p.a, p.b) == (11, 12))
    pairs[i] = PairRotation(11, 12, se3.so3_exp(np.radians([0, 10.0, 0])) @ pairs[i].R, 900)
    chain = chain_rotations(pairs, chain_gap=3)
    assert max(rotation_angle_deg(chain[k][1].T @ (R[k] @ R[0].T)) for k in chain) < 3.0
    assert inconsistent_pairs(pairs, ConsistencyOptions(chain_gap=3)) == []
