"""Dense depth on real data: the plane sweep alone ("sweep", matched pixels only) vs the sweep
followed by completion ("sweep+complete", engine.tracking.complete).

Scenes (skipped when absent under --data):
  fern    LLFF fern, images_8 (504x378), reference poses (poses_bounds.npy) and COLMAP's sparse
          points (sparse/0/points3D.bin), posed import settings (480 px, 96 planes)
  office  TUM fr3 office (17 photos 640x480), tracked from scratch (engine.tracking.pipeline),
          its own sparse points, tracking settings (400 px, 80 planes, 3 neighbours)

Per scene and backend: fraction of pixels with depth (mean over views); the headline "sparse
pts within 2%": of the (view, point) pairs in which COLMAP observed the point in that view
(fern: points3D.bin's tracks; the point is visible there), those whose z lies within 2% of
the map at its pixel (no depth there is a miss); the same over every pair in which the point
merely projects into the view ("all pairs": 81.5% of fern's pairs are points the view did not
observe, many hidden behind a nearer frond, where a correct map SHOULD disagree; scenes
without tracks, e.g. office, have only this column); the same only over matched pixels; and
seconds per view (sweep+filter; completion on top); then where
the (view, point) pairs go: matched pixel within 2% / off by more (by how much, nearer or
farther), completed pixel within 2% / nearer / farther, no depth, over all pairs and over the
pairs in which COLMAP observed the point in that view (fern: points3D.bin's tracks; a point
outside the view's track may be hidden there behind a nearer surface). ``--views`` measures
a subset (all views are still swept once and cached: the filter checks against them). The sweep
runs once; the completion starts from its state. Contact sheets (image | sweep depth | completed
depth | completed mask | confidence; inverse depth, turbo, black = none) go to --out, with the
sweep state (``sweep_<scene>.pkl``, reused by later runs: delete it after changing the sweep).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_depth.py [--data DIR] [--scenes fern,office] [--out DIR] [--views 0,10,19]
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
from engine.tracking.dense import filtered_depth  # noqa: E402
from engine.tracking.mvs import MVSOptions  # noqa: E402


def load_fern(data: Path):
    from engine.tracking.import_poses import import_poses

    scene = import_poses(data / "llff_fern", images=data / "llff_fern" / "images_8")
    views = list(scene.views)
    near_far = {i: scene.near_far[v.name] for i, v in enumerate(views) if v.name in scene.near_far}
    return views, scene.points, near_far, MVSOptions(max_side=480, max_depths=96)


def load_office(data: Path):
    from engine.session import run_job
    from engine.tracking.pipeline import TrackOptions, track_job
    from engine.workflows import Workspace

    t = time.perf_counter()
    opts = TrackOptions(depth_backend="sweep", max_dense_views=2, register_leftovers=False)
    res = run_job(track_job(data / "tum_fr3_office_superglue" / "images", opts), Workspace())
    print(f"office: tracked {len(res.registered)}/{len(res.registered) + len(res.unregistered)} photos "
          f"in {time.perf_counter() - t:.1f} s, {len(res.sparse_xyz)} sparse points", flush=True)
    return list(res.views), res.sparse_xyz, None, TrackOptions().mvs


def _map_at_points(dm, xyz: np.ndarray):
    """Project world points xyz [N,3] into the map's camera: (vis [N] bool: in front and inside
    the image, ij [M,2] int pixel (col, row) of the visible ones, z [N] camera depth, d [M] the
    map's depth at those pixels, 0 = none)."""
    cam = dm.camera
    uv, z = cam.project(xyz)
    with np.errstate(invalid="ignore"):
        vis = (z > 1e-6) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
    ij = np.floor(uv[vis]).astype(int)
    return vis, ij, z, dm.depth[ij[:, 1], ij[:, 0]]


def sparse_agreement(dm, xyz: np.ndarray, mask: np.ndarray | None = None) -> tuple[int, int]:
    """(points within 2% of the map, points the view sees) for sparse points xyz [N,3] world."""
    vis, ij, z, d = _map_at_points(dm, xyz)
    ok = (d > 0) & (np.abs(d - z[vis]) <= 0.02 * z[vis])
    if mask is not None:
        ok &= mask[ij[:, 1], ij[:, 0]]
    return int(ok.sum()), int(vis.sum())


