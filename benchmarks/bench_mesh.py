"""Mesh quality on the synthetic scene: Chamfer distance and F-score against the exact geometry.

    .venv/bin/python benchmarks/bench_mesh.py [--views 24] [--size 320x180] [--voxels 0.02,0.04]

The scene is captured with ``demo_capture_cameras`` (exact depth maps), fused into the memory
and meshed by TSDF and by Poisson (engine.export.mesh). Ground truth: ``scene.sample_surface``
(uniform by area). Both sides are compared as point sets (the mesh sampled uniformly):
accuracy = mean distance mesh -> GT, completeness = mean distance GT -> mesh, Chamfer =
their mean; precision / recall / F-score at tau = 1% of the scene extent (the largest side of
the scene's bounding box). "visible" restricts the ground truth to points some captured view
sees (unseen walls cannot be reconstructed and only lower recall).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _nn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import open3d as o3d

    pa = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(a.astype(np.float64)))
    pb = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(b.astype(np.float64)))
    return np.asarray(pa.compute_point_cloud_distance(pb))


def visible_mask(scene, cameras, points: np.ndarray, tol: float = 0.02) -> np.ndarray:
    """[N] bool: points seen (in the image, not occluded) by at least one camera."""
    seen = np.zeros(len(points), bool)
    for cam in cameras:
        depth = scene.render(cam).depth
        uv, z = cam.project(points)
        ok = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
        col = np.clip(uv[:, 0].astype(int), 0, cam.width - 1)
        row = np.clip(uv[:, 1].astype(int), 0, cam.height - 1)
        seen |= ok & (np.abs(depth[row, col] - z) < tol + 0.01 * z)
    return seen


def scores(mesh_pts: np.ndarray, gt: np.ndarray, tau: float) -> dict:
    acc_d, comp_d = _nn(mesh_pts, gt), _nn(gt, mesh_pts)
    out = {"acc": acc_d.mean(), "comp": comp_d.mean(), "chamfer": 0.5 * (acc_d.mean() + comp_d.mean())}
    for key, t in (("", tau), ("_quarter", tau / 4)):
        p, r = float((acc_d < t).mean()), float((comp_d < t).mean())
        out.update({"precision" + key: p, "recall" + key: r, "fscore" + key: 2 * p * r / max(p + r, 1e-12)})
    return out


def _row(voxel, method, faces, seconds, tau, sv, sa) -> None:
    print(f"| {voxel:.3f} | {method} | {faces} | {seconds:.1f} | {tau:.3f} | {sv['acc']:.4f} | "
          f"{sv['comp']:.4f} | {sv['chamfer']:.4f} | {sv['precision']:.3f} | {sv['recall']:.3f} | "
          f"{sv['fscore']:.3f} | {sa['fscore']:.3f} | {sv['fscore_quarter']:.3f} |", flush=True)


def build_project(n_views: int, width: int, height: int, voxel: float):
    from engine.ingest.views import CapturedView, ViewBank
    from engine.memory import GeometryMemory
    from engine.project import Project
    from engine.synthetic import demo_capture_cameras, make_demo_scene

    scene = make_demo_scene(0)
    bank = ViewBank()
    mem = GeometryMemory(voxel_size=voxel, device="cpu")
    for i, cam in enumerate(demo_capture_cameras(scene, n=n_views, width=width, height=height)):
        fr = scene.render(cam)
        depth = np.where(np.isfinite(fr.depth), fr.depth, 0.0).astype(np.float32)
        img = (np.clip(fr.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        bank.add(CapturedView(cam, img, depth, None))
        mem.insert_depth(cam, depth, img, view=i)
    return scene, Project(root=Path(tempfile.mkdtemp()), views=bank, memory=mem)


def main() -> None:
    import open3d as o3d

    from engine.export.mesh import MeshOptions, build_mesh

    ap = argparse.ArgumentParser()
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--voxels", default="0.02,0.04")
    ap.add_argument("--gt-points", type=int, default=300_000)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    print("| voxel m | method | faces | build s | tau m | acc m | comp m (vis) | Chamfer m (vis) "
          "| precision | recall (vis) | F-score (vis) | F-score (all GT) | F-score tau/4 (vis) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for voxel in (float(v) for v in args.voxels.split(",")):
        scene, project = build_project(args.views, w, h, voxel)
        gt, _ = scene.sample_surface(args.gt_points, seed=1)
        tau = 0.01 * float(np.max(scene.bounds_max - scene.bounds_min))
        vis = visible_mask(scene, project.views.cameras, gt)
        gt2, _ = scene.sample_surface(args.gt_points, seed=7)      # exact samples: the metric's floor
        vis2 = visible_mask(scene, project.views.cameras, gt2)
        _row(voxel, "exact samples (floor)", 0, 0.0, tau, scores(gt2[vis2], gt[vis], tau), scores(gt2, gt, tau))
        for method in ("tsdf", "poisson"):
            t0 = time.perf_counter()
            mesh = build_mesh(project, MeshOptions(method=method))
            dt = time.perf_counter() - t0
            om = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices),
                                           o3d.utility.Vector3iVector(mesh.faces))
            pts = np.asarray(om.sample_points_uniformly(args.gt_points).points)
            _row(voxel, method, mesh.num_faces, dt, tau, scores(pts, gt[vis], tau), scores(pts, gt, tau))
        print(f"<!-- voxel {voxel}: {len(project.memory)} memory points, {vis.mean():.1%} of GT visible -->")


if __name__ == "__main__":
    main()
