"""Gaussian-splat training on LLFF fern (1008x756, reference poses), every 8th view held out.

    python3 benchmarks/bench_splat.py --data DIR [--iterations 7000] [--out DIR] [--no-ibr] [--oom]

DIR holds fern's ``images_4/`` (1008x756 PNG), ``poses_bounds.npy`` and
``sparse/0/points3D.bin`` (the COLMAP model ships without images.bin; only its points are used,
as the initial Gaussians: isotropic, kNN-scaled, opacity 0.1). Cameras come from
``poses_bounds.npy`` through ``engine.geometry.conventions.cameras_from_llff_rows`` (focal / 4,
principal point centered). Held out: views 0, 8, 16 (the NeRF protocol); 17 views train.

Reported: held-out PSNR / SSIM after the run, training time (CUDA-synchronised, gsplat's JIT
compile excluded), peak GPU memory, splat count; the ``ibr`` generator on the same held-out
views, with references = the training views whose depth is the trained splats' rendered depth
(the LLFF data has no depth maps), memory fused from those depths, retrieval by geometric
contribution; the exported INRIA PLY read back by an independent parser and rendered by gsplat
vs the engine's torch rasterizer; with --oom, training under a 2 GiB memory cap from an
oversized start (caught, reduced). Writes ``bench_splat.json`` and PNGs to --out.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.geometry import Camera  # noqa: E402
from engine.geometry.conventions import cameras_from_llff_rows  # noqa: E402
from engine.ingest.views import CapturedView, ViewBank  # noqa: E402
from engine.metrics import psnr, ssim  # noqa: E402


def load_fern(root: Path) -> tuple[ViewBank, np.ndarray, np.ndarray]:
    """-> (views with cameras at images_4 size, points xyz [N,3] world, rgb [N,3] uint8)."""
    from engine.tracking.colmap_io import read_points3d_bin

    llff = cameras_from_llff_rows(np.load(root / "poses_bounds.npy"))
    files = sorted((root / "images_4").glob("*.png"))
    bank = ViewBank()
    for i, f in enumerate(files):
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        f_px = llff.focal[i] * w / llff.width[i]
        K = np.array([[f_px, 0, w / 2], [0, f_px, h / 2], [0, 0, 1.0]])
        bank.add(CapturedView(Camera(K, w, h, llff.world_from_cam[i], f.stem), img))
    pts = read_points3d_bin(root / "sparse/0/points3D.bin")
    return bank, pts.xyz, pts.rgb


def read_ply_independently(path: Path) -> dict[str, np.ndarray]:
    """Minimal binary-little-endian PLY reader (not the engine's) -> {property: [N] float32}."""
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode().splitlines()
    n = next(int(l.split()[2]) for l in header if l.startswith("element vertex"))
    names = [l.split()[2] for l in header if l.startswith("property float")]
    data = np.frombuffer(raw, dtype=np.dtype([(p, "<f4") for p in names]), count=n, offset=end)
    return {p: data[p].astype(np.float32) for p in names}


def gsplat_render_ply(ply: dict, camera: Camera, device) -> np.ndarray:
    """Render INRIA-PLY arrays with gsplat directly (exp scales, sigmoid opacity, wxyz)."""
    from gsplat import rasterization

    t = lambda *keys: torch.tensor(np.stack([ply[k] for k in keys], 1), device=device)  # noqa: E731
    rest = sorted((k for k in ply if k.startswith("f_rest_")), key=lambda k: int(k[7:]))
    k = len(rest) // 3 + 1
    sh = torch.zeros(len(ply["x"]), k, 3, device=device)
    sh[:, 0] = t("f_dc_0", "f_dc_1", "f_dc_2")
    if rest:
        sh[:, 1:] = t(*rest).reshape(-1, 3, k - 1).transpose(1, 2)
    view = torch.tensor(camera.cam_from_world, dtype=torch.float32, device=device)[None]
    K = torch.tensor(camera.K, dtype=torch.float32, device=device)[None]
    col, _, _ = rasterization(t("x", "y", "z"), t("rot_0", "rot_1", "rot_2", "rot_3"),
                              torch.exp(t("scale_0", "scale_1", "scale_2")), torch.sigmoid(t("opacity")[:, 0]),
                              sh, view, K, camera.width, camera.height, sh_degree=int(round(k ** 0.5)) - 1,
                              packed=False)
    return col[0].clamp(0, 1).cpu().numpy()


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def save_png(path: Path, img: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))


