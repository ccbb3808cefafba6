"""Dense depth on real data: the plane sweep alone ("sweep", matched pixels only) vs the sweep
followed by completion ("sweep+complete", engine.tracking.complete).

Scenes (skipped when absent under --data):
  fern    LLFF fern, images_8 (504x378), reference poses (poses_bounds.npy) and COLMAP's sparse
          points (sparse/0/points3D.bin), posed import settings (480 px, 96 planes)
  office  TUM fr3 office (17 photos 640x480), tracked from scratch (engine.tracking.pipeline),
          its own sparse points, tracking settings (400 px, 80 planes, 3 neighbours)

Per scene and backend: fraction of pixels with depth (mean over views), fraction of the sparse
points each view sees that lie within 2% (z) of its map (a point with no depth at its pixel
counts as a miss; points hidden behind nearer surfaces count as misses for both), the same
only over matched pixels, and seconds per view (sweep+filter; completion on top). The sweep
runs once; the completion starts from its state. Contact sheets (image | sweep depth | completed
depth | completed mask | confidence; inverse depth, turbo, black = none) go to --out, with the
sweep state (``sweep_<scene>.pkl``, reused by later runs: delete it after changing the sweep).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_depth.py [--data DIR] [--scenes fern,office] [--out DIR]
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = (ROOT / ".." / "shared" / "data" / "real").resolve()

from engine.tracking.depth_backend import CompletingSweepBackend, SweepBackend  # noqa: E402
from engine.tracking.mvs import MVSOptions  # noqa: E402


def load_fern(data: Path):
    from engine.tracking.import_poses import import_poses

    scene = import_poses(data / "llff_fern", images=data / "llff_fern" / "images_8")
    views = list(scene.views)
    near_far = {i: scene.near_far[v.name] for i, v in enumerate(views) if v.name in scene.near_far}
    return views, scene.points.xyz, near_far, MVSOptions(max_side=480, max_depths=96)


def load_office(data: Path):
    from engine.session import EngineState, run_job
    from engine.tracking.pipeline import TrackOptions, track_job

    t = time.perf_counter()
    opts = TrackOptions(depth_backend="sweep", max_dense_views=2, register_leftovers=False)
    res = run_job(track_job(data / "tum_fr3_office_superglue" / "images", opts), EngineState())
    print(f"office: tracked {len(res.registered)}/{len(res.registered) + len(res.unregistered)} photos "
          f"in {time.perf_counter() - t:.1f} s, {len(res.sparse_xyz)} sparse points", flush=True)
    return list(res.views), res.sparse_xyz, None, TrackOptions().mvs


def sparse_agreement(dm, xyz: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, int]:
    """(points within 2% of the map, points the view sees) for sparse points xyz [N,3] world."""
    cam = dm.camera
    uv, z = cam.project(xyz)
    with np.errstate(invalid="ignore"):
        vis = (z > 1e-6) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
    ij = np.floor(uv[vis]).astype(int)
    d = dm.depth[ij[:, 1], ij[:, 0]]
    ok = (d > 0) & (np.abs(d - z[vis]) <= 0.02 * z[vis])
    if mask is not None:
        ok &= mask[ij[:, 1], ij[:, 0]]
    return int(ok.sum()), int(vis.sum())


def colour_inv_depth(depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    inv = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-9), 0)
    t = np.clip((inv - lo) / max(hi - lo, 1e-9), 0, 1)
    rgb = cv2.applyColorMap((t * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    rgb[depth <= 0] = 0
    return rgb


def contact_sheet(path: Path, rows: list) -> None:
    """rows: (image, old DepthMap, new DepthMap) at working resolution."""
    lines = []
    for image, old, new in rows:
        inv = 1.0 / new.depth[new.depth > 0]
        lo, hi = np.percentile(inv, [1, 99])
        comp = np.repeat((new.completed * 255).astype(np.uint8)[..., None], 3, 2)
        conf = np.repeat((np.clip(new.confidence, 0, 1) * 255).astype(np.uint8)[..., None], 3, 2)
        tiles = [image, colour_inv_depth(old.depth, lo, hi), colour_inv_depth(new.depth, lo, hi), comp, conf]
        lines.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
    w = max(x.shape[1] for x in lines)
    sheet = np.concatenate([np.pad(x, ((0, 0), (0, w - x.shape[1]), (0, 0))) for x in lines], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def run_scene(name: str, views, xyz, near_far, mvs: MVSOptions, out: Path, device="cpu") -> list[dict]:
    cams = {i: v.camera for i, v in enumerate(views)}
    imgs = {i: v.image for i, v in enumerate(views)}
    sweep = SweepBackend(mvs, device)
    cache = out / f"sweep_{name}.pkl"
    if cache.exists():                                # the sweep of an earlier run (same data, options)
        with open(cache, "rb") as f:
            sweep.state, t_sweep = pickle.load(f)
    else:
        t = time.perf_counter()
        for _ in sweep.estimate(list(cams), cams, imgs, xyz, near_far):
            pass
        t_sweep = time.perf_counter() - t
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(cache, "wb") as f:
            pickle.dump((sweep.state, t_sweep), f)
    t = time.perf_counter()
    old = sweep.final_maps()
    t_filter = time.perf_counter() - t
    comp = CompletingSweepBackend(mvs, device)
    comp.state = sweep.state                          # same sweeps: completion on top
    t = time.perf_counter()
    new = comp.final_maps()
    t_complete = time.perf_counter() - t
    n = max(len(old), 1)
    rows = []
    for label, maps, secs in (("sweep", old, (t_sweep + t_filter) / n), ("sweep+complete", new, (t_sweep + t_complete) / n)):
        ok = seen = ok_m = 0
        for dm in maps:
            a, b = sparse_agreement(dm, xyz)
            c, _ = sparse_agreement(dm, xyz, dm.matched())
            ok, seen, ok_m = ok + a, seen + b, ok_m + c
        cov = float(np.mean([dm.valid_fraction() for dm in maps]))
        matched = float(np.mean([dm.matched().mean() for dm in maps]))
        conf_c = [dm.confidence[dm.completed].mean() for dm in maps if dm.completed is not None and dm.completed.any()]
        rows.append(dict(scene=name, backend=label, views=len(maps), size=f"{maps[0].camera.width}x{maps[0].camera.height}",
                         coverage=cov, matched=matched, pts_2pct=ok / max(seen, 1), pts_2pct_matched=ok_m / max(seen, 1),
                         points=seen, conf_completed=float(np.mean(conf_c)) if conf_c else float("nan"),
                         s_per_view=secs))
    pick = sorted({0, len(new) // 2, len(new) - 1})
    contact_sheet(out / f"depth_{name}.png", [(new[i].image, old[i], new[i]) for i in pick])
    print(f"{name}: sweep {t_sweep:.1f} s, filter {t_filter:.1f} s, filter+completion {t_complete:.1f} s "
          f"for {n} views; sheet {out / f'depth_{name}.png'}", flush=True)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--scenes", default="fern,office")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "_cache" / "depth")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    loaders = {"fern": ("llff_fern", load_fern), "office": ("tum_fr3_office_superglue", load_office)}
    rows = []
    for name in args.scenes.split(","):
        folder, load = loaders[name]
        if not (args.data / folder).is_dir():
            print(f"{name}: {args.data / folder} absent, skipped")
            continue
        views, xyz, near_far, mvs = load(args.data)
        rows += run_scene(name, views, xyz, near_far, mvs, args.out, args.device)
    print("\n| scene | backend | views | size | pixels with depth | matched pixels | sparse pts within 2% "
          "| ... over matched pixels only | sparse pts seen | mean conf. of completed | s / view |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scene']} | {r['backend']} | {r['views']} | {r['size']} | {r['coverage']:.1%} | {r['matched']:.1%} "
              f"| {r['pts_2pct']:.1%} | {r['pts_2pct_matched']:.1%} | {r['points']} | {r['conf_completed']:.2f} "
              f"| {r['s_per_view']:.2f} |")


if __name__ == "__main__":
    main()
