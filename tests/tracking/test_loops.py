"""Loop detection: keyframes that revisit an earlier place are ranked by their own visual
words and matched with it, beyond the sequential window."""
from dataclasses import replace

import numpy as np
import pytest

from engine.geometry import se3
from engine.ingest.frames import Frame
from engine.synthetic import demo_capture_cameras, make_demo_scene
from engine.tracking.loops import LoopDetector, LoopOptions, spherical_kmeans
from engine.tracking.sfm import ColmapWorkspace, SfmOptions


def test_spherical_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.eye(8, 16, dtype=np.float32)
    x = np.concatenate([c + 0.05 * rng.standard_normal((50, 16)) for c in centers])
    found = spherical_kmeans(x, 8, iterations=10, seed=1)
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    assert (found @ centers.T).max(0).min() > 0.98          # every true center has a found one


def test_a_revisit_is_the_top_candidate_beyond_the_window():
    """Images 0-1 and 10-11 see place A; the others see places of their own."""
    rng = np.random.default_rng(0)
    places = rng.standard_normal((12, 60, 32)).astype(np.float32)
    place_of = [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0]
    desc = {i: places[p][rng.choice(60, 100)] + 0.02 * rng.standard_normal((100, 32))
            for i, p in enumerate(place_of)}
    det = LoopDetector(LoopOptions(period=5, candidates=2, words=128, min_keyframes=1, sample=10_000))
    det.add_images({i: desc[i] for i in range(6)}, {i: i for i in range(6)})
    first = det.candidate_pairs(list(range(6)), min_gap=3)
    assert {q for q, _ in first} == {0, 5} and all(abs(q - o) > 3 for q, o in first)
    det.add_images({i: desc[i] for i in range(6, 12)}, {i: i for i in range(6, 12)})
    pairs = det.candidate_pairs(list(range(6, 12)), min_gap=3)
    assert {q for q, _ in pairs} == {10}                     # ordinal 10 is the only new query
    assert {o for _, o in pairs} == {0, 1}                   # ... and it finds where it was before


def test_featureless_keyframes_wait_for_a_vocabulary():
    det = LoopDetector(LoopOptions(words=64, min_keyframes=1))
    det.add_images({0: np.zeros((0, 128), np.uint8), 1: np.zeros((3, 128), np.uint8)}, {0: 0, 1: 1})
    assert det.vocabulary is None and det.candidate_pairs([0, 1], min_gap=0) == []
    rng = np.random.default_rng(0)
    det.add_images({i: rng.integers(0, 255, (300, 128)).astype(np.uint8) for i in (2, 3)}, {2: 2, 3: 3})
    assert det.vocabulary is not None and set(det.histograms) == {0, 1, 2, 3} and not det.pending
    short = LoopDetector(LoopOptions(words=64, min_keyframes=20))      # a short video: no loops yet
    short.add_images({i: rng.integers(0, 255, (300, 128)).astype(np.uint8) for i in range(10)}, {i: i for i in range(10)})
    assert short.vocabulary is None and short.candidate_pairs(list(range(10)), min_gap=0) == []


def verified_pairs(ws, min_inliers: int = 15) -> set:
    """Frame-name pairs of the workspace whose matches passed verification with enough inliers."""
    import pycolmap

    db = pycolmap.Database.open(str(ws.database))
    try:
        names = {im.image_id: ws.names[im.name] for im in db.read_all_images()}
        pair_ids, geoms = db.read_two_view_geometries()
    finally:
        db.close()
    return {frozenset(names[i] for i in pycolmap.pair_id_to_image_pair(p))
            for p, g in zip(pair_ids, geoms) if len(g.inlier_matches) >= min_inliers}


def _there_and_back(n_out: int = 14, width: int = 320, height: int = 180):
    """Frames filmed along an arc and back along it 10 cm higher: the last frames revisit the first."""
    scene = make_demo_scene(0)
    out = demo_capture_cameras(scene, n=n_out, width=width, height=height, arc_deg=80)
    back = [c.with_pose(se3.make_transform(c.world_from_cam[:3, :3], c.center + np.array([0.0, -0.1, 0.0])))
            for c in reversed(out)]
    frames = []
    for i, cam in enumerate(out + back):
        rgb = (np.clip(scene.render(cam).rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        frames.append(Frame(f"frame_{i:06d}", i, rgb))
    return frames


@pytest.mark.slow   # renders and matches a revisiting video (~12 s)
def test_video_revisit_is_matched_and_verified():
    frames = _there_and_back()
    n = len(frames)
    ws = ColmapWorkspace(SfmOptions(sequential_overlap=4, loops=LoopOptions(period=4, candidates=3)), is_video=True)
    try:
        ws.extract_and_match(ws.add_frames(frames[:10]))
        ws.extract_and_match(ws.add_frames(frames[10:]))
        order = {a: i for i, a in enumerate(ws.names)}
        loops = [(order[a], order[b]) for a, b in ws.loop_pairs]
        assert loops and all(abs(i - j) > 4 for i, j in loops)
        verified = verified_pairs(ws)
        revisits = [(i, j) for i, j in loops if abs(i + j - (n - 1)) <= 2 and abs(i - j) > 8
                    and frozenset((frames[i].name, frames[j].name)) in verified]
        assert len(revisits) >= 2, (loops, revisits)
        result = ws.map()
        assert len(result.registered) == n
        # a loop pair needs loops.min_inliers verified matches; below that the mapper never sees it
        ws.options = replace(ws.options, loops=replace(ws.options.loops, min_inliers=10**6))
        ws._drop_weak_loops(ws.loop_pairs)
        verified = verified_pairs(ws)
        assert not any(frozenset((ws.names[a], ws.names[b])) in verified for a, b in ws.loop_pairs)
    finally:
        ws.close()
