"""Window-parallel tracking (``track --parallel-windows``, issue 16 item 2) against the
single-process tracker on a long synthetic clip with exact cameras.

Renders the demo scene along a long handheld-like arc (cached in benchmarks/_cache), tracks it
once with the single-process tracker and once in windows on a local Ray with ``--cpus`` CPUs,
and prints a table: wall time, keyframes registered, pose errors against the ground truth and
between the two runs (after a Sim(3) over the shared keyframes), memory points.

    .venv/bin/python benchmarks/bench_windows.py [--frames 360] [--arc 240] [--max-keyframes 150]
        [--window-size 48] [--overlap 12] [--cpus 2] [--skip-single] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "_cache"


def long_clip(frames: int, arc: float, folder: Path = CACHE, width: int = 320, height: int = 180,
              processes: int = 1) -> Path:
    """The demo scene filmed along ``arc`` degrees in ``frames`` frames (with ``*_cameras.json``)."""
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    path = folder / f"long_{frames}_{int(arc)}_{width}x{height}.mp4"
    if not path.exists() or not path.with_name(path.stem + "_cameras.json").exists():
        scene = make_demo_scene(0)
        write_demo_video(path, scene, demo_capture_cameras(scene, frames, width, height, arc_deg=arc),
                         processes=processes)
    return path


def pose_comparison(est: dict, ref: dict) -> dict:
    """Median / max rotation (deg) and center (% of the reference path's extent) errors of the
    keyframes in both ``est`` and ``ref`` (name -> world_from_cam), after a whole-pose Sim(3)."""
    import numpy as np

    from engine.metrics import pose_errors_after_sim3

    names = sorted(n for n in est if n in ref)
    e = pose_errors_after_sim3(np.stack([est[n] for n in names]), np.stack([ref[n] for n in names]))
    return {"n": len(names), "rot_med_deg": e.median_rotation_deg, "rot_max_deg": e.max_rotation_deg,
            "ctr_med_pct": 100 * e.median_center_error, "ctr_max_pct": 100 * e.max_center_error}


def track(video: Path, max_keyframes: int, windows=None, cpus: int | None = None):
    """Run one tracking (single-process, or in ``windows`` on a local Ray); returns
    (TrackResult, wall seconds, name -> world_from_cam)."""
    from engine.ingest import IngestOptions
    from engine.session import run_job
    from engine.tracking.pipeline import TrackOptions, track_job
    from engine.workflows.windows import windowed_track_job
    from engine.workflows.workspace import Workspace

    options = TrackOptions(ingest=IngestOptions(max_keyframes=max_keyframes), device="cpu")
    job = track_job(video, options) if windows is None else windowed_track_job(video, options, windows, num_cpus=cpus)
    t0 = time.perf_counter()
    result = run_job(job, Workspace())
    wall = time.perf_counter() - t0
    return result, wall, {v.name: v.camera.world_from_cam for v in result.views}


def main(argv=None) -> None:
    from engine.synthetic import read_demo_cameras
    from engine.tracking.windows import WindowOptions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=360)
    ap.add_argument("--arc", type=float, default=240.0)
    ap.add_argument("--max-keyframes", type=int, default=150)
    ap.add_argument("--window-size", type=int, default=48)
    ap.add_argument("--overlap", type=int, default=12)
    ap.add_argument("--cpus", type=int, default=os.cpu_count())
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    video = long_clip(args.frames, args.arc, args.cache, processes=min(4, args.cpus))
    truth = {c.name: c.world_from_cam for c in read_demo_cameras(video)}
    rows, runs = [], {}
    load = os.getloadavg()[0]
    cases = ([("single process", None)] if not args.skip_single else []) + \
        [(f"windows {args.window_size}/{args.overlap}, {args.cpus} CPUs", WindowOptions(args.window_size, args.overlap))]
    for label, windows in cases:
        result, wall, poses = track(video, args.max_keyframes, windows, args.cpus)
        runs[label] = poses
        row = {"case": label, "wall_s": wall, "keyframes": len(result.registered) + len(result.unregistered),
               "registered": len(result.registered), "points": len(result.memory),
               "sfm_cpu_s": result.timings.get("sfm_s"), "dense_cpu_s": result.timings.get("dense_s"),
               "ba_s": result.timings.get("bundle_adjustment_s"),
               "first_geometry_s": result.timings.get("first_geometry_s"),
               "vs_truth": pose_comparison(poses, truth)}
        rows.append(row)
    if len(runs) == 2:
        rows[1]["vs_single"] = pose_comparison(*reversed(list(runs.values())))
    load = max(load, os.getloadavg()[0])
    print(f"\nclip: {args.frames} frames 320x180 on a {args.arc:.0f}-degree arc; load average up to {load:.1f} "
          f"on {os.cpu_count()} cores\n")
    print("| case | wall s | keyframes reg. | memory points | first geometry s | BA s | rot. med/max deg vs truth "
          "| center med/max % vs truth | vs single: rot. max deg, center max % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t, s = r["vs_truth"], r.get("vs_single")
        ba = "-" if r["ba_s"] is None else f"{r['ba_s']:.1f}"
        print(f"| {r['case']} | {r['wall_s']:.1f} | {r['registered']}/{r['keyframes']} | {r['points']:,} | "
              f"{r['first_geometry_s']:.1f} | {ba} | {t['rot_med_deg']:.3f} / {t['rot_max_deg']:.3f} | "
              f"{t['ctr_med_pct']:.3f} / {t['ctr_max_pct']:.3f} | "
              + ("-" if s is None else f"{s['rot_max_deg']:.3f}, {s['ctr_max_pct']:.3f}") + " |")
    if args.json:
        args.json.write_text(json.dumps({"load": load, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
