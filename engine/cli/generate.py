"""``anyrecon generate PROJECT (--trajectory FILE | --preset NAME)``: the closed loop on any project."""
from __future__ import annotations

import time
from pathlib import Path

from engine.cli.checks import FRAMES, SEGMENT_LENGTH, TOP_K
from engine.generate.registry import DEFAULT_GENERATOR, GENERATORS


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate novel views along a camera path, segment by segment")
    p.add_argument("project", type=Path)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trajectory", type=Path,
                     help="camera path file: nerfstudio camera_path.json, glTF/GLB animated camera (Blender), Nuke .chan")
    src.add_argument("--preset", help="orbit (an object filmed from one side: the filmed arc), spiral (the same "
                     "arc, closing in), dolly-in, "
                     "dolly-out, through, beyond, orbit-360 (the full circle)")
    p.add_argument("--name", default=None, help="trajectory name in the project (default: file stem / preset)")
    p.add_argument("--segment-length", type=SEGMENT_LENGTH, default=40)
    p.add_argument("--top-k", type=TOP_K, default=None,
                   help="captured views retrieved per segment (default: the generator's own; surface 6, ibr 4)")
    p.add_argument("--generator", default=DEFAULT_GENERATOR, choices=GENERATORS,
                   help=f"novel-view generator (default {DEFAULT_GENERATOR})")
    p.add_argument("--frames", type=FRAMES, default=None, help="resample the path to this many frames")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the frames already generated for a path of this name (refused otherwise)")
    p.add_argument("--fuse-in-roi", action="store_true",
                   help="generated frames add points to the memory only inside the project's region of interest")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def _trajectory(args, project):
    from engine.workflows.generate import path_in_project

    traj = path_in_project(project, args.preset, args.trajectory, args.frames)
    return args.name or (args.trajectory.stem if args.trajectory is not None else args.preset), traj


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.events import SegmentFinished
    from engine.project import Project, check_destination
    from engine.session import run_job
    from engine.workflows import GenerateOptions, Workspace, generate_job

    t0 = time.perf_counter()
    options = GenerateOptions(generator=args.generator, segment_length=args.segment_length, top_k=args.top_k,
                              fuse_in_roi=args.fuse_in_roi)
    options.validate()
    project = Project.load(args.project)
    if project.memory is None:
        raise ValueError(f"{args.project}: the project has no geometry memory (track it first)")
    name, traj = _trajectory(args, project)
    earlier = sorted(s.segment_id for s in project.segments if s.trajectory == name)
    if earlier and not args.overwrite:
        raise ValueError(f"{args.project}: path {name!r} already has generated segments "
                         f"({', '.join(map(str, earlier))}); pass --overwrite to replace them, "
                         f"or --name to generate it under another name")
    check_destination(project.root, project.id)
    ws = Workspace(project=project, saved=True)

    def show(event):
        if isinstance(event, SegmentFinished):
            print(f"  segment {event.segment_id}: frames {event.frame_start}-{event.frame_stop - 1} "
                  f"in {event.seconds:.1f} s, +{event.points_added:,} generated points", flush=True)

    summary = run_job(generate_job(name, traj, options), ws, on_event=show)
    project.save()
    print(f"generated {summary.frames} frames of '{name}' in {summary.seconds:.1f} s; "
          f"memory {summary.points_before:,} -> {summary.points_after:,} points; saved {project.root}")
    if args.json:
        print_json_summary({"command": "generate", "project": str(project.root), "trajectory": name,
                            "generator": summary.generator, "frames": summary.frames,
                            "segments": len(summary.segments), "segment_ids": list(summary.segments),
                            "points_before": summary.points_before, "points_after": summary.points_after,
                            "generation_s": summary.seconds, "total_s": time.perf_counter() - t0})
    return 0
