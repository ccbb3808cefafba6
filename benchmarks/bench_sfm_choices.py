"""The measurements behind SfmOptions / LoopOptions defaults (SfM only, no dense depth):

  cameras      fern: photos sharing one camera vs one camera per photo
  sift_size    fern (504 px) and the synthetic video (320 px): at their size vs enlarged 2x
  loop_words   360-degree synthetic orbit (60 frames 320x180): how many of each query's 5
               best-ranked far keyframes verify, per vocabulary size / sample, and k-means time
  loop_inliers kitchen photos forced through sequential matching with loop detection: loop
               pairs kept with 15 vs 40 inliers, poses vs the exhaustive model

    .venv/bin/python benchmarks/bench_sfm_choices.py [--cases a,b] [--data DIR]

Pose errors: whole-pose Sim(3) (engine.metrics), centers in % of the reference extent.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_tracking import DEFAULT_DATA, _fern_reference, _pose_stats  # noqa: E402


def _sfm(frames, ref: dict, is_video: bool, **options) -> dict:
    """One mapping of all frames with SfmOptions(**options): time and pose errors."""
    from engine.tracking.sfm import ColmapWorkspace, SfmOptions

    ws = ColmapWorkspace(SfmOptions(**options), is_video=is_video)
    try:
        t0 = time.perf_counter()
        ws.extract_and_match(ws.add_frames(frames))
        result = ws.map()
        seconds = time.perf_counter() - t0
    finally:
        ws.close()
    stats = _pose_stats({n: c.world_from_cam for n, c in result.cameras.items()}, ref)
    return {"registered": f"{len(result.registered)}/{len(frames)}", "sfm_s": round(seconds, 1),
            "rot_med": round(stats.get("rot_med_deg", np.nan), 3), "ctr_med_pct": round(stats.get("ctr_med_pct", np.nan), 2),
            "ctr_max_pct": round(stats.get("ctr_max_pct", np.nan), 2)}


def _synthetic_video(tmp: Path, n: int, arc_deg: float):
    from engine.ingest import load_input
    from engine.synthetic import demo_capture_cameras, make_demo_scene, read_demo_cameras, write_demo_video

    scene = make_demo_scene(0)
    cams = demo_capture_cameras(scene, n + (arc_deg >= 360), 320, 180, arc_deg=arc_deg)[:n]
    video = write_demo_video(tmp / f"orbit_{n}_{arc_deg:g}.mp4", scene, cams)
    return load_input(video).frames, {c.name: c.world_from_cam for c in read_demo_cameras(video)}


def cameras(data: Path, tmp: Path) -> list[dict]:
    from engine.ingest import load_input

    frames, ref = load_input(data / "llff_fern" / "images_8").frames, _fern_reference(data)
    return [{"variant": "fern, shared camera (default)", **_sfm(frames, ref, False)},
            {"variant": "fern, one camera per photo", **_sfm(frames, ref, False, single_camera=False)}]


def sift_size(data: Path, tmp: Path) -> list[dict]:
    from engine.ingest import load_input

    fern, fern_ref = load_input(data / "llff_fern" / "images_8").frames, _fern_reference(data)
    syn, syn_ref = _synthetic_video(tmp, 24, 120.0)
    return [{"variant": "fern 504 px at its size (default)", **_sfm(fern, fern_ref, False)},
            {"variant": "fern enlarged (800 px)", **_sfm(fern, fern_ref, False, upsample_below=1000)},
            {"variant": "synthetic 320 px enlarged 2x (default)", **_sfm(syn, syn_ref, True)},
            {"variant": "synthetic 320 px at its size", **_sfm(syn, syn_ref, True, upsample_below=0)}]


def loop_words(data: Path, tmp: Path) -> list[dict]:
    """Precision of the ranking: of each query's 5 best far keyframes (> 6 apart), the share
    that exhaustive matching verifies with >= 30 inliers."""
    import pycolmap

    from engine.tracking.loops import LoopDetector, LoopOptions
    from engine.tracking.sfm import ColmapWorkspace, SfmOptions

    frames, _ = _synthetic_video(tmp, 60, 360.0)
    ws = ColmapWorkspace(SfmOptions(matching="exhaustive"), is_video=False)
    try:
        ws.extract_and_match(ws.add_frames(frames))
        db = pycolmap.Database.open(str(ws.database))
        ids = {im.name: im.image_id for im in db.read_all_images()}
        desc = {i: db.read_descriptors(ids[a]).data for i, a in enumerate(ws.names)}
        pair_ids, geoms = db.read_two_view_geometries()
        db.close()
    finally:
        ws.close()
    order = {ids[a]: i for i, a in enumerate(ws.names)}     # COLMAP image id -> keyframe index
    ok = np.zeros((len(frames), len(frames)), bool)
    for p, g in zip(pair_ids, geoms):
        a, b = (order[i] for i in pycolmap.pair_id_to_image_pair(p))
        ok[a, b] = ok[b, a] = len(g.inlier_matches) >= 30
    rows = []
    for words, sample in ((1024, 15_000), (1024, 30_000), (256, 15_000)):
        det = LoopDetector(LoopOptions(words=words, sample=sample, period=5, candidates=5, min_keyframes=1))
        t0 = time.perf_counter()
        det.add_images(desc, {i: i for i in desc})
        seconds = time.perf_counter() - t0
        pairs = det.candidate_pairs(list(desc), min_gap=6)
        rows.append({"variant": f"{words} words, {sample} descriptors", "vocabulary_s": round(seconds, 2),
                     "candidates": len(pairs), "verifiable_share": round(float(np.mean([ok[a, b] for a, b in pairs])), 3)})
    return rows


def loop_inliers(data: Path, tmp: Path) -> list[dict]:
    from engine.ingest import load_input
    from engine.tracking.loops import LoopOptions
    from engine.tracking.sfm import ColmapWorkspace, SfmOptions

    frames = load_input(data / "vggsfm_kitchen" / "images").frames
    ws = ColmapWorkspace(SfmOptions(matching="exhaustive"), is_video=False)
    try:
        ws.extract_and_match(ws.add_frames(frames))
        reference = ws.map()
    finally:
        ws.close()
    ref = {n: c.world_from_cam for n, c in reference.cameras.items()}
    rows = [{"variant": f"exhaustive (reference), {len(reference.registered)} registered"}]
    for label, loops in (("no loop detection", LoopOptions(enabled=False)),
                         ("loops kept at 15 inliers", LoopOptions(min_inliers=15)),
                         ("loops kept at 40 inliers (default)", LoopOptions())):
        rows.append({"variant": f"sequential, {label}", **_sfm(frames, ref, False, matching="sequential", loops=loops)})
    return rows


CASES = {"cameras": cameras, "sift_size": sift_size, "loop_words": loop_words, "loop_inliers": loop_inliers}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    from engine.tracking.sfm import quiet_pycolmap

    quiet_pycolmap()
    for name in args.cases.split(","):
        needs = {"cameras": "llff_fern", "sift_size": "llff_fern", "loop_inliers": "vggsfm_kitchen"}.get(name)
        if needs and not (args.data / needs).is_dir():
            print(f"## {name}: skipped ({needs} absent)")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            rows = CASES[name](args.data, Path(tmp))
        keys = list(dict.fromkeys(k for r in rows for k in r))
        print(f"\n## {name}\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for r in rows:
            print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
