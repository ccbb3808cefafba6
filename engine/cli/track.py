"""``anyrecon track INPUT --out PROJECT``: a video or photo folder (or images + known poses)
becomes a project with cameras, depth maps and the geometry memory."""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("track", help="track cameras and build the geometry memory",
                              description="Track a video / photo folder, or import known poses "
                                          "(--poses), and write a project.")
    p.add_argument("input", type=Path, help="video file, image folder, or (with --poses) the image folder")
    p.add_argument("--out", type=Path, required=True, help="project folder to write")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--stride", type=int, help="take every Nth frame exactly")
    g.add_argument("--max-keyframes", type=int, default=150, help="keyframe target for videos (default 150)")
    p.add_argument("--poses", type=Path, help="COLMAP model folder, transforms.json or poses_bounds.npy")
    p.add_argument("--holdout", type=int, default=0, help="with --poses: keep every Nth view out (LLFF: 8)")
    p.add_argument("--mapper", choices=("global", "incremental"), default="global")
    p.add_argument("--max-side", type=int, default=1600, help="downscale larger frames (pixels)")
    p.add_argument("--mvs-side", type=int, default=None,
                   help="dense depth working resolution (pixels; default 400 when tracking, 480 with --poses)")
    p.add_argument("--max-dense-views", type=int, default=60,
                   help="keyframes that get a depth map, evenly spread (the others are stereo sources)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: CUDA when present)")
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

    t0 = time.perf_counter()
    if args.stride is not None and args.stride < 1:
        raise ValueError("--stride must be >= 1")
    if args.poses:
        project, summary = _import(args)
    else:
        project, summary = _track(args)
    project.save(args.out)
    summary.update(project=str(args.out), views=len(project.views), points=len(project.memory),
                   seconds=round(time.perf_counter() - t0, 2))
    if args.json:
        print_json_summary(summary)
    else:
        print(f"wrote {args.out}: {summary['views']} views, {summary['points']} points "
              f"in {summary['seconds']} s")
        for name in summary.get("unregistered", []):
            print(f"  not registered: {name}")
    return 0


def _track(args):
    from engine.ingest import IngestOptions
    from engine.project import Project
    from engine.session import EngineState, run_job
    from engine.tracking.pipeline import TrackOptions, track_job
    from engine.tracking.sfm import SfmOptions

    mvs = TrackOptions().mvs
    if args.mvs_side:
        mvs = replace(mvs, max_side=args.mvs_side)
    opts = TrackOptions(ingest=IngestOptions(max_keyframes=args.max_keyframes, stride=args.stride,
                                             max_side=args.max_side),
                        sfm=SfmOptions(mapper=args.mapper), mvs=mvs, max_dense_views=args.max_dense_views,
                        device=args.device)
    result = run_job(track_job(args.input, opts), EngineState(), on_event=_progress(args.json))
    info = {"source": str(args.input), "tracking": {
        "mapper": args.mapper, "registered": len(result.registered), "unregistered": result.unregistered,
        "keyframes": len(result.registered) + len(result.unregistered),
        "source_frames": result.num_source_frames, "timings": result.timings, "warnings": result.warnings}}
    project = Project(root=args.out, name=args.out.name, views=result.views, memory=result.memory, info=info)
    summary = {"registered": len(result.registered), "unregistered": result.unregistered,
               "keyframes": info["tracking"]["keyframes"], "timings": result.timings}
    return project, summary


def _import(args):
    from engine.project import Project, write_image, write_json_atomic
    from engine.session import EngineState, run_job
    from engine.tracking.import_poses import import_poses
    from engine.tracking.mvs import MVSOptions
    from engine.tracking.posed import dense_job

    images = args.input if args.input.is_dir() and args.input.resolve() != args.poses.resolve() else None
    scene = import_poses(args.poses, images=images, holdout=args.holdout, max_side=args.max_side)
    state = EngineState()
    memory = run_job(dense_job(scene, MVSOptions(max_side=args.mvs_side or 480, max_depths=96), device=args.device),
                     state, on_event=_progress(args.json))
    info = {"source": str(args.input), "poses": {"reference": str(args.poses), "kind": scene.kind}}
    if scene.holdout:
        info["holdout"] = {"every": args.holdout, "names": [v.name for v in scene.holdout],
                           "cameras": "holdout_cameras.json", "images": "holdout"}
    project = Project(root=args.out, name=args.out.name, views=scene.views, memory=memory, info=info)
    if scene.holdout:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out / "holdout_cameras.json",
                          {"frames": [v.camera.to_dict() for v in scene.holdout]})
        for v in scene.holdout:
            write_image(args.out / "holdout" / f"{v.name}.png", v.image)
    summary = {"registered": len(scene.views), "unregistered": [], "holdout": [v.name for v in scene.holdout],
               "first_geometry_s": state.extras.get("first_geometry_s")}
    return project, summary
