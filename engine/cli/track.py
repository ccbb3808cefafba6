"""``anyrecon track INPUT --out PROJECT``: a video or photo folder (or images + known poses)
becomes a project with cameras, depth maps and the geometry memory."""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from engine.cli.checks import IMAGE_SIDE, NON_NEGATIVE, POSITIVE, add_overwrite, int_range


def register(subparsers) -> None:
    from engine.tracking.depth_backend import DEFAULT_DEPTH_BACKEND, DEPTH_BACKENDS
    from engine.tracking.pose_backend import POSE_BACKENDS

    p = subparsers.add_parser("track", help="track cameras and build the geometry memory",
                              description="Track a video / photo folder, or import known poses "
                                          "(--poses), and write a project.")
    p.add_argument("input", type=Path, help="video file, image folder, or (with --poses) the image folder")
    p.add_argument("--out", type=Path, required=True, help="project folder to write")
    add_overwrite(p, "a project (or other files) in --out")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--stride", type=POSITIVE, help="take every Nth frame exactly")
    g.add_argument("--max-keyframes", type=int_range(2, 100_000), default=150,
                   help="keyframe target for videos (default 150)")
    p.add_argument("--poses", type=Path, help="COLMAP model folder, transforms.json or poses_bounds.npy")
    p.add_argument("--holdout", type=NON_NEGATIVE, default=0, help="with --poses: keep every Nth view out (LLFF: 8)")
    p.add_argument("--mapper", choices=("global", "incremental"), default="global")
    p.add_argument("--max-side", type=IMAGE_SIDE, default=1600, help="downscale larger frames (pixels)")
    p.add_argument("--mvs-side", type=IMAGE_SIDE, default=None,
                   help="dense depth working resolution (pixels; default 400 when tracking, 480 with --poses)")
    p.add_argument("--max-dense-views", type=POSITIVE, default=60,
                   help="keyframes that get a depth map, evenly spread (the others are stereo sources)")
    p.add_argument("--pose-backend", choices=tuple(POSE_BACKENDS), default="colmap",
                   help="cameras: 'colmap' (SIFT + pycolmap mapper) or 'pi3' (the Pi3 network on "
                        "<models>/Pi3/model.safetensors; see `anyrecon models`)")
    p.add_argument("--depth-backend", choices=tuple(DEPTH_BACKENDS), default=None,
                   help=f"dense depth: 'sweep' (matched pixels), 'sweep+complete' (every pixel, completed "
                        f"ones flagged and weighed lower) or 'pi3' (Pi3's own depth; needs --pose-backend pi3). "
                        f"Default: pi3 with --pose-backend pi3, else {DEFAULT_DEPTH_BACKEND}")
    p.add_argument("--models", "--models-dir", dest="models", type=Path, default=None,
                   help="models folder of the learned backends (default: $ANYRECON_MODELS or ~/.anyrecon/models)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: CUDA when present)")
    p.add_argument("--splats", action=argparse.BooleanOptionalAction, default=None,
                   help="train Gaussian splats into the project afterwards (default: on CUDA yes, on the CPU no; "
                        "the default generator `auto` renders them)")
    p.add_argument("--splat-iterations", type=POSITIVE, default=None, help="default: 7000 on CUDA, 300 on the CPU")
    p.add_argument("--parallel-windows", action="store_true",
                   help="long videos: track overlapping windows of keyframes as parallel Ray tasks, chain "
                        "them by Sim(3) and bundle-adjust all (local Ray on loopback, or --address)")
    p.add_argument("--window-size", type=int_range(6, 100_000), default=48, help="keyframes per window (default 48)")
    p.add_argument("--window-overlap", type=int_range(3, 100_000), default=12,
                   help="keyframes consecutive windows share (default 12)")
    p.add_argument("--address", help="with --parallel-windows: a running Ray cluster (default: local)")
    p.add_argument("--num-cpus", type=POSITIVE, default=None, help="with --parallel-windows, local Ray: CPUs to use")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def _progress(quiet: bool):
    from engine.events import Progress

    def on_event(event) -> None:
        if not quiet and isinstance(event, Progress):
            print(f"[{event.fraction * 100:5.1f}%] {event.message}", file=sys.stderr, flush=True)
    return on_event


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.session import run_job
    from engine.workflows import EngineSettings, Workspace, save_project

    t0 = time.perf_counter()
    from engine.project import check_destination

    check_destination(args.out, overwrite=args.overwrite)      # before the long work
    ws = Workspace(settings=EngineSettings(device=args.device, models_dir=args.models))
    job = _import(args) if args.poses else _track(args)
    loaded = run_job(job, ws, on_event=_progress(args.json))
    ws.project.name = args.out.name
    save_project(ws, args.out, overwrite=args.overwrite)
    summary = {"registered": loaded.num_views, "unregistered": list(loaded.unregistered),
               "project": str(args.out), "views": loaded.num_views, "points": loaded.num_points,
               "seconds": round(time.perf_counter() - t0, 2)}
    tracking = ws.project.info.get("tracking")
    if tracking:
        summary.update(keyframes=tracking["keyframes"], timings=tracking["timings"])
    if args.poses:
        summary.update(holdout=list(loaded.holdout), first_geometry_s=loaded.timings.get("first_geometry_s"))
    if not args.json:
        print(f"wrote {args.out}: {summary['views']} views, {summary['points']} points "
              f"in {summary['seconds']} s")
        for name in summary.get("unregistered", []):
            print(f"  not registered: {name}")
    summary["splats"] = _splats(ws, args)
    if args.json:
        print_json_summary(summary)
    return 0


