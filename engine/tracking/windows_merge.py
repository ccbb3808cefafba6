"""The global refinement of window-parallel tracking: every window's sparse model, chained into
one gauge (engine.tracking.windows), becomes one COLMAP reconstruction and gets one bundle
adjustment over all keyframes.

The reconstruction has one camera (a video's; its start is window 0's), one image per
keyframe (posed by the chain; a keyframe two windows share starts from the earlier window's
pose) and every window's 3D points, moved by its Sim(3). A shared keyframe carries the 2D
observations of both windows (as separate 2D points), so the bundle adjustment ties the
windows together through it. The result is brought back to the gauge of the chain (Sim(3)
over all cameras) so that nothing the viewer already shows jumps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.tracking.windows import Sim3, SparseModel, sim3_from_cameras


@dataclass
class Refined:
    """world_from_cam: name -> [4,4] (chain gauge); K [3,3] and distortion (OpenCV
    coefficients) at the SIFT size ``width`` x ``height``; error_px: mean reprojection error
    before and after."""

    world_from_cam: dict[str, np.ndarray]
    K: np.ndarray
    distortion: np.ndarray
    width: int
    height: int
    error_px: tuple[float, float]


def merged_reconstruction(models: list[SparseModel], chain: list[Sim3], world_from_cam: dict[str, np.ndarray]):
    """One pycolmap.Reconstruction of all windows (see the module docstring); images named by
    frame, posed by ``world_from_cam`` (name -> [4,4] chain gauge)."""
    import pycolmap

    first = models[0]
    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(pycolmap.Camera(model=first.camera_model, width=first.width,
                                                    height=first.height, params=first.params, camera_id=1))
    names = [n for n in world_from_cam if any(n in m.cam_from_world for m in models)]
    image_id = {n: k + 1 for k, n in enumerate(names)}
    keypoints: dict[str, list[np.ndarray]] = {n: [] for n in names}
    offsets: list[dict[str, int]] = []        # per window: name -> index of its first 2D point
    for m in models:
        off = {}
        for n, (xy, _) in m.observations.items():
            if n in image_id:
                off[n] = sum(len(a) for a in keypoints[n])
                keypoints[n].append(xy)
        offsets.append(off)
    for n in names:
        xy = np.concatenate(keypoints[n]) if keypoints[n] else np.zeros((0, 2))
        img = pycolmap.Image(name=n, keypoints=xy, camera_id=1, image_id=image_id[n])
        cfw = np.linalg.inv(world_from_cam[n])[:3, :4]
        rec.add_image_with_trivial_frame(img, pycolmap.Rigid3d(cfw))
    for m, sim, off in zip(models, chain, offsets):
        tracks: list[list[tuple[int, int]]] = [[] for _ in range(len(m.xyz))]
        for n, (_, pid) in m.observations.items():
            if n not in off:
                continue
            for k, p in enumerate(pid):
                tracks[int(p)].append((image_id[n], off[n] + k))
        xyz = sim.points(m.xyz)
        for p, elements in enumerate(tracks):
            if len(elements) < 2:
                continue
            track = pycolmap.Track()
            for iid, idx in elements:
                track.add_element(iid, idx)
            rec.add_point3D(xyz[p], track, m.rgb[p])
    return rec


def bundle_adjust(models: list[SparseModel], chain: list[Sim3], world_from_cam: dict[str, np.ndarray],
                  num_threads: int = -1) -> Refined:
    """One bundle adjustment of every window's model together (poses, points, the shared
    camera's focal length and distortion)."""
    import pycolmap

    from engine.tracking.colmap_io import pinhole_and_distortion
    from engine.tracking.sfm import quiet_pycolmap

    quiet_pycolmap()
    rec = merged_reconstruction(models, chain, world_from_cam)
    rec.update_point_3d_errors()
    before = float(rec.compute_mean_reprojection_error())
    opts = pycolmap.BundleAdjustmentOptions()
    opts.print_summary = False
    opts.ceres.loss_function_type = pycolmap.LossFunctionType.CAUCHY
    opts.ceres.solver_options.num_threads = num_threads
    config = pycolmap.BundleAdjustmentConfig()
    for iid in rec.reg_image_ids():
        config.add_image(iid)
    config.fix_gauge(pycolmap.BundleAdjustmentGauge.TWO_CAMS_FROM_WORLD)
    pycolmap.create_default_bundle_adjuster(opts, config, rec).solve()
    rec.update_point_3d_errors()
    after = float(rec.compute_mean_reprojection_error())
    refined = {}
    for iid in rec.reg_image_ids():
        img = rec.images[iid]
        pose = img.cam_from_world() if callable(img.cam_from_world) else img.cam_from_world
        cfw = np.eye(4)
        cfw[:3, :4] = np.asarray(pose.matrix())
        refined[img.name] = np.linalg.inv(cfw)
    names = list(refined)
    back = sim3_from_cameras([refined[n] for n in names], [world_from_cam[n] for n in names])
    refined = {n: back.world_from_cam(w) for n, w in refined.items()}
    cam = rec.cameras[1]
    K, dist = pinhole_and_distortion(cam.model.name, np.asarray(cam.params))
    return Refined(refined, K, dist, int(cam.width), int(cam.height), (before, after))
