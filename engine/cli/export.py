"""``anyrecon export PROJECT --format F --out PATH``: write a project in another tool's format."""
from __future__ import annotations

import argparse

from engine.cli.checks import FPS, FRAMES, POSITIVE_FLOAT, int_range


def register(subparsers) -> None:
    from engine.export import EXPORTERS
    from engine.export.points import SUBSETS
    from engine.export.mesh import METHODS
    from engine.export.video import SOURCES

    p = subparsers.add_parser("export", help="export points, meshes, splats, cameras, paths, video, datasets",
                              description="Export a project. Formats: " + "; ".join(
                                  f"{e.name}: {e.description}" for e in EXPORTERS.values()))
    p.add_argument("project", help="project folder")
    p.add_argument("--format", "-f", required=True, choices=list(EXPORTERS), help="output format")
    p.add_argument("--out", "-o", required=True, help="output file or folder (as the format needs)")
    p.add_argument("--subset", choices=SUBSETS, default="all", help="points: captured, generated or all")
    p.add_argument("--trajectory", help="camera path name (default: the first)")
    p.add_argument("--frames", type=FRAMES, help="frames to sample along the path (default: duration x fps)")
    p.add_argument("--mesh-method", choices=METHODS, default="auto", help="TSDF of depth maps or Poisson of points")
    p.add_argument("--target-faces", type=int_range(4, 100_000_000), help="decimate the mesh to about this many triangles")
    p.add_argument("--voxel", type=POSITIVE_FLOAT, help="mesh voxel size in meters (default: the memory's)")
    p.add_argument("--no-generated", action="store_true", help="mesh: leave generated frames out")
    p.add_argument("--texture", action="store_true", help="mesh-glb: embed a texture atlas baked from the views")
    p.add_argument("--sh-degree", type=int, choices=(0, 1, 2, 3), default=0, help="splats from the memory: SH degree (trained splats keep theirs)")
    p.add_argument("--with-mesh", action="store_true", help="gltf-camera: include the mesh")
    p.add_argument("--source", choices=SOURCES, default="auto", help="video: generated frames or memory render")
    p.add_argument("--fps", type=FPS, help="video frame rate (default: the path's)")
    p.add_argument("--png-sequence", action="store_true", help="video: also write OUT_frames/*.png")
    p.add_argument("--first-frame", type=int, default=1, help="chan: number of the first frame")
    p.add_argument("--spz-version", type=int, choices=(2, 3, 4), default=4, help="splat-spz: 4 (default) or 3 for older readers")
    crop = p.add_mutually_exclusive_group()
    crop.add_argument("--crop", dest="crop_to_roi", action="store_true", default=None,
                      help="points, meshes, splats: keep only the region of interest (default when the project has one)")
    crop.add_argument("--no-crop", dest="crop_to_roi", action="store_false", help="ignore the region of interest")
    p.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    p.set_defaults(func=run)


def options_from_args(args: argparse.Namespace):
    from engine.export import ExportOptions
    from engine.export.mesh import MeshOptions

    mesh = MeshOptions(method=args.mesh_method, target_faces=args.target_faces, voxel_size=args.voxel,
                       use_generated=not args.no_generated)
    return ExportOptions(subset=args.subset, trajectory=args.trajectory, num_frames=args.frames, mesh=mesh,
                         texture=args.texture, sh_degree=args.sh_degree, with_mesh=args.with_mesh,
                         video_source=args.source, fps=args.fps, png_sequence=args.png_sequence,
                         first_frame=args.first_frame, spz_version=args.spz_version,
                         crop_to_roi=args.crop_to_roi)


def run(args: argparse.Namespace) -> int:
    from engine.cli import print_json_summary
    from engine.export import export
    from engine.project import Project

    project = Project.load(args.project)
    result = export(project, args.format, args.out, options_from_args(args))
    if args.json:
        print_json_summary(result.summary())
    else:
        notes = f" ({'; '.join(result.notes)})" if result.notes else ""
        print(f"wrote {result.count} {result.count_label} as {result.format} to {result.out}{notes}")
    return 0