def run_ibr(trainer, train_views, test_views, device, voxel: float) -> dict:
    """The ibr generator on the held-out views, references' depth = the splats' rendered depth."""
    from engine.generate.ibr import IBRGenerator, IBROptions
    from engine.generate.loop import reference_views
    from engine.generate.protocol import SegmentRequest
    from engine.memory import GeometryMemory
    from engine.render.points import render_memory
    from engine.render.retrieval import retrieve_views

    t0 = time.perf_counter()
    bank, memory = ViewBank(), GeometryMemory(voxel, device=device)
    for i, v in enumerate(train_views):
        out = trainer.render(v.camera)
        depth = torch.where(out.alpha > 0.5, out.depth, torch.zeros_like(out.depth)).cpu().numpy()
        img = (v.image.cpu().numpy() * 255 + 0.5).astype(np.uint8)
        bank.add(CapturedView(v.camera, img, depth.astype(np.float32)))
        memory.insert_depth(v.camera, depth, img, view=i, stride=2)
    gen = IBRGenerator(IBROptions(use_previous_frame=False), device=device)
    rows, images = [], []
    for v in test_views:
        retrieved = retrieve_views(memory, bank, [v.camera], 4)
        req = SegmentRequest(0, [v.camera], [render_memory(memory, v.camera)], reference_views(bank, retrieved),
                             [], voxel)
        frame = next(iter(gen.generate(req)))
        gt = v.image.cpu().numpy()
        rows.append((psnr(frame.color, gt), ssim(frame.color, gt), float(frame.invented.mean())))
        images.append(frame.color)
    return {"psnr": float(np.mean([r[0] for r in rows])), "ssim": float(np.mean([r[1] for r in rows])),
            "per_view_psnr": [r[0] for r in rows], "invented_fraction": [r[2] for r in rows],
            "memory_points": len(memory), "seconds": time.perf_counter() - t0, "images": images}


def oom_check(trainer, device, factor: int = 4, cap_gib: float = 2.0) -> dict:
    """Train from the trained splats repeated ``factor`` times under a memory cap."""
    from dataclasses import replace

    from engine.splat.model import GaussianSplats
    from engine.splat.train import SplatTrainer

    s = trainer.splats()
    rep = lambda a: np.concatenate([a] * factor)  # noqa: E731
    jitter = np.random.default_rng(0).normal(0, 1e-3, (len(s) * factor, 3)).astype(np.float32)
    big = GaussianSplats(rep(s.means) + jitter, rep(s.log_scales), rep(s.quats), rep(s.opacity_logits), rep(s.sh))
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_allocated() + cap_gib * 2**30) / total))
    result = {"start_splats": len(big), "cap_gib": cap_gib}
    try:
        opts = replace(trainer.options, init_opacity=None, max_splats=10**8)
        t = SplatTrainer(big, trainer.train_views, [], opts, device, scene_scale=trainer.scene_scale)
        result["after_init_splats"] = t.num_splats
        for _ in range(20):
            t.train_step()
        result.update(end_splats=t.num_splats, notes=t.notes, ok=True)
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    return result


VARIANTS = {   # DensifyOptions overrides, compared in one process (same data, same compile)
    "default": {},
    "absgrad": {"absgrad": True, "grow_grad2d": 0.0008},
    "grad4": {"grow_grad2d": 0.0004},
    "no_scale_prune": {"prune_scale3d": 1e9},
}


def train_variant(name: str, init, train, test, iterations: int, device, out: Path):
    """Train one variant from the same initial splats; returns (trainer, result row)."""
    from dataclasses import replace

    from engine.splat.strategy import DensifyOptions
    from engine.splat.train import SplatTrainer, TrainOptions

    opts = replace(TrainOptions(iterations=iterations), progress_every=1000,
                   densify=replace(DensifyOptions(), **VARIANTS[name]))
    trainer = SplatTrainer(init, train, test, opts, device)
    t0 = time.perf_counter()
    trainer.render(train[0].camera)          # gsplat JIT compile / warm-up, not timed
    sync(device)
    row = {"variant": name, "overrides": VARIANTS[name], "warmup_s": time.perf_counter() - t0}
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0, curve = time.perf_counter(), []
    for ev in trainer.run(iterations):
        if type(ev).__name__ == "SplatTrainingProgress":
            curve.append((ev.iteration, round(time.perf_counter() - t0, 2), ev.num_splats, round(ev.loss, 4)))
    sync(device)
    row.update(train_s=time.perf_counter() - t0, splats=trainer.num_splats, curve=curve,
               peak_gpu_mib=torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None)
    scores, renders = [], []
    for v in test:
        img = trainer.render(v.camera).color.clamp(0, 1).cpu().numpy()
        gt = v.image.cpu().numpy()
        scores.append((psnr(img, gt), ssim(img, gt)))
        renders.append(img)
    row.update(psnr=float(np.mean([r[0] for r in scores])), ssim=float(np.mean([r[1] for r in scores])),
               per_view_psnr=[r[0] for r in scores])
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}, default=float), flush=True)
    return trainer, row, renders


