"""GPU benchmark of the anyrecon generator at full size with random bf16 weights (speed does
not depend on the values): Wan2.1-I2V-14B DiT (40 layers, dim 5120), the Wan VAE (base 96),
the ViT-H CLIP tower, one segment at 896x512, 4 flow-matching steps, per-frame VAE.

The DiT is built on the meta device, then ``to_empty`` in bf16 on the GPU and initialised
there (no 56 GB fp32 CPU init).

    python3 benchmarks/bench_anyrecon.py --frames 45 --attention native cudnn --compile
Prints one table row per case (seconds per stage, peak GPU memory) and JSON lines to --out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch


def _sync():
    torch.cuda.synchronize()
    return time.perf_counter()


@torch.no_grad()
def build(device):
    from diffusers import AutoencoderKLWan

    from engine.generate.anyrecon import weights as W
    from engine.generate.anyrecon.encoders import ClipVision, random_clip_visual_state

    t0 = _sync()
    dit = W.build_transformer(None, device, torch.bfloat16, config=W.FULL_DIT_CONFIG)
    g = torch.Generator(device).manual_seed(0)
    for name, p in dit.named_parameters():
        if p.ndim >= 2 or "scale_shift_table" in name:
            p.normal_(0.0, 0.02, generator=g)
        elif name.endswith("weight"):
            p.fill_(1.0)
        else:
            p.zero_()
    n_params = sum(p.numel() for p in dit.parameters())
    with torch.device(device):
        vae = AutoencoderKLWan().eval().requires_grad_(False)
    clip = ClipVision(random_clip_visual_state(1280, 32, 14, 224, generator=g, device=device))
    text = torch.randn(1, 4096, device=device)
    return dit, vae, clip, text, n_params, _sync() - t0


def request(n_frames: int, n_refs: int, n_context: int, width: int, height: int, device):
    from engine.generate.protocol import GeneratedFrame, ReferenceView, SegmentRequest
    from engine.geometry import Camera
    from engine.render.points import RenderResult

    cam = Camera(np.array([[500.0, 0, width / 2], [0, 500.0, height / 2], [0, 0, 1]]), width, height)
    rng = np.random.default_rng(0)
    img = lambda: rng.random((height, width, 3), dtype=np.float32)
    refs = [ReferenceView(i, cam, img(), None) for i in range(n_refs)]
    ctx = [GeneratedFrame(cam, img(), np.ones((height, width), np.float32), np.ones((height, width), np.float32),
                          np.zeros((height, width), bool)) for _ in range(n_context)]
    n_targets = n_frames - n_refs - n_context
    guides = []
    for i in range(n_targets):
        mask = torch.ones(height, width, dtype=torch.bool, device=device)
        mask[:, width * 3 // 4:] = False
        full = lambda v, dt: torch.full((height, width), v, dtype=dt, device=device)
        guides.append(RenderResult(torch.rand(height, width, 3, device=device), full(2.0, torch.float32), mask,
                                   full(-1, torch.int32), full(-1, torch.int64), full(0.8, torch.float32),
                                   full(-1, torch.int32)))
    return SegmentRequest(0, [cam] * n_targets, guides, refs, ctx)


def run_case(gen, frames, refs, ctx, backend, width, height, device):
    req = request(frames, refs, ctx, width, height, device)
    gen.options = dataclasses.replace(gen.options, attention=backend)   # DiT attention kernel only
    torch.cuda.reset_peak_memory_stats()
    t0 = _sync()
    pixels, masks, n_prefix = gen.build_condition(req)
    cond = gen._encode(pixels)
    t1 = _sync()
    lat = gen.sample(cond, masks, (pixels[0] + 1) / 2)
    t2 = _sync()
    images = gen._decode(lat[n_prefix:])
    t3 = _sync()
    out = [gen._frame(c, images[i], req.guidance[i]) for i, c in enumerate(req.targets)]
    t4 = _sync()
    assert len(out) == frames - refs - ctx and cond.shape[0] == frames
    return {"frames": frames, "targets": len(out), "attention": backend, "condition_encode_s": t1 - t0,
            "sample_4_steps_s": t2 - t1, "decode_s": t3 - t2, "frames_out_s": t4 - t3, "total_s": t4 - t0,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            "tokens": int(frames * (height // 16) * (width // 16))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, nargs="+", default=[45])
    ap.add_argument("--refs", type=int, default=3)
    ap.add_argument("--context", type=int, default=2)
    ap.add_argument("--attention", nargs="+", default=["default"], choices=["default", "cudnn", "flash"])
    ap.add_argument("--compile", action="store_true", help="also run with torch.compile'd DiT blocks")
    ap.add_argument("--offload", action="store_true", help="also run with model CPU offload of the DiT")
    ap.add_argument("--width", type=int, default=896)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from engine.generate.anyrecon import AnyReconGenerator, AnyReconOptions

    device = torch.device("cuda")
    dit, vae, clip, text, n_params, t_build = build(device)
    print(f"{torch.cuda.get_device_name()}  torch {torch.__version__}  DiT {n_params / 1e9:.2f} B params bf16, "
          f"built in {t_build:.1f} s, {torch.cuda.memory_allocated() / 2**30:.1f} GiB", flush=True)
    opts = AnyReconOptions(width=args.width, height=args.height)
    gen = AnyReconGenerator.from_modules(opts, dit, vae, clip, text, device)
    rows = []

    def record(row, label):
        row["case"] = label
        rows.append(row)
        print(f"{label:28s} frames {row['frames']:3d} ({row['tokens']} tokens)  cond+enc {row['condition_encode_s']:6.1f} s  "
              f"4 steps {row['sample_4_steps_s']:6.1f} s  decode {row['decode_s']:5.1f} s  total {row['total_s']:6.1f} s  "
              f"peak {row['peak_gib']:5.1f} GiB", flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")

    # warm-up (kernels, cuDNN plans, allocator): a short segment
    record(run_case(gen, 8, args.refs, args.context, args.attention[0], args.width, args.height, device), "warm-up")
    for backend in args.attention:
        for frames in args.frames:
            record(run_case(gen, frames, args.refs, args.context, backend, args.width, args.height, device),
                   f"eager/{backend}")
    best = min((r for r in rows if r["case"] != "warm-up"), key=lambda r: r["total_s"])["attention"]
    if args.compile:
        for block in dit.blocks:
            block.compile()
        for label in ("compile (incl. compiling)", "compiled"):
            record(run_case(gen, args.frames[0], args.refs, args.context, best, args.width, args.height, device),
                   f"{label}/{best}")
    if args.offload:
        gen.enable_offload()            # DiT weights in pinned CPU memory, uploaded per segment
        torch.cuda.empty_cache()
        record(run_case(gen, args.frames[0], args.refs, args.context, best, args.width, args.height, device),
               f"offload/{best}")


if __name__ == "__main__":
    main()
