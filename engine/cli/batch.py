"""``anyrecon batch INPUT... --out DIR [--address ADDRESS] [--exports F,...] [--splats]``: every
input becomes a project (and optionally splats and exports) on Ray; a rerun resumes."""
from __future__ import annotations

import argparse
from pathlib import Path


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
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from engine.cli import print_json_summary
    from engine.workflows.batch import BatchOptions, run_batch

    options = BatchOptions(exports=tuple(f for f in args.exports.split(",") if f), splats=args.splats,
                           splat_iterations=args.splat_iterations, retries=args.retries,
                           max_keyframes=args.max_keyframes, holdout=args.holdout)
    summary = run_batch(args.inputs, args.out, options, address=args.address, num_cpus=args.num_cpus,
                        on_progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(summary.table())
    print(f"{len(summary.outcomes) - len(summary.failed)} of {len(summary.outcomes)} inputs done in "
          f"{summary.seconds:.1f} s; projects in {args.out}")
    if args.json:
        print_json_summary({"command": "batch", "out": str(args.out), "seconds": summary.seconds,
                            "inputs": [{"input": o.input, "project": o.project, "error": o.error,
                                        "stages": [s.stage for s in o.stages if not s.skipped],
                                        "skipped": [s.stage for s in o.stages if s.skipped]}
                                       for o in summary.outcomes]})
    return 1 if summary.failed else 0
