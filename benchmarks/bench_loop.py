"""Generation quality and the closed loop on the synthetic scene (prints a table).

    .venv/bin/python benchmarks/bench_loop.py

Rows: PSNR at held-out novel poses for the IBR generator, the raw memory render and a warp of
the single nearest view; agreement (PSNR) of a returning view with what an earlier segment
invented, with the loop closed and with fusion off; memory points after 40 and 400 frames
over one region. Same fixtures as tests/generate (the tests assert the orderings).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.events import FrameGenerated  # noqa: E402
from engine.generate.ibr import IBRGenerator, _warp_source, warp_single_view  # noqa: E402
from engine.generate.loop import LoopOptions, generate_path  # noqa: E402
from engine.generate.protocol import ReferenceView  # noqa: E402
from engine.metrics import psnr  # noqa: E402
from engine.render.points import render_memory, render_points  # noqa: E402
from engine.render.retrieval import nearest_camera_views  # noqa: E402
from tests.conftest import between_poses, make_capture  # noqa: E402
from tests.generate.test_loop import _yaw  # noqa: E402


def frames(mem, views, cams, options):
    return {e.frame_index: e.frame for e in generate_path(mem, views, cams, IBRGenerator(device="cpu"), options)
            if isinstance(e, FrameGenerated)}


def novel_pose_psnr(cap):
    targets = between_poses(cap.cameras)
    gen = frames(cap.memory(0.03), cap.views, targets, LoopOptions(segment_length=6))
    ref_mem = cap.memory(0.03)
    rows = {"IBR generator": [], "memory render": [], "nearest view warped": []}
    for i, cam in enumerate(targets):
        gt = cap.scene.render(cam).rgb
        n = nearest_camera_views(cap.views, cam, 1)[0]
        v = cap.views[n]
        rows["IBR generator"].append(psnr(gen[i].color, gt))
        rows["memory render"].append(psnr(render_memory(ref_mem, cam).numpy().color, gt))
        rows["nearest view warped"].append(psnr(warp_single_view(ReferenceView(n, v.camera, v.image_float(), v.depth), cam).color, gt))
    return {k: float(np.mean(v)) for k, v in rows.items()}


def loop_agreement(cap, fuse):
    base = cap.cameras[0]
    cams = [_yaw(base, 50 + 2 * i) for i in range(4)] + [cap.cameras[6]] * 4 + \
        [_yaw(base, 45 + 2 * i, shift=(0.0, -0.4, -0.6)) for i in range(4)]
    out = frames(cap.memory(0.03), cap.views, cams, LoopOptions(segment_length=4, fuse_generated=fuse))
    scores = []
    for j in range(8, 12):
        src = out[j - 8]
        ws = _warp_source(src.camera, src.color, src.depth, 1.0, "cpu", 0.8, invented=src.invented)
        r = render_points(ws.xyz, ws.rgb, cams[j], ws.radius).numpy()
        inv = ws.invented.numpy()[np.maximum(r.point_index, 0)] & r.mask
        if inv.sum() > 50:
            scores.append(psnr(out[j].color, r.color, mask=inv))
    return float(np.mean(scores))


def growth(cap):
    def pose(i):
        sweep, k = divmod(i, 40)
        return _yaw(cap.cameras[(k * 11) // 39].scaled(0.25), 40 * np.sin(k / 6.0 + sweep),
                    shift=(0.01 * np.sin(sweep), 0.0, 0.0))
    mem, counts, done = cap.memory(0.15), {}, 0
    for e in generate_path(mem, cap.views, [pose(i) for i in range(400)], IBRGenerator(device="cpu"),
                           LoopOptions(segment_length=40)):
        if isinstance(e, FrameGenerated):
            done += 1
            if done in (40, 400):
                counts[done] = len(mem)
    return counts


def main() -> None:
    t0 = time.perf_counter()
    cap = make_capture()
    print(f"# closed-loop benchmark, synthetic scene 160x90, 12 captured views, {time.strftime('%Y-%m-%d')}")
    print("| measure | value |\n|---|---|")
    for name, value in novel_pose_psnr(cap).items():
        print(f"| held-out novel poses, PSNR, {name} | {value:.2f} dB |")
    print(f"| returning view vs earlier invention, loop closed | {loop_agreement(cap, True):.2f} dB |")
    print(f"| returning view vs earlier invention, fusion off | {loop_agreement(cap, False):.2f} dB |")
    c = growth(cap)
    print(f"| memory points after 40 / 400 frames over one region | {c[40]:,} / {c[400]:,} ({c[400] / c[40]:.2f}x) |")
    print(f"| wall time | {time.perf_counter() - t0:.0f} s |")


if __name__ == "__main__":
    main()
