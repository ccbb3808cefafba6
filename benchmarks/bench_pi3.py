"""GPU benchmark of the Pi3 tracking backend at full size with random weights (speed does not
depend on the values): DINOv2 ViT-L/14 encoder, 36-block decoder, three 5-block heads (959M
parameters), bf16 on CUDA, on 100 frames.

A random full-size checkpoint is written in the published layout (fp32 safetensors, 3.8 GB,
like the real file) and loaded through the same code as a user's file (strict key check).
Cases: one forward pass over all frames at once; and the tracking backend as the pipeline
drives it (chunks of 10, 10, 20, 40, 20 keyframes; batches of <= 48 frames led by 8 placed ones).

    python3 benchmarks/bench_pi3.py --frames 100 --width 640 --height 360
Prints a table (seconds, peak GPU memory) and JSON lines to --out.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


@torch.no_grad()
def write_random_checkpoint(root: Path, device) -> Path:
    """Full-size Pi3 with random weights (activations stay finite) -> <root>/Pi3/model.safetensors."""
    from safetensors.torch import save_file

    from engine.tracking.pi3.network import Pi3, Pi3Config

    g = torch.Generator(device).manual_seed(0)
    with torch.device("meta"):
        shapes = {k: (tuple(v.shape), v.dtype) for k, v in Pi3(Pi3Config.full()).state_dict().items()}
    sd = {}
    for k, (shape, _) in shapes.items():
        t = torch.randn(shape, device=device, generator=g)
        if k in ("image_mean", "image_std"):
            continue
        if k.endswith(("norm1.weight", "norm2.weight", "norm.weight", "q_norm.weight", "k_norm.weight")):
            t = 1 + 0.1 * t
        elif k.endswith("gamma"):
            t = 0.1 + 0.01 * t
        elif k.endswith(".bias"):
            t = 0.02 * t
        elif len(shape) >= 2 and k.endswith(".weight"):
            t = t / float(np.prod(shape[1:])) ** 0.5 * (0.05 if k.startswith("point_head") else 1.0)
        else:
            t = 0.02 * t
        sd[k] = t.cpu().contiguous()
    path = root / "Pi3" / "model.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path))
    return path


class _Frame:
    def __init__(self, i, image):
        self.name, self.index, self.image = f"frame_{i:06d}", i, image


def frames(n: int, w: int, h: int) -> list[_Frame]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h // 8, w // 8 + n, 3), dtype=np.uint8)
    import cv2

    big = cv2.resize(base, ((w // 8 + n) * 8, h), interpolation=cv2.INTER_LINEAR)
    return [_Frame(i, np.ascontiguousarray(big[:, i * 8:i * 8 + w])) for i in range(n)]   # a panning camera


def track_video(video: Path, models: Path) -> dict:
    """The whole tracking job (engine.tracking.pipeline) with pose and depth backend 'pi3'.
    Random weights give random cameras, so the step-consistency filter is off (every keyframe
    kept): the row measures time, not quality."""
    from engine.ingest import IngestOptions
    from engine.session import run_job
    from engine.tracking.pipeline import TrackOptions, track_job
    from engine.workflows import Workspace

    opts = TrackOptions(ingest=IngestOptions(max_keyframes=100), pose_backend="pi3", depth_backend="pi3",
                        models_dir=models, steps=None, register_leftovers=False,
                        device="cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = _sync()
    result = run_job(track_job(video, opts), Workspace())
    dt = _sync() - t0
    tm = result.timings
    print(f"track {video.name}: {len(result.registered)} keyframes, {len(result.memory)} memory points; timings "
          + ", ".join(f"{k} {v:.1f}" for k, v in tm.items()))
    return dict(case=f"whole tracking job on {video.name} (ingest + Pi3 + depth fusion)",
                frames=len(result.registered), seconds=dt, first_cameras_s=tm.get("first_geometry_s", float("nan")),
                peak_gib=torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0,
                timings=tm, points=len(result.memory))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--video-only", action="store_true", help="skip the forward-pass and backend cases")
    ap.add_argument("--video", type=Path, default=None,
                    help="also track this video or image folder through the whole pipeline (ingest, Pi3, depth fusion)")
    args = ap.parse_args()
    from engine.tracking.pi3.backend import Pi3PoseBackend
    from engine.tracking.pi3.options import Pi3Options
    from engine.tracking.pi3.predict import cached_model, predict_frames, working_size
    from engine.tracking.pipeline import chunk_bounds

    dev = torch.device("cuda")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = _sync()
        path = write_random_checkpoint(Path(tmp), dev)
        t_write = _sync() - t0
        t0 = _sync()
        model = cached_model(path, dev, torch.bfloat16)
        t_load = _sync() - t0
        n_params = sum(p.numel() for p in model.parameters())
        fr = frames(args.frames, args.width, args.height)
        imgs = [f.image for f in fr]
        ws = working_size(args.width, args.height, Pi3Options().max_pixels)
        predict_frames(model, imgs[:8], Pi3Options().max_pixels, True, torch.bfloat16)      # warm-up
        for label, n in () if args.video_only else (("one pass, all frames", len(imgs)), ("one pass, 48 frames", 48)):
            torch.cuda.reset_peak_memory_stats()
            t0 = _sync()
            preds = predict_frames(model, imgs[:n], Pi3Options().max_pixels, True, torch.bfloat16)
            dt = _sync() - t0
            finite = float(np.mean([np.isfinite(p.depth).mean() for p in preds]))
            rows.append(dict(case=label, frames=n, seconds=dt, peak_gib=torch.cuda.max_memory_allocated() / 2**30,
                             finite_depth=finite))
        for batch in () if args.video_only else (48, 100):
            opts = replace(Pi3Options(), batch=batch)
            torch.cuda.reset_peak_memory_stats()
            t0 = _sync()
            backend = Pi3PoseBackend(path, dev, True, opts)
            first = None
            for a, b in chunk_bounds(len(fr), 10, 40):
                backend.add_frames(fr[a:b])
                result = backend.solve()
                first = first or _sync() - t0
            dt = _sync() - t0
            rows.append(dict(case=f"tracking backend, chunks 10/10/20/40/20, batch {batch} (overlap 8)",
                             frames=len(result.registered), seconds=dt, first_cameras_s=first,
                             peak_gib=torch.cuda.max_memory_allocated() / 2**30))
        if args.video:
            try:
                rows.append(track_video(args.video, Path(tmp)))
            except Exception as exc:   # the table of the cases above still prints
                import traceback

                traceback.print_exc()
                print(f"tracking {args.video} failed: {exc}")
    print(f"Pi3 full size: {n_params / 1e6:.0f}M parameters, bf16; working size {ws[0]}x{ws[1]} "
          f"(frames {args.width}x{args.height}); random checkpoint written in {t_write:.1f} s, "
          f"loaded (strict key check, fp32 file -> bf16 GPU) in {t_load:.1f} s; {torch.cuda.get_device_name()}")
    print("| case | frames | seconds | first cameras s | peak GPU GiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        fc = f"{r['first_cameras_s']:.1f}" if "first_cameras_s" in r else "-"
        print(f"| {r['case']} | {r['frames']} | {r['seconds']:.1f} | {fc} | {r['peak_gib']:.1f} |")
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(dict(r, load_s=t_load, params=n_params, working=ws)) + "\n")


if __name__ == "__main__":
    main()
