"""``anyrecon register PROJECT PHOTO...``: photos added to a tracked project later get a pose
by matching the captured views and render-and-match against the memory; those that register
become views of the project (depth = the memory rendered at them), the others are reported."""
from __future__ import annotations

import sys
from pathlib import Path

from engine.cli.checks import float_range


def register(subparsers) -> None:
    p = subparsers.add_parser("register", help="add photos to a tracked project (render-and-match)",
                              description="Register new photos (files or folders) into a tracked project.")
    p.add_argument("project", type=Path)
    p.add_argument("photos", type=Path, nargs="+", help="photo files or folders of photos")
    p.add_argument("--max-error", type=float_range(0.0, 100.0), default=2.0, help="reprojection error allowed (pixels, default 2)")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary last")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.project import Project
    from engine.session import run_job
    from engine.tracking.localize import LocalizeOptions
    from engine.workflows import Workspace, register_photos_job

    project = Project.load(args.project)
    ws = Workspace(project=project, saved=True)
    job = register_photos_job(args.photos, LocalizeOptions(max_error_px=args.max_error))
    results, warnings = run_job(job, ws)
    added = [r for r in results if r.registered]
    if added:
        project.save()
    summary = {"project": str(args.project), "registered": [r.name for r in added],
               "unregistered": {r.name: r.reason for r in results if not r.registered},
               "reprojection_px": {r.name: round(r.error_px, 3) for r in added},
               "views": len(project.views), "warnings": warnings}
    if args.json:
        print_json_summary(summary)
    else:
        for r in results:
            print(f"  {r.name}: " + (f"registered ({r.num_inliers} inliers, {r.error_px:.2f} px, near {r.reference})"
                                     if r.registered else f"not registered: {r.reason}"))
        print(f"{len(added)} of {len(results)} photos registered; {args.project} has {len(project.views)} views")
    if not added:
        print("anyrecon register: no photo could be registered", file=sys.stderr)
        return 1
    return 0
