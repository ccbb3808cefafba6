"""``anyrecon demo --out DIR``: the built-in demo end to end, headless."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engine.cli.checks import FRAMES, IMAGE_SIDE, SEGMENT_LENGTH, TOP_K, add_overwrite, int_range


def register(sub) -> None:
    p = sub.add_parser("demo", help="build the demo scene, generate the app's orbit preset through it, export")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--views", type=int_range(2, 1000), default=24, help="captured views (default 24)")
    p.add_argument("--frames", type=FRAMES, default=80, help="frames of the generated orbit (default 80)")
    p.add_argument("--preset", choices=("orbit", "orbit-360"), default="orbit",
                   help="the path, an app preset: orbit (default: back and forth over the 120 deg the capture "
                   "filmed, as the Orbit button does) or orbit-360 (all the way round; two thirds of it unseen)")
    p.add_argument("--width", type=IMAGE_SIDE, default=480)
    p.add_argument("--height", type=IMAGE_SIDE, default=270)
    p.add_argument("--segment-length", type=SEGMENT_LENGTH, default=40)
    p.add_argument("--top-k", type=TOP_K, default=None,
                   help="captured views retrieved per segment (default: the generator's own; surface 6, ibr 4)")
    add_overwrite(p, "a project in OUT/project")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.demo import DemoOptions
    from engine.export import export
    from engine.metrics import psnr, ssim
    from engine.session import run_job
    from engine.synthetic import make_demo_scene, write_demo_video
    from engine.workflows import GenerateOptions, Workspace, demo_job, generate_job, save_project

    from engine.project import check_destination

    t0 = time.perf_counter()
    out = args.out
    check_destination(out / "project", overwrite=args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    options = DemoOptions(num_views=args.views, width=args.width, height=args.height, path_frames=args.frames,
                          path_preset=args.preset)
    state = Workspace()
    run_job(demo_job(options), state)
    project = state.project
    save_project(state, out / "project", overwrite=args.overwrite)
    scene = make_demo_scene(options.seed)
    write_demo_video(out / "demo_capture.mp4", scene, state.views.cameras)
    print(f"demo scene: {len(state.views)} views, memory {len(state.memory):,} points")
    scores: list[tuple[float, float]] = []

    def score(index, frame):
        gt = scene.render(frame.camera).rgb
        scores.append((psnr(frame.color, gt), ssim(frame.color, gt)))

    def show(event):
        from engine.events import SegmentFinished
        if isinstance(event, SegmentFinished):
            print(f"  segment {event.segment_id}: frames {event.frame_start}-{event.frame_stop - 1} "
                  f"in {event.seconds:.1f} s, +{event.points_added:,} generated points")

    gen = GenerateOptions(segment_length=args.segment_length, top_k=args.top_k)
    summary = run_job(generate_job("orbit", options=gen, on_frame=score), state, on_event=show)
    project.save()
    ply = export(project, "points-ply", out / "points.ply")
    video = export(project, "video", out / "orbit.mp4")
    p = np.array(scores)
    result = {"command": "demo", "out": str(out), "views": len(state.views), "frames": summary.frames,
              "segments": len(summary.segments), "points_before": summary.points_before,
              "points_after": summary.points_after, "psnr_mean": float(p[:, 0].mean()),
              "ssim_mean": float(p[:, 1].mean()), "generation_s": summary.seconds,
              "total_s": time.perf_counter() - t0, "project": str(project.root),
              "points_ply": str(ply.out),
              "video": str(video.out)}
    print(f"generated {summary.frames} frames in {len(summary.segments)} segments "
          f"({summary.seconds:.1f} s); PSNR vs ground truth {result['psnr_mean']:.2f} dB, "
          f"SSIM {result['ssim_mean']:.3f}")
    print(f"memory {summary.points_before:,} -> {summary.points_after:,} points")
    print(f"wrote {project.root}, {result['points_ply']}, {result['video']}")
    if args.json:
        print_json_summary(result)
    return 0
