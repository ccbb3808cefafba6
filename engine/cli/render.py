"""``anyrecon render PROJECT --cameras FILE --out DIR``: one image per camera of a
``cameras.json`` or ``transforms.json``, same names, rendered by a novel-view generator
conditioned on the project's memory and captured views (nothing is fused back)."""
from __future__ import annotations

import json
from pathlib import Path

from engine.generate.registry import DEFAULT_GENERATOR, GENERATORS

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser("render", help="render / generate views of a project at given cameras")
    p.add_argument("project", type=Path)
    p.add_argument("--cameras", type=Path, required=True, help="cameras.json or transforms.json")
    p.add_argument("--out", type=Path, required=True, help="folder for the images")
    p.add_argument("--generator", default=DEFAULT_GENERATOR, choices=GENERATORS,
                   help=f"novel-view generator (default: {DEFAULT_GENERATOR})")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def read_cameras(path: Path) -> list:
    """Cameras of a project-style ``cameras.json`` ({"frames": [Camera dicts]}) or of a
    nerfstudio / instant-ngp ``transforms.json`` (names = file stems)."""
    from engine.geometry import Camera
    from engine.geometry.conventions import world_from_cam_from_nerfstudio_transform_matrix
    from engine.tracking.import_poses import frame_intrinsics

    try:
        data = json.loads(Path(path).read_text())
        frames = data["frames"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a camera file ({exc})") from exc
    if not isinstance(frames, list):
        raise ValueError(f"{path}: not a camera file (\"frames\" is not a list)")
    cams = []
    for i, f in enumerate(frames):
        try:
            if not isinstance(f, dict):
                raise TypeError("not an object")
            if "world_from_cam" in f:
                cams.append(Camera.from_dict(f))
                continue
            size = (int(f.get("w", data.get("w", 0))), int(f.get("h", data.get("h", 0))))
            if not all(size):
                raise ValueError("no image size (w, h)")
            K, (w, h), _ = frame_intrinsics(data, f, size)
            wfc = world_from_cam_from_nerfstudio_transform_matrix(np.asarray(f["transform_matrix"], dtype=np.float64))
            name = Path(str(f.get("file_path", f"frame_{i:06d}")).replace("\\", "/")).stem
            cams.append(Camera(K, w, h, wfc, name=name).validate())
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{path}: frame {i}: {exc}") from None
    if not cams:
        raise ValueError(f"{path}: no cameras")
    return cams


def _check_writable(out: Path) -> None:
    import os

    folder = out
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{out}: cannot write there ({folder} is not a writable folder)")


def run(args) -> int:
    from engine.cli import print_json_summary
    from engine.events import FrameGenerated
    from engine.generate.registry import GeneratorContext, make_generator
    from engine.generate.loop import LoopOptions, generate_path
    from engine.project import Project, write_image
    from engine.safepath import ensure_inside, unique_stems

    project = Project.load(args.project)
    if project.memory is None or project.memory.is_empty:
        raise ValueError(f"{args.project}: the project has no geometry memory (run anyrecon track first)")
    cameras = read_cameras(args.cameras)
    names = unique_stems([c.name or f"frame_{i:06d}" for i, c in enumerate(cameras)], "frame")
    _check_writable(args.out)
    generator = make_generator(args.generator, GeneratorContext(project_root=project.root))
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    options = LoopOptions(fuse_generated=False)
    for event in generate_path(project.memory, project.views, cameras, generator, options):
        if isinstance(event, FrameGenerated):
            name = names[event.frame_index]           # one safe file name: never outside --out
            target = args.out / f"{name}.png"
            ensure_inside(args.out, target, "render --out")
            write_image(target, event.frame.color)
            written.append(name)
    if args.json:
        print_json_summary({"out": str(args.out), "images": len(written), "generator": args.generator})
    else:
        print(f"wrote {len(written)} images to {args.out}")
    return 0
