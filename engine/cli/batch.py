"""``anyrecon batch INPUT... --out DIR [--address ADDRESS] [--exports F,...] [--splats]``: every
input becomes a project (and optionally splats and exports) on Ray; a rerun resumes."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.checks import FRAMES, POSITIVE, SEGMENT_LENGTH, int_range
from engine.generate.registry import DEFAULT_GENERATOR, GENERATORS


def register(subparsers) -> None:
    p = subparsers.add_parser("batch", help="many captures -> projects (+ splats, exports) on Ray; resumable",
                              description="Every input (video, photo folder, posed dataset) becomes OUT/<name>. "
                                          "Without --address a local Ray starts on loopback with this machine's "
                                          "cores; a rerun skips finished stages.")
    p.add_argument("inputs", type=Path, nargs="+", help="videos, photo folders or posed datasets")
    p.add_argument("--out", type=Path, required=True, help="folder for the projects")
    p.add_argument("--address", help="a running Ray cluster (ray start --head prints it); default: local")
    p.add_argument("--exports", default="", help="comma-separated export formats per project (see anyrecon export)")
    p.add_argument("--splats", action=argparse.BooleanOptionalAction, default=None,
                   help="train Gaussian splats for each project (default: when the cluster has a GPU)")
    p.add_argument("--splat-iterations", type=int, default=None, help="default: 7000 on CUDA, 300 on the CPU")
    p.add_argument("--max-keyframes", type=int, default=150, help="keyframe target for videos (default 150)")
    p.add_argument("--holdout", type=int, default=0, help="posed datasets: keep every Nth view out")
    p.add_argument("--retries", type=int, default=2, help="re-runs of a stage whose worker died (default 2)")
    p.add_argument("--num-cpus", type=int, default=None, help="local Ray: CPUs to use (default: all)")
    p.add_argument("--parallel-windows", action="store_true",
                   help="videos: track overlapping windows of keyframes as parallel tasks (see anyrecon track)")
    p.add_argument("--window-size", type=int_range(6, 100_000), default=48, help="keyframes per window (default 48)")
    p.add_argument("--window-overlap", type=int_range(3, 100_000), default=12, help="keyframes windows share")
    p.add_argument("--generate", default="",
                   help="comma-separated camera paths to generate in every project (presets such as orbit,dolly-in "
                        "or camera-path files), on a pool of workers that build their generator once (one per "
                        "GPU); inputs that are projects are generated directly")
    p.add_argument("--generator", default=DEFAULT_GENERATOR, choices=GENERATORS,
                   help=f"novel-view generator for --generate (default {DEFAULT_GENERATOR})")
    p.add_argument("--frames", type=FRAMES, default=None, help="--generate: resample each path to this many frames")
    p.add_argument("--segment-length", type=SEGMENT_LENGTH, default=40, help="--generate: frames per segment")
    p.add_argument("--workers", type=POSITIVE, default=None, help="--generate: pool size (default: one per GPU)")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from engine.cli import print_json_summary
    from engine.tracking.windows import WindowOptions
    from engine.workflows.batch import BatchOptions, run_batch
    from engine.workflows.inputs import classify_input

    windows = WindowOptions(args.window_size, args.window_overlap) if args.parallel_windows else None
    options = BatchOptions(exports=tuple(f for f in args.exports.split(",") if f), splats=args.splats,
                           splat_iterations=args.splat_iterations, retries=args.retries,
                           max_keyframes=args.max_keyframes, holdout=args.holdout, windows=windows)
    paths = [p for p in args.generate.split(",") if p]
    projects = [p for p in args.inputs if paths and classify_input(p).kind == "project"]
    captures = [p for p in args.inputs if p not in projects]
    progress = lambda line: print(line, file=sys.stderr, flush=True)
    failed, report = 0, {"command": "batch", "out": str(args.out)}
    if captures:
        summary = run_batch(captures, args.out, options, address=args.address, num_cpus=args.num_cpus,
                            on_progress=progress)
        print(summary.table())
        print(f"{len(summary.outcomes) - len(summary.failed)} of {len(summary.outcomes)} inputs done in "
              f"{summary.seconds:.1f} s; projects in {args.out}")
        failed += len(summary.failed)
        projects += [Path(o.project) for o in summary.outcomes if o.ok]
        report.update(seconds=summary.seconds,
                      inputs=[{"input": o.input, "project": o.project, "error": o.error,
                               "stages": [s.stage for s in o.stages if not s.skipped],
                               "skipped": [s.stage for s in o.stages if s.skipped]} for o in summary.outcomes])
    if paths and projects:
        failed += _generate(args, paths, projects, progress, report)
    if args.json:
        print_json_summary(report)
    return 1 if failed else 0


def _generate(args, paths: list[str], projects: list[Path], progress, report: dict) -> int:
    """The pool of generator workers over every project; returns the number of failed paths."""
    from engine.workflows import GenerateOptions
    from engine.workflows.pool import PathRequest, run_generation_pool

    requests = [PathRequest(name=Path(p).stem, trajectory=p, frames=args.frames) if Path(p).suffix
                else PathRequest(name=p, preset=p, frames=args.frames) for p in paths]
    options = GenerateOptions(generator=args.generator, segment_length=args.segment_length)
    pool = run_generation_pool([(str(p), requests) for p in projects], options, address=args.address,
                               num_cpus=args.num_cpus, workers=args.workers, resume=True, on_progress=progress)
    print(pool.table())
    print(f"generated {sum(o.frames for o in pool.outcomes if not o.skipped)} frames on {pool.workers} worker(s) "
          f"(generators built per worker: {pool.builds}) in {pool.seconds:.1f} s")
    report["generate"] = [{"project": o.project, "path": o.path, "frames": o.frames, "skipped": o.skipped,
                           "error": o.error} for o in pool.outcomes]
    return len(pool.failed)
