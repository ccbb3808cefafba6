"""Tracking / dense-depth / pose-import benchmark on the real data in ../shared/data/real.

Each case runs in its own subprocess (peak memory = that process's max RSS) and prints one
JSON line; the parent prints a table. Cases whose data is absent are skipped.

    .venv/bin/python benchmarks/bench_tracking.py [--data DIR] [--cases a,b] [--out results.json]
        [--max-keyframes N]   (video cases of ours: fewer keyframes, e.g. apple on a small machine)
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (ROOT / ".." / "shared" / "data" / "real").resolve()
CACHE = ROOT / "benchmarks" / "_cache"
MAX_KEYFRAMES = 0      # --max-keyframes (0: the ingest default)
CASES = ("clip1080_ours", "clip1080_ours_sift1600", "clip1080_colmap_default", "synthetic_global", "synthetic_colmap_default", "synthetic_incremental", "orbit360_ours", "orbit360_noloops", "fern_ours", "fern_ours_incremental", "fern_colmap_default", "fern_poses_holdout8",
         "apple_ours", "apple_ours_incremental", "apple_colmap_default", "valley_ours", "valley_colmap_default",
         "symmetric_ours", "symmetric_nocheck", "symmetric_colmap_default", "cut_ours", "wide8_ours",
         "wide8_colmap_default", "tower_ours", "statue_ours", "kitchen_ours", "kitchen_ours_640", "kitchen_ours_640_noretry",
         "kitchen_colmap_default")
#: Video cases get an ``impossible_steps`` column: consecutive keyframes (name order) whose
#: relative rotation exceeds 45 degrees per keyframe or whose center jumps far beyond the
#: neighbours' steps (engine.tracking.consistency.impossible_steps).


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _fern_reference(data: Path):
    import numpy as np

    from engine.geometry.conventions import cameras_from_llff_rows

    rows = np.load(data / "llff_fern" / "poses_bounds.npy")
    names = sorted(p.stem for p in (data / "llff_fern" / "images_8").glob("*.png"))
    return dict(zip(names, cameras_from_llff_rows(rows).world_from_cam))


def _pose_stats(est: dict, ref: dict) -> dict:
    import numpy as np

    from engine.metrics import pose_errors_after_sim3

    names = sorted(n for n in est if n in ref)
    if len(names) < 3:
        return {}
    ref_c = np.stack([ref[n][:3, 3] for n in ref])
    extent = float(np.linalg.norm(ref_c.max(0) - ref_c.min(0)))
    E, R = np.stack([est[n] for n in names]), np.stack([ref[n] for n in names])
    e = pose_errors_after_sim3(E, R, extent)                      # whole-pose Sim(3)
    c = pose_errors_after_sim3(E, R, extent, align="centers")     # centers-only Sim(3)
    return {"rot_med_deg": e.median_rotation_deg, "rot_max_deg": e.max_rotation_deg,
            "ctr_med_pct": 100 * e.median_center_error, "ctr_max_pct": 100 * e.max_center_error,
            "rot_med_deg_centers_only": c.median_rotation_deg}


def _impossible(poses: dict) -> int:
    """Impossible steps between consecutive keyframes of ``poses`` (name -> world_from_cam;
    video frame names sort in time order; gaps in the frame numbers widen the allowed step)."""
    import re

    import numpy as np

    from engine.tracking.consistency import impossible_steps

    names = sorted(poses)
    if len(names) < 2:
        return 0
    nums = [re.findall(r"\d+", n) for n in names]
    idx = np.array([int(x[-1]) if x else i for i, x in enumerate(nums)])
    gaps = np.diff(idx) / max(1, int(np.median(np.diff(idx))))
    return int(len(impossible_steps(np.stack([poses[n] for n in names]), gaps)))


def _ours(path: Path, mapper: str = "global", sfm: dict | None = None, **ingest) -> tuple[dict, object]:
    from engine.ingest import IngestOptions
    from engine.session import run_job
    from engine.workflows import Workspace
    from engine.tracking.pipeline import TrackOptions, track_job
    from engine.tracking.sfm import SfmOptions

    opts = TrackOptions(ingest=IngestOptions(**ingest), sfm=SfmOptions(mapper=mapper, **(sfm or {})))
    res = run_job(track_job(path, opts), Workspace())
    n = len(res.registered) + len(res.unregistered)
    out = {"registered": f"{len(res.registered)}/{n}", "points": len(res.memory), "keyframes": n,
           **{k: round(v, 1) for k, v in res.timings.items()}}
    if path.is_file():
        out["impossible_steps"] = _impossible({v.name: v.camera.world_from_cam for v in res.views})
    return out, res


def _colmap_default(images: Path, names: list[str] | None = None) -> tuple[dict, dict]:
    """COLMAP's plain default: all frames, default SIFT, exhaustive matching, incremental mapper."""
    import pycolmap

    from engine.tracking.colmap_io import colmap_model_from_reconstruction

    pycolmap.logging.minloglevel = 2
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "db.db"
        t0 = time.perf_counter()
        pycolmap.extract_features(db, images, image_names=names or [])
        pycolmap.match_exhaustive(db)
        models = pycolmap.incremental_mapping(db, images, Path(tmp))
        sfm_s = round(time.perf_counter() - t0, 1)
        total = len(names) if names else len(list(images.iterdir()))
        if not models:
            return {"registered": f"0/{total}"}, {}
        rec = max(models.values(), key=lambda r: r.num_reg_images())
        model = colmap_model_from_reconstruction(rec)
        poses = {Path(c.name).stem: c.world_from_cam for c in model.cameras}
        return {"registered": f"{rec.num_reg_images()}/{total}", "points": rec.num_points3D(),
                "models": len(models), "sfm_s": sfm_s}, poses


