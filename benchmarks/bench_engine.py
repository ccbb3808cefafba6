"""Engine throughput: memory insert, point rendering, IBR generation (prints a table).

    python benchmarks/bench_engine.py [--device cpu|cuda] [--quick]

Rows: memory insert (points/s), render at 896×512 from 1M and 5M points (frames/s),
IBR generation with 4 references (frames/s, and the time of a 40-frame segment), each with
the process's peak RSS and (on CUDA) the stage's peak allocated GPU memory.
Absolute numbers depend on the machine; compare rows of one run.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.device import configure_cpu_threads  # noqa: E402
from engine.generate.ibr import IBRGenerator  # noqa: E402
from engine.generate.protocol import ReferenceView, SegmentRequest  # noqa: E402
from engine.geometry import se3  # noqa: E402
from engine.memory import GeometryMemory  # noqa: E402
from engine.render.points import render_memory, render_points  # noqa: E402
from engine.synthetic import demo_capture_cameras, make_demo_scene  # noqa: E402

W, H = 896, 512


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Stage:
    def __init__(self, device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        sync(self.device)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.seconds = time.perf_counter() - self.t0
        self.gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if self.device.type == "cuda" else float("nan")
        self.rss_mb = peak_rss_mb()


def surface_points(scene, n, device):
    xyz, _ = scene.sample_surface(n, seed=1)
    rgb = np.random.default_rng(0).random((n, 3))
    return (torch.as_tensor(xyz, dtype=torch.float32, device=device),
            torch.as_tensor(rgb, dtype=torch.float32, device=device))


def bench_insert(scene, cams, device, rows):
    frames = [scene.render(c) for c in cams]
    mem = GeometryMemory(0.01, device=device)
    total = 0
    with Stage(device) as st:
        for i, (c, f) in enumerate(zip(cams, frames)):
            depth = np.where(np.isfinite(f.depth), f.depth, 0).astype(np.float32)
            mem.insert_depth(c, depth, f.rgb, view=i)
            total += int((depth > 0).sum())
    rows.append((f"memory insert ({len(cams)} depth maps {cams[0].width}x{cams[0].height}, voxel 1 cm)",
                 f"{total / st.seconds / 1e6:.2f} M points/s", f"{len(mem):,} points kept", st))
    return mem, frames


def bench_render(scene, cam, device, n, rows, repeats):
    xyz, rgb = surface_points(scene, n, device)
    render_points(xyz, rgb, cam, 0.01)
    with Stage(device) as st:
        for _ in range(repeats):
            render_points(xyz, rgb, cam, 0.01)
    rows.append((f"render {n / 1e6:.0f}M points at {W}x{H}", f"{repeats / st.seconds:.1f} frames/s",
                 f"{st.seconds / repeats * 1000:.1f} ms/frame", st))


def bench_ibr(scene, cams, frames, mem, device, rows, n_frames):
    refs = [ReferenceView(i, c, f.rgb.astype(np.float32), np.where(np.isfinite(f.depth), f.depth, 0).astype(np.float32))
            for i, (c, f) in enumerate(zip(cams[:4], frames[:4]))]
    targets = []
    for i in range(n_frames):
        a = cams[1].world_from_cam
        rot = a[:3, :3] @ se3.so3_exp([0.0, np.radians(-10 + 20 * i / max(1, n_frames - 1)), 0.0])
        targets.append(cams[1].with_pose(se3.make_transform(rot, a[:3, 3] + [0, -0.1, 0.2])))
    gen = IBRGenerator(device=device)
    warm = SegmentRequest(0, targets[:1], [render_memory(mem, targets[0])], refs, [], mem.voxel_size)
    list(gen.generate(warm))
    with Stage(device) as st:
        guidance = [render_memory(mem, t) for t in targets]
        request = SegmentRequest(0, targets, guidance, refs, [], mem.voxel_size)
        out = list(gen.generate(request))
    rows.append((f"IBR segment, 4 references, {len(out)} frames at {W}x{H}", f"{len(out) / st.seconds:.1f} frames/s",
                 f"{st.seconds:.2f} s for {len(out)} frames", st))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repeats / frames")
    args = parser.parse_args()
    threads = configure_cpu_threads()
    device = torch.device(args.device)
    scene = make_demo_scene(0)
    cams = demo_capture_cameras(scene, n=8, width=W, height=H)
    rows: list = []
    mem, frames = bench_insert(scene, cams, device, rows)
    repeats = 5 if (args.quick or device.type == "cpu") else 200
    for n in (1_000_000, 5_000_000):
        bench_render(scene, cams[3], device, n, rows, repeats)
    bench_ibr(scene, cams, frames, mem, device, rows, 40 if device.type == "cuda" else (3 if args.quick else 8))
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# engine benchmark on {device.type} ({name}), torch {torch.__version__}, {threads} CPU threads, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"| {'stage':<58} | {'throughput':>18} | {'detail':>24} | {'peak RSS MB':>11} | {'peak GPU MB':>11} |")
    print(f"|{'-' * 60}|{'-' * 20}|{'-' * 26}|{'-' * 13}|{'-' * 13}|")
    for label, thr, detail, st in rows:
        print(f"| {label:<58} | {thr:>18} | {detail:>24} | {st.rss_mb:>11.0f} | {st.gpu_mb:>11.0f} |")


if __name__ == "__main__":
    main()