SPLIT = ("matched ok", "matched off", "completed ok", "completed near", "completed far", "no depth")


def miss_split(dm, xyz: np.ndarray, in_track: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Counts of the (view, point) pairs of one map by what happened at the point's pixel:
    {"all": [6], "track": [6], "off_bins": [6]} with the classes of :data:`SPLIT` (matched
    pixel within 2% / off by more; completed pixel within 2% / nearer / farther; no depth);
    "track": the same over the pairs in which COLMAP observed the point in this view
    (``in_track`` [N] bool: the point is in this view's track; others may be hidden by a
    nearer surface in this view); "off_bins": matched pixels off by 2-5%, 5-15%, > 15%,
    nearer (3) then farther (3)."""
    vis, ij, z, d = _map_at_points(dm, xyz)
    zv = z[vis]
    comp = dm.completed[ij[:, 1], ij[:, 0]] if dm.completed is not None else np.zeros(len(zv), bool)
    has = d > 0
    rel = np.where(has, (d - zv) / zv, 0.0)
    ok = has & (np.abs(rel) <= 0.02)
    cls = np.full(len(zv), 5)
    cls[has & ~comp & ok], cls[has & ~comp & ~ok] = 0, 1
    cls[has & comp & ok], cls[has & comp & (rel < -0.02)], cls[has & comp & (rel > 0.02)] = 2, 3, 4
    out = {"all": np.bincount(cls, minlength=6)}
    out["track"] = np.bincount(cls[in_track[vis]], minlength=6) if in_track is not None else np.zeros(6, int)
    off = has & ~comp & ~ok
    edges = [0.02, 0.05, 0.15, np.inf]
    out["off_bins"] = np.array([(off & (rel < -lo) & (rel >= -hi)).sum() for lo, hi in zip(edges, edges[1:])]
                               + [(off & (rel > lo) & (rel <= hi)).sum() for lo, hi in zip(edges, edges[1:])])
    return out


def track_masks(points, n_views: int) -> list[np.ndarray] | None:
    """Per view index i, [N] bool: COLMAP observed the point in image id i + 1 (points3D.bin's
    image ids follow the sorted image names, as the LLFF rows do); None without tracks."""
    tracks = getattr(points, "tracks", None)
    if tracks is None:
        return None
    masks = np.zeros((n_views, len(tracks)), bool)
    for p, tr in enumerate(tracks):
        ids = tr[(tr >= 1) & (tr <= n_views)] - 1
        masks[ids, p] = True
    return list(masks)


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


def run_scene(name: str, views, points, near_far, mvs: MVSOptions, out: Path, device="cpu",
              only: list[int] | None = None) -> list[dict]:
    xyz = getattr(points, "xyz", points)
    tracks = track_masks(points, len(views))
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
    comp = CompletingSweepBackend(mvs, device)
    comp.state = sweep.state                          # same sweeps: completion on top
    ids = [i for i in sweep.view_ids if only is None or i in only]   # every view is swept (the filter checks against them)
    t = time.perf_counter()
    old = [sweep._finish(filtered_depth(sweep.state, i)) for i in ids]
    t_filter = time.perf_counter() - t
    t = time.perf_counter()
    new = [comp._finish(filtered_depth(comp.state, i)) for i in ids]
    t_complete = time.perf_counter() - t
    n = max(len(old), 1)
    rows = []
    n_swept = max(len(sweep.view_ids), 1)
    for label, maps, secs in (("sweep", old, t_sweep / n_swept + t_filter / n),
                              ("sweep+complete", new, t_sweep / n_swept + t_complete / n)):
        ok = seen = ok_m = ok_t = seen_t = ok_tm = 0
        split = {"all": np.zeros(6, int), "track": np.zeros(6, int), "off_bins": np.zeros(6, int)}
        for dm in maps:
            a, b = sparse_agreement(dm, xyz)
            c, _ = sparse_agreement(dm, xyz, dm.matched())
            ok, seen, ok_m = ok + a, seen + b, ok_m + c
            if tracks:
                t_in = tracks[dm.view_id]
                a, b = sparse_agreement(dm, xyz[t_in])
                c, _ = sparse_agreement(dm, xyz[t_in], dm.matched())
                ok_t, seen_t, ok_tm = ok_t + a, seen_t + b, ok_tm + c
            for key, val in miss_split(dm, xyz, tracks[dm.view_id] if tracks else None).items():
                split[key] += val
        cov = float(np.mean([dm.valid_fraction() for dm in maps]))
        matched = float(np.mean([dm.matched().mean() for dm in maps]))
        conf_c = [dm.confidence[dm.completed].mean() for dm in maps if dm.completed is not None and dm.completed.any()]
        rows.append(dict(scene=name, backend=label, views=len(maps), size=f"{maps[0].camera.width}x{maps[0].camera.height}",
                         coverage=cov, matched=matched, pts_2pct=ok / max(seen, 1), pts_2pct_matched=ok_m / max(seen, 1),
                         points=seen, track_2pct=ok_t / seen_t if seen_t else float("nan"),
                         track_2pct_matched=ok_tm / seen_t if seen_t else float("nan"), track_points=seen_t,
                         conf_completed=float(np.mean(conf_c)) if conf_c else float("nan"),
                         s_per_view=secs, split=split))
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
    ap.add_argument("--views", default="", help="comma-separated view indices to measure (all are swept)")
    args = ap.parse_args(argv)
    loaders = {"fern": ("llff_fern", load_fern), "office": ("tum_fr3_office_superglue", load_office)}
    rows = []
    for name in args.scenes.split(","):
        folder, load = loaders[name]
        if not (args.data / folder).is_dir():
            print(f"{name}: {args.data / folder} absent, skipped")
            continue
        views, xyz, near_far, mvs = load(args.data)
        only = [int(v) for v in args.views.split(",")] if args.views else None
        rows += run_scene(name, views, xyz, near_far, mvs, args.out, args.device, only)
    print("\n| scene | backend | views | size | pixels with depth | matched pixels | **sparse pts within 2%** "
          "(observed in the view) | ... over matched pixels only | pairs observed | all pairs: within 2% "
          "| ... over matched pixels only | all pairs | mean conf. of completed | s / view |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scene']} | {r['backend']} | {r['views']} | {r['size']} | {r['coverage']:.1%} | {r['matched']:.1%} "
              f"| **{r['track_2pct']:.1%}** | {r['track_2pct_matched']:.1%} | {r['track_points']} "
              f"| {r['pts_2pct']:.1%} | {r['pts_2pct_matched']:.1%} | {r['points']} | {r['conf_completed']:.2f} "
              f"| {r['s_per_view']:.2f} |")
    print("\nWhere the sparse points go (fractions of the (view, point) pairs; 'in track': pairs in which "
          "COLMAP observed the point in that view, the others may be hidden behind a nearer surface there)\n")
    print("| scene | backend | pairs | " + " | ".join(SPLIT) + " | in track: pairs | " + " | ".join(SPLIT)
          + " | matched off 2-5% / 5-15% / >15% nearer | ... farther |")
    print("|---|---|---|" + "---|" * (2 * len(SPLIT) + 3))
    for r in rows:
        sp = r["split"]
        n, nt = max(sp["all"].sum(), 1), max(sp["track"].sum(), 1)
        ob = sp["off_bins"] / n
        print(f"| {r['scene']} | {r['backend']} | {sp['all'].sum()} | " + " | ".join(f"{x / n:.1%}" for x in sp["all"])
              + f" | {sp['track'].sum() / n:.1%} | " + " | ".join(f"{x / nt:.1%}" for x in sp["track"])
              + f" | {ob[0]:.1%} / {ob[1]:.1%} / {ob[2]:.1%} | {ob[3]:.1%} / {ob[4]:.1%} / {ob[5]:.1%} |")


if __name__ == "__main__":
    main()