def _video_frames_dir(video: Path, tmp: Path, every: int = 1) -> Path:
    """All frames (or every ``every``-th) of a video as PNGs (for COLMAP's plain default)."""
    import cv2

    from engine.ingest.video import iter_video

    out = tmp / "frames"
    out.mkdir()
    for i, rgb in iter_video(video):
        if i % every:
            continue
        cv2.imwrite(str(out / f"frame_{i:06d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return out


def _depth_vs_sparse(views, points, max_error: float = 1.5) -> dict:
    import numpy as np

    keep = points.error < max_error
    rels, covered = [], []
    for v in views:
        uv, z = v.camera.project(points.xyz[keep])
        ij = np.floor(uv).astype(int)
        ok = (z > 0) & (ij[:, 0] >= 0) & (ij[:, 0] < v.camera.width) & (ij[:, 1] >= 0) & (ij[:, 1] < v.camera.height)
        d = v.depth[ij[ok, 1], ij[ok, 0]]
        m = d > 0
        rels.append(np.abs(d[m] - z[ok][m]) / z[ok][m])
        covered.append(m.mean() if len(m) else 0.0)
    rel = np.concatenate(rels)
    return {"depth_within_2pct": float((rel < 0.02).mean()), "depth_median_rel": float(np.median(rel)),
            "depth_coverage_at_sparse": float(np.mean(covered))}


def _holdout(data: Path) -> dict:
    import numpy as np

    from engine.generate import make_generator
    from engine.generate.loop import LoopOptions, generate_path
    from engine.events import FrameGenerated
    from engine.metrics import psnr, ssim
    from engine.session import run_job
    from engine.workflows import Workspace
    from engine.tracking.import_poses import import_poses
    from engine.tracking.posed import dense_job

    fern = data / "llff_fern"
    scene = import_poses(fern / "poses_bounds.npy", fern / "images_8", holdout=8)
    state = Workspace()
    memory = run_job(dense_job(scene), state)
    out = {"registered": f"{len(scene.views)}/{len(scene.views)} (+{len(scene.holdout)} held out)",
           "points": len(memory), "first_geometry_s": state.timings.get("first_geometry_s")}
    out.update(_depth_vs_sparse(scene.views, scene.points))
    cams = [v.camera for v in scene.holdout]
    scores = []
    for ev in generate_path(memory, scene.views, cams, make_generator("ibr"), LoopOptions(fuse_generated=False)):
        if isinstance(ev, FrameGenerated):
            gt = scene.holdout[ev.frame_index].image.astype(np.float32) / 255.0
            scores.append((psnr(ev.frame.color, gt), ssim(ev.frame.color, gt)))
    out["holdout_psnr"] = float(np.mean([s[0] for s in scores]))
    out["holdout_ssim"] = float(np.mean([s[1] for s in scores]))
    return out


def _synthetic(mapper: str) -> dict:
    """The demo video (24 frames 320x180, exact cameras): pose errors and dense depth vs truth
    (``mapper`` "colmap" = COLMAP's plain default on the same frames: poses only)."""
    import numpy as np

    from engine.metrics import depth_errors
    from engine.synthetic import demo_capture_cameras, make_demo_scene, read_demo_cameras, write_demo_video

    scene = make_demo_scene(0)
    with tempfile.TemporaryDirectory() as tmp:
        video = write_demo_video(Path(tmp) / "demo.mp4", scene, demo_capture_cameras(scene, 24, 320, 180))
        gt = {c.name: c for c in read_demo_cameras(video)}
        if mapper == "colmap":
            out, poses = _colmap_default(_video_frames_dir(video, Path(tmp)))
            out.update(_pose_stats(poses, {n: c.world_from_cam for n, c in gt.items()}))
            return out
        out, res = _ours(video, mapper)
    est = {v.name: v.camera.world_from_cam for v in res.views}
    out.update(_pose_stats(est, {n: c.world_from_cam for n, c in gt.items()}))
    from engine.metrics import pose_errors_after_sim3
    names = sorted(est)
    scale = pose_errors_after_sim3(np.stack([est[n] for n in names]),
                                   np.stack([gt[n].world_from_cam for n in names])).sim3_scale
    within = [depth_errors(v.depth * scale, scene.render(gt[v.name]).depth, v.depth > 0).within_2pct
              for v in res.views]
    out["depth_within_2pct"] = float(np.mean(within))
    out["depth_valid_frac"] = float(np.mean([(v.depth > 0).mean() for v in res.views]))
    return out


def synthetic_clip_1080p(cache: Path = CACHE, seconds: float = 10.0, fps: int = 30) -> Path:
    """A 10-s 1920x1080 30-fps H.264 clip of the synthetic room (exact cameras next to it),
    rendered once in two processes (~5 min on 2 cores) and cached."""
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    path = cache / f"synthetic_1080p_{seconds:g}s_{fps}fps.mp4"
    if not path.exists():
        scene = make_demo_scene(0)
        cams = demo_capture_cameras(scene, int(round(seconds * fps)), 1920, 1080)
        tmp = path.with_name("partial_" + path.name)
        write_demo_video(tmp, scene, cams, fps, processes=2)
        tmp.with_name(tmp.stem + "_cameras.json").replace(path.with_name(path.stem + "_cameras.json"))
        tmp.replace(path)
    return path


def synthetic_orbit360(cache: Path = CACHE, frames: int = 90) -> Path:
    """A full 360-degree orbit of the synthetic room, 640x360 H.264 with exact cameras (cached):
    its last frames see what its first ones saw, so tracking must close the loop."""
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    path = cache / f"synthetic_orbit360_{frames}.mp4"
    if not path.exists():
        scene = make_demo_scene(0)
        cams = demo_capture_cameras(scene, frames + 1, 640, 360, arc_deg=360.0)[:-1]   # no repeated frame
        tmp = path.with_name("partial_" + path.name)
        write_demo_video(tmp, scene, cams, 24, processes=2)
        tmp.with_name(tmp.stem + "_cameras.json").replace(path.with_name(path.stem + "_cameras.json"))
        tmp.replace(path)
    return path


def _symmetric(variant: str, frames: int = 48) -> dict:
    """Issue 14's reproduction (engine/synthetic_symmetric.py): a handheld orbit around a can
    with a 4-fold label on one repeated tile, 256x192, exact cameras. ``variant``: "ours",
    "nocheck" (no cycle-consistency check, no impossible-step filter) or "colmap" (COLMAP's
    plain default on every frame). Pose errors, impossible steps, dense depth vs truth."""
    import numpy as np

    from engine.metrics import depth_errors, pose_errors_after_sim3
    from engine.synthetic import read_demo_cameras
    from engine.synthetic_symmetric import SymmetricScene, write_symmetric_video

    with tempfile.TemporaryDirectory() as tmp:
        video = write_symmetric_video(Path(tmp) / "can.mp4", n=frames)
        gt = {c.name: c for c in read_demo_cameras(video)}
        ref = {n: c.world_from_cam for n, c in gt.items()}
        if variant == "colmap":
            out, poses = _colmap_default(_video_frames_dir(video, Path(tmp)))
            out.update(_pose_stats(poses, ref), impossible_steps=_impossible(poses))
            return out
        if variant == "nocheck":
            from engine.ingest import IngestOptions
            from engine.session import run_job
            from engine.tracking.pipeline import TrackOptions, track_job
            from engine.tracking.sfm import SfmOptions
            from engine.workflows import Workspace

            res = run_job(track_job(video, TrackOptions(sfm=SfmOptions(consistency=None), steps=None)), Workspace())
            n = len(res.registered) + len(res.unregistered)
            out = {"registered": f"{len(res.registered)}/{n}", "points": len(res.memory),
                   **{k: round(v, 1) for k, v in res.timings.items()},
                   "impossible_steps": _impossible({v.name: v.camera.world_from_cam for v in res.views})}
        else:
            out, res = _ours(video)
    est = {v.name: v.camera.world_from_cam for v in res.views}
    out.update(_pose_stats(est, ref))
    names = sorted(est)
    scale = pose_errors_after_sim3(np.stack([est[n] for n in names]), np.stack([ref[n] for n in names])).sim3_scale
    scene = SymmetricScene(0)
    views = [v for v in res.views if v.depth is not None and (v.depth > 0).any()]
    within = [depth_errors(v.depth * scale, scene.render(gt[v.name]).depth, v.depth > 0).within_2pct for v in views]
    out["depth_within_2pct"] = float(np.mean(within)) if within else 0.0
    out["depth_valid_frac"] = float(np.mean([(v.depth > 0).mean() for v in views])) if views else 0.0
    out["warnings"] = len(res.warnings)
    out["incremental_kept"] = any("global solve was bent" in w for w in res.warnings)
    out["depth_warning"] = any("dense depth disagrees" in w for w in res.warnings)
    return out


def _orbit360(loops: bool) -> dict:
    """The 360-degree orbit through the default pipeline, loop detection on or off: pose errors
    against the exact cameras."""
    from engine.synthetic import read_demo_cameras
    from engine.tracking.loops import LoopOptions

    video = synthetic_orbit360()
    gt = {c.name: c.world_from_cam for c in read_demo_cameras(video)}
    out, res = _ours(video, sfm=None if loops else dict(loops=LoopOptions(enabled=False)))
    out.update(_pose_stats({v.name: v.camera.world_from_cam for v in res.views}, gt))
    return out


def _clip1080(sample_views: int = 8, sfm: dict | None = None) -> dict:
    """The 10-s 1080p synthetic clip through the default pipeline: times, pose errors and
    dense depth (on ``sample_views`` evenly spaced keyframes) against the exact truth."""
    import numpy as np

    from engine.metrics import depth_errors, pose_errors_after_sim3
    from engine.synthetic import make_demo_scene, read_demo_cameras

    video = synthetic_clip_1080p()
    gt = {c.name: c for c in read_demo_cameras(video)}
    out, res = _ours(video, sfm=sfm)
    est = {v.name: v.camera.world_from_cam for v in res.views}
    out.update(_pose_stats(est, {n: c.world_from_cam for n, c in gt.items()}))
    names = sorted(est)
    scale = pose_errors_after_sim3(np.stack([est[n] for n in names]),
                                   np.stack([gt[n].world_from_cam for n in names])).sim3_scale
    scene = make_demo_scene(0)
    views = [v for v in res.views if v.depth is not None and (v.depth > 0).any()]
    picked = [views[i] for i in np.linspace(0, len(views) - 1, min(sample_views, len(views))).astype(int)]
    within = []
    for v in picked:
        cam = gt[v.name].scaled(v.camera.width / gt[v.name].width)
        within.append(depth_errors(v.depth * scale, scene.render(cam).depth, v.depth > 0).within_2pct)
    out["depth_within_2pct"] = float(np.mean(within))
    out["depth_valid_frac"] = float(np.mean([(v.depth > 0).mean() for v in picked]))
    out["dense_views"] = len(views)
    return out


def _cut() -> dict:
    """Issue 14's bad input: a video that cuts between two places (20 frames of the demo room,
    then 10 of the symmetric can, 320x180): registered keyframes, which clip they are from,
    the split warning, impossible steps."""
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_cut_video
    from engine.synthetic_symmetric import SymmetricScene, orbit_cameras

    room, can = make_demo_scene(0), SymmetricScene(0)
    with tempfile.TemporaryDirectory() as tmp:
        video = write_cut_video(Path(tmp) / "cut.mp4", [(room, demo_capture_cameras(room, 20, 320, 180)),
                                                        (can, orbit_cameras(can, 10, 320, 180, turns=0.25))], fps=8)
        out, res = _ours(video)
    out["from_second_clip"] = sum(int(n.split("_")[-1]) >= 20 for n in res.registered)
    out["split_reported"] = any("cut to another place" in w for w in res.warnings)
    return out


def _wide8(variant: str) -> dict:
    """8 synthetic photos of the demo scene 40 degrees apart (280-degree arc, 640x360), exact
    cameras: the default pipeline (with its wide-baseline retry) or COLMAP's plain default."""
    import cv2

    from engine.synthetic import _render_rgb8, demo_capture_cameras, make_demo_scene

    scene = make_demo_scene(0)
    cams = demo_capture_cameras(scene, 8, 640, 360, arc_deg=280.0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for c in cams:
            cv2.imwrite(str(folder / f"{c.name}.png"), cv2.cvtColor(_render_rgb8(scene, c), cv2.COLOR_RGB2BGR))
        if variant == "colmap":
            out, poses = _colmap_default(folder)
        else:
            out, res = _ours(folder)
            poses = {v.name: v.camera.world_from_cam for v in res.views}
            out["retried"] = any("wide-baseline" in w for w in res.warnings)
    out.update(_pose_stats(poses, {c.name: c.world_from_cam for c in cams}))
    return out


def _kitchen(data: Path, name: str) -> dict:
    """vggsfm_kitchen (25 photos 1558x1039 of a 360-degree capture, no reference poses):
    photos placed, sparse points, whether the wide-baseline retry / render-and-match ran.
    ``kitchen_ours``: the ingest default (1600 px); ``kitchen_ours_640``: ``--max-side 640``
    (as bench_real_views tracks it); ``_noretry``: without the wide-baseline retry (what
    render-and-match alone places); ``kitchen_colmap_default``: COLMAP's plain default."""
    folder = data / "vggsfm_kitchen" / "images"
    if not folder.is_dir():
        return {"skipped": f"{folder} absent"}
    if name == "kitchen_colmap_default":
        out, _ = _colmap_default(folder)
        return out
    if name.endswith("_noretry"):
        from engine.ingest import IngestOptions
        from engine.session import run_job
        from engine.tracking.pipeline import TrackOptions, track_job
        from engine.workflows import Workspace

        res = run_job(track_job(folder, TrackOptions(ingest=IngestOptions(max_side=640), relaxed_retry=False)), Workspace())
        out = {"registered": f"{len(res.registered)}/{len(res.registered) + len(res.unregistered)}",
               "points": len(res.memory), **{k: round(v, 1) for k, v in res.timings.items()}}
        out["not_placed"] = [w for w in res.warnings if "not placed" in w]
    else:
        out, res = _ours(folder, **({"max_side": 640} if "_640" in name else {}))
    out["retried"] = any("wide-baseline" in w for w in res.warnings)
    out["sparse_points"] = len(res.sparse_xyz)
    out["unregistered"] = " ".join(res.unregistered)
    out["render_and_match"] = " ".join(w.split(":")[0] for w in res.warnings if "registered by render-and-match" in w)
    out["warnings"] = len(res.warnings)
    return out


def run_case(name: str, data: Path) -> dict:
    t0 = time.perf_counter()
    if name.startswith("kitchen"):
        out = _kitchen(data, name)
        out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
        return out
    if name in ("cut_ours", "wide8_ours", "wide8_colmap_default", "tower_ours", "statue_ours"):
        if name == "cut_ours":
            out = _cut()
        elif name.startswith("wide8"):
            out = _wide8(name.split("_")[1])
        else:
            folder = data / {"tower": "mast3r_nle_tower", "statue": "vggsfm_statue"}[name.split("_")[0]] / "images"
            if not folder.is_dir():
                return {"case": name, "skipped": f"{folder} absent"}
            out, res = _ours(folder)
            out["retried"] = any("wide-baseline" in w for w in res.warnings)
            out["sparse_points"] = len(res.sparse_xyz)
        out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
        return out
    if name == "clip1080_colmap_default":     # every 5th frame: all 300 exhaustively would take hours
        from engine.synthetic import read_demo_cameras

        video = synthetic_clip_1080p()
        gt = {c.name: c.world_from_cam for c in read_demo_cameras(video)}
        with tempfile.TemporaryDirectory() as tmp:
            frames = _video_frames_dir(video, Path(tmp), every=5)
            out, poses = _colmap_default(frames)
        out.update(_pose_stats(poses, gt))
        out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
        return out
    if name.startswith("clip1080_ours"):       # _sift1600: SIFT on full 1600-px frames, 8192 features
        out = _clip1080(sfm=dict(max_image_size=1600, max_num_features=8192) if name.endswith("_sift1600") else None)
        out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
        return out
    fern = data / "llff_fern"
    if name.startswith("orbit360"):
        out = _orbit360(loops=name.endswith("_ours"))
        out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
        return out
    if name.startswith("symmetric"):
        out = _symmetric(name.split("_")[1])
        out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
        return out
    if name.startswith("synthetic"):
        out = _synthetic(name.split("_")[1])
        out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
        return out
    if name.startswith("fern") and not fern.is_dir():
        return {"case": name, "skipped": "llff_fern absent"}
    if name == "fern_ours" or name == "fern_ours_incremental":
        out, res = _ours(fern / "images_8", "incremental" if "incremental" in name else "global")
        est = {v.name: v.camera.world_from_cam for v in res.views}
        out.update(_pose_stats(est, _fern_reference(data)))
    elif name == "fern_colmap_default":
        out, poses = _colmap_default(fern / "images_8")
        out.update(_pose_stats(poses, _fern_reference(data)))
    elif name == "fern_poses_holdout8":
        out = _holdout(data)
    else:
        stem = {"apple": ("apple_cotracker", "apple.mp4"), "valley": ("pi3_valley_drone", "valley.mp4")}
        folder, file = stem[name.split("_")[0]]
        video = data / folder / file
        if not video.exists():
            return {"case": name, "skipped": f"{folder} absent"}
        if "_ours" in name:
            ingest = {"max_keyframes": MAX_KEYFRAMES} if MAX_KEYFRAMES else {}
            out, _ = _ours(video, "incremental" if name.endswith("_incremental") else "global", **ingest)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                frames = _video_frames_dir(video, Path(tmp))
                out, poses = _colmap_default(frames)
                out["impossible_steps"] = _impossible(poses)
    out.update(case=name, seconds=round(time.perf_counter() - t0, 1), peak_mb=round(_peak_mb()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--case", help=argparse.SUPPRESS)    # child mode
    ap.add_argument("--out", type=Path)
    ap.add_argument("--max-keyframes", type=int, default=0, help="real video cases of ours: keyframe target")
    args = ap.parse_args()
    global MAX_KEYFRAMES
    MAX_KEYFRAMES = args.max_keyframes
    sys.path.insert(0, str(ROOT))
    if args.case:
        print(json.dumps(run_case(args.case, args.data), default=float), flush=True)
        return 0
    if not args.data.is_dir():
        print(f"data folder {args.data} absent: skipping all cases")
        return 0
    rows = []
    for case in args.cases.split(","):
        proc = subprocess.run([sys.executable, __file__, "--case", case, "--data", str(args.data),
                               "--max-keyframes", str(args.max_keyframes)],
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        row = json.loads(lines[-1]) if lines else {"case": case, "failed": proc.stderr.strip().splitlines()[-1:]}
        rows.append(row)
        print(json.dumps(row, default=float), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