def _splats(ws, args) -> dict | None:
    """Splat training after tracking (engine.workflows.auto_splats_job): on CUDA unless
    --no-splats, on the CPU only with --splats (else it says how to ask for it)."""
    from engine.events import Progress
    from engine.session import run_job
    from engine.workflows import auto_splats_job

    def show(event) -> None:
        if isinstance(event, Progress) and (not args.json or event.fraction >= 1.0):
            print(f"[splats] {event.message}", file=sys.stderr, flush=True)

    s = run_job(auto_splats_job(args.splats, args.splat_iterations), ws, on_event=show)
    if s is None:
        return None
    if not args.json:
        after = "n/a" if s.psnr_after is None else f"{s.psnr_after:.2f} dB"
        print(f"trained splats: {s.steps_run} steps, {s.num_splats:,} Gaussians, held-out PSNR {after} "
              f"in {s.seconds:.1f} s ({s.backend} on {s.device})")
    return {"steps": s.steps_run, "gaussians": s.num_splats, "psnr_after": s.psnr_after, "seconds": round(s.seconds, 2)}


def _track(args):
    from engine.ingest import IngestOptions
    from engine.tracking.pipeline import TrackOptions
    from engine.tracking.sfm import SfmOptions
    from engine.workflows import open_capture_job

    mvs = TrackOptions().mvs
    if args.mvs_side:
        mvs = replace(mvs, max_side=args.mvs_side)
    opts = TrackOptions(ingest=IngestOptions(max_keyframes=args.max_keyframes, stride=args.stride,
                                             max_side=args.max_side),
                        sfm=SfmOptions(mapper=args.mapper), mvs=mvs, max_dense_views=args.max_dense_views,
                        device=args.device, pose_backend=args.pose_backend, models_dir=args.models,
                        depth_backend=args.depth_backend or _default_depth(args.pose_backend))
    track = None
    if args.parallel_windows:
        from engine.tracking.windows import WindowOptions
        from engine.workflows.windows import track_factory

        windows = WindowOptions(size=args.window_size, overlap=args.window_overlap)
        windows.validate()
        track = track_factory(windows, args.address, args.num_cpus)
    return open_capture_job(args.input, opts, track=track)


def _import(args):
    from engine.workflows import ImportOptions, import_dataset_job

    images = args.input if args.input.is_dir() and args.input.resolve() != args.poses.resolve() else None
    return import_dataset_job(args.poses, ImportOptions(images=images, holdout=args.holdout, max_side=args.max_side,
                                                        mvs_side=args.mvs_side or 480,
                                                        depth_backend=args.depth_backend))


def _default_depth(pose_backend: str) -> str:
    from engine.tracking.depth_backend import DEFAULT_DEPTH_BACKEND

    return "pi3" if pose_backend == "pi3" else DEFAULT_DEPTH_BACKEND
