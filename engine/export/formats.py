"""One function per ``--format``: project + destination + options -> ExportResult.

These are the glue between the project and the writers of each family; the registry in
:mod:`engine.export` maps format names to them.
"""
from __future__ import annotations

from pathlib import Path


from engine.export.common import ExportError, write_text_atomic
from engine.export.options import ExportOptions, ExportResult


def trajectory_of(project, name: str | None):
    """(name, Trajectory) of the requested path; ExportError when there is none."""
    trajs = getattr(project, "trajectories", None) or {}
    if not trajs:
        raise ExportError("the project has no camera path: place keyframes or pick a preset first")
    if name is None:
        name = next(iter(trajs))
    if name not in trajs:
        raise ExportError(f"no camera path named {name!r}; the project has: {', '.join(trajs)}")
    traj = trajs[name]
    if traj is None or not getattr(traj, "keyframes", ()):
        raise ExportError(f"the camera path {name!r} has no keyframes")
    return name, traj


def _path_cameras(project, options: ExportOptions):
    name, traj = trajectory_of(project, options.trajectory)
    return name, traj, traj.sample(options.num_frames)


def export_points(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.points import memory_points, write_points_ply

    from engine.export.roi import crop_point_cloud, export_roi

    from engine.export.roi import crop_note

    full = memory_points(project.memory, o.subset)
    roi = export_roi(project, o.crop_to_roi)
    cloud = crop_point_cloud(full, roi)
    write_points_ply(out, cloud)
    return ExportResult("points-ply", out, (out,), len(cloud), "points", crop_note(roi, len(cloud), len(full)))


def _mesh(project, o: ExportOptions):
    from engine.export.mesh import build_mesh
    from engine.export.roi import crop_mesh, export_roi

    roi = export_roi(project, o.crop_to_roi)
    if roi is not None and project.memory is not None and not project.memory.is_empty:
        from engine.export.points import memory_points
        from engine.export.roi import crop_point_cloud

        crop_point_cloud(memory_points(project.memory), roi)   # an empty crop fails before the (slow) build
    return crop_mesh(build_mesh(project, o.mesh), roi)


def _atlas(project, mesh):
    from engine.export.mesh_atlas import build_atlas

    return build_atlas(mesh, [v for v in project.views if v.depth is not None])


def export_mesh_glb(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.mesh_files import write_mesh_glb

    mesh = _mesh(project, o)
    write_mesh_glb(out, _atlas(project, mesh) if o.texture else mesh)
    return ExportResult("mesh-glb", out, (out,), mesh.num_faces, "faces")


def export_mesh_obj(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.mesh_files import write_mesh_obj

    mesh = _mesh(project, o)
    files = write_mesh_obj(out, _atlas(project, mesh))
    return ExportResult("mesh-obj", out, tuple(files), mesh.num_faces, "faces")


def export_mesh_ply(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.mesh_files import write_mesh_ply

    mesh = _mesh(project, o)
    write_mesh_ply(out, mesh)
    return ExportResult("mesh-ply", out, (out,), mesh.num_faces, "faces")


def _splats_uncropped(project, o: ExportOptions):
    """The project's trained splats (``anyrecon splat``) when they exist and the whole scene is
    asked for; otherwise Gaussians initialised from the memory. NaN / Inf Gaussians and SH
    degree > 3 are ExportErrors."""
    from dataclasses import replace

    from engine.export.points import memory_points
    from engine.splat.checkpoint import SPLAT_PLY, load_trained_splats
    from engine.splat.files import SplatFileError, check_finite, splat_ply_sh_degree
    from engine.splat.model import splats_from_point_cloud

    if o.subset in (None, "all") and project.root is not None:
        ply = Path(project.root) / SPLAT_PLY
        try:
            if ply.exists():
                splat_ply_sh_degree(ply)
            trained = load_trained_splats(project.root)
            if trained is not None:
                return check_finite(trained, str(ply))
        except SplatFileError as exc:
            raise ExportError(f"the trained splats cannot be exported: {exc}") from None
    cloud = memory_points(project.memory, o.subset)    # ExportError: empty memory, unknown subset
    if len(cloud) == 0:
        raise ExportError("no Gaussians to export")
    splats = splats_from_point_cloud(cloud.xyz, cloud.rgb, cloud.normal, cloud.conf, project.memory.voxel_size,
                                     replace(o.splat, sh_degree=o.sh_degree))
    try:
        return check_finite(splats, "the memory's Gaussians")
    except SplatFileError as exc:
        raise ExportError(str(exc)) from None


def _splats_and_note(project, o: ExportOptions):
    """(splats cropped to the region of interest, the crop's note for the ExportResult)."""
    from engine.export.roi import crop_note, crop_splats, export_roi

    roi = export_roi(project, o.crop_to_roi)        # a missing / empty box fails before any work
    full = _splats_uncropped(project, o)
    splats = crop_splats(full, roi)
    return splats, crop_note(roi, len(splats), len(full))


def _splats(project, o: ExportOptions):
    """The Gaussians every splat format exports (see the two functions above)."""
    return _splats_and_note(project, o)[0]


def export_splat_ply(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.common import write_file_atomic
    from engine.splat.files import inria_ply_bytes

    splats = _splats(project, o)
    write_file_atomic(out, inria_ply_bytes(splats))
    return ExportResult("splat-ply", out, (out,), len(splats), "gaussians")


def export_splat(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.common import write_file_atomic
    from engine.splat.files import splat_bytes

    splats = _splats(project, o)
    write_file_atomic(out, splat_bytes(splats))
    return ExportResult("splat", out, (out,), len(splats), "gaussians")


def _splat_file(project, out: Path, o: ExportOptions, fmt: str, to_bytes) -> ExportResult:
    from engine.export.common import write_file_atomic

    splats, note = _splats_and_note(project, o)
    data = to_bytes(splats)                       # every byte built before the file is opened
    write_file_atomic(out, data)
    return ExportResult(fmt, out, (out,), len(splats), "gaussians", (f"SH degree {splats.sh_degree}",) + note)


def export_splat_spz(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.splat_web import spz_bytes

    res = _splat_file(project, out, o, "splat-spz", lambda s: spz_bytes(s, o.spz_version))
    return ExportResult(res.format, res.out, res.files, res.count, res.count_label,
                        res.notes + (f"SPZ version {o.spz_version}",))


def export_splat_sog(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.splat_web import sog_bytes

    return _splat_file(project, out, o, "splat-sog", sog_bytes)


def export_splat_compressed_ply(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.splat_web import compressed_ply_bytes

    return _splat_file(project, out, o, "splat-compressed-ply", compressed_ply_bytes)


def export_splat_glb(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.splat_gltf import splat_glb_bytes

    return _splat_file(project, out, o, "splat-glb", splat_glb_bytes)


def _captured_dataset(project, out: Path, o: ExportOptions, fmt: str, colmap: bool, transforms: bool):
    from engine.export.dataset import captured_frames, write_dataset
    from engine.export.points import memory_points

    frames = captured_frames(project)
    if not frames:
        raise ExportError("the project has no captured views")
    points = memory_points(project.memory, o.subset) if project.memory is not None and not project.memory.is_empty else None
    files = write_dataset(out, frames, points, colmap=colmap, transforms=transforms, masks=False)
    return ExportResult(fmt, out, tuple(files), len(frames), "cameras")


def export_colmap(project, out: Path, o: ExportOptions) -> ExportResult:
    return _captured_dataset(project, out, o, "colmap", True, False)


def export_transforms(project, out: Path, o: ExportOptions) -> ExportResult:
    return _captured_dataset(project, out, o, "transforms", False, True)


def export_dataset(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.dataset import captured_frames, generated_frames, write_dataset
    from engine.export.points import memory_points

    frames = captured_frames(project) + generated_frames(project)
    points = memory_points(project.memory, o.subset) if project.memory is not None and not project.memory.is_empty else None
    files = write_dataset(out, frames, points, masks=True)
    n_gen = sum(f.generated for f in frames)
    return ExportResult("dataset", out, tuple(files), len(frames), "frames",
                        (f"{len(frames) - n_gen} captured + {n_gen} generated frames",))


def export_camera_path(project, out: Path, o: ExportOptions) -> ExportResult:
    import json

    from engine.trajectory.nerfstudio_path import camera_path_dict

    _, traj = trajectory_of(project, o.trajectory)
    data = camera_path_dict(traj, o.num_frames)
    write_text_atomic(out, json.dumps(data, indent=1))
    return ExportResult("camera-path", out, (out,), len(data["camera_path"]), "frames")


def export_gltf_camera(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.gltf_camera import write_camera_path_glb

    _, traj, cams = _path_cameras(project, o)
    mesh = _mesh(project, o) if o.with_mesh else None
    write_camera_path_glb(out, cams, traj.fps, mesh)
    return ExportResult("gltf-camera", out, (out,), len(cams), "frames")


def export_chan(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.nuke_chan import write_chan

    _, _, cams = _path_cameras(project, o)
    write_chan(out, cams, o.first_frame)
    return ExportResult("chan", out, (out,), len(cams), "frames")


def export_video(project, out: Path, o: ExportOptions) -> ExportResult:
    from engine.export.video import path_frames, write_mp4, write_png_sequence

    name, traj = trajectory_of(project, o.trajectory)
    frames, n, source = path_frames(project, name, o.video_source, o.num_frames)
    if out.suffix.lower() != ".mp4":  # a folder: PNG sequence only
        count = write_png_sequence(out, frames)
        return ExportResult("video", out, tuple(sorted(out.glob("*.png"))), count, "frames", (f"source: {source}",))
    if o.png_sequence:
        frames = list(frames)
    count = write_mp4(out, frames, o.fps or traj.fps, o.crf)
    files = [out]
    if o.png_sequence:
        seq = out.with_name(out.stem + "_frames")
        write_png_sequence(seq, frames)
        files += sorted(seq.glob("*.png"))
    return ExportResult("video", out, tuple(files), count, "frames", (f"source: {source}",))
