"""``anyrecon splat PROJECT [--iterations N] [--device auto|cpu|cuda] [--json]``: train (or
resume) the project's Gaussian splats; prints held-out PSNR before and after and saves
PROJECT/splats/checkpoint.pt and PROJECT/splats/splats.ply."""
from __future__ import annotations

import time
from pathlib import Path

from engine.cli.checks import NON_NEGATIVE, float_range, int_range


def register(sub) -> None:
    p = sub.add_parser("splat", help="train Gaussian splats on the captured views (resumes a checkpoint)")
    p.add_argument("project", type=Path)
    p.add_argument("--iterations", type=int_range(1, 10_000_000), default=None,
                   help="steps to run (default: 7000 on CUDA, 300 on the CPU)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--scale", type=float_range(0.0, 4.0), default=None,
                   help="training image scale (default: 1 on CUDA, at most 320 px wide on the CPU)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--holdout-every", type=NON_NEGATIVE, default=8, help="hold out every N-th view for PSNR (0: none)")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.device import resolve_device
    from engine.events import SplatTrainingProgress
    from engine.project import Project
    from engine.session import run_job
    from engine.workflows import Workspace, default_iterations, train_splats_job

    t0 = time.perf_counter()
    device = resolve_device(args.device)
    project = Project.load(args.project, device=device)
    iterations = default_iterations(device) if args.iterations is None else args.iterations
    if iterations <= 0:
        raise ValueError(f"--iterations must be positive, got {iterations}")

    def show(event):
        if isinstance(event, SplatTrainingProgress):
            extra = f", held-out PSNR {event.psnr:.2f} dB" if event.psnr is not None else ""
            print(f"  step {event.iteration}/{event.total}: loss {event.loss:.4f}, {event.num_splats:,} Gaussians"
                  f"{extra}", flush=True)
            if event.message:
                print(f"  note: {event.message}", flush=True)

    job = train_splats_job(iterations, resume=not args.restart, scale=args.scale, holdout_every=args.holdout_every)
    s = run_job(job, Workspace(project=project, saved=True), on_event=show)
    fmt = lambda v: "n/a (no held-out views)" if v is None else f"{v:.2f} dB"  # noqa: E731
    print(f"{'resumed at' if s.resumed else 'started at'} step {s.step - s.steps_run}, trained {s.steps_run} steps "
          f"on {s.train_views} views ({s.device}, {s.backend}) in {s.seconds:.1f} s; {s.num_splats:,} Gaussians")
    print(f"held-out PSNR ({s.held_out_views} views): before {fmt(s.psnr_before)}, after {fmt(s.psnr_after)}")
    print(f"saved {project.root / 'splats'}")
    if args.json:
        print_json_summary({"command": "splat", "project": str(project.root), "steps_run": s.steps_run,
                            "step": s.step, "psnr_before": s.psnr_before, "psnr_after": s.psnr_after,
                            "held_out_views": s.held_out_views, "train_views": s.train_views,
                            "num_splats": s.num_splats, "device": s.device, "backend": s.backend,
                            "resumed": s.resumed, "notes": list(s.notes), "training_s": s.seconds,
                            "total_s": time.perf_counter() - t0})
    return 0