def ply_check(trainer, camera, device) -> dict:
    """Exported PLY -> independent reader -> gsplat, vs the engine's torch rasterizer (PSNR)."""
    from engine.splat.files import write_splat_ply
    from engine.splat.rasterize_torch import rasterize_torch
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ply = read_ply_independently(write_splat_ply(Path(tmp) / "fern.ply", trainer.splats()))
    ref = gsplat_render_ply(ply, camera, device)
    p = trainer.params
    with torch.no_grad():
        mine = rasterize_torch(p["means"], p["quats"], torch.exp(p["scales"]), torch.sigmoid(p["opacities"]),
                               torch.cat([p["sh0"], p["shN"]], 1), 3,
                               torch.tensor(camera.cam_from_world, dtype=torch.float32, device=device),
                               torch.tensor(camera.K, dtype=torch.float32, device=device), camera.width, camera.height)
    return {"ply_splats": len(ply["x"]), "size": [camera.width, camera.height],
            "psnr_gsplat_ply_vs_torch": psnr(mine.color.clamp(0, 1).cpu().numpy(), ref)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(".data_fern"))
    ap.add_argument("--iterations", type=int, default=7000)
    ap.add_argument("--out", type=Path, default=Path("bench_splat_out"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--variants", default="default", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--no-ibr", action="store_true")
    ap.add_argument("--oom", action="store_true")
    ap.add_argument("--ibr-voxel", type=float, default=0.1)
    ap.add_argument("--scale", type=float, default=1.0, help="train / evaluate at this image scale")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from engine.splat.data import split_views
    from engine.splat.params import splats_from_points

    device = torch.device(args.device)
    bank, xyz, rgb = load_fern(args.data)
    train, test = split_views(bank, device, args.scale, 8)
    init = splats_from_points(xyz, rgb, sh_degree=0, init_opacity=0.1, device=device)
    res = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "torch": torch.__version__,
           "image_size": [train[0].camera.width, train[0].camera.height], "train_views": len(train),
           "held_out_views": [v.name for v in test], "init_splats": len(init), "iterations": args.iterations,
           "variants": []}
    best = None
    for name in args.variants.split(","):
        trainer, row, renders = train_variant(name, init, train, test, args.iterations, device, args.out)
        res["variants"].append(row)
        if best is None or row["psnr"] > best[1]["psnr"]:
            best = (trainer, row, renders)
        else:
            del trainer
    trainer, row, renders = best
    res["best"] = row["variant"]
    panels = [[v.image.cpu().numpy(), r] for v, r in zip(test, renders)]
    try:
        res["ply_check"] = ply_check(trainer, test[0].camera.scaled(0.5), device)
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        res["ply_check"] = {"error": f"{type(exc).__name__}: {exc}"}
    if not args.no_ibr:
        try:
            ibr = run_ibr(trainer, train, test, device, args.ibr_voxel)
            for p, img in zip(panels, ibr.pop("images")):
                p.append(img)
            res["ibr"] = ibr
        except Exception as exc:  # noqa: BLE001
            res["ibr"] = {"error": f"{type(exc).__name__}: {exc}"}
    save_png(args.out / "heldout_gt_splat_ibr.png",
             cv2.resize(np.concatenate([np.concatenate(p, 1) for p in panels], 0), None, fx=0.5, fy=0.5,
                        interpolation=cv2.INTER_AREA))
    if args.oom and device.type == "cuda":
        res["oom"] = oom_check(trainer, device)
    print(json.dumps({k: v for k, v in res.items() if k != "variants"}, default=float), flush=True)
    (args.out / "bench_splat.json").write_text(json.dumps(res, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
