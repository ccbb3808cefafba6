"""CPU cost and look of the PatchMatch fill (engine/generate/fill.py), two fill variants on the
same inputs: the surface generator flies a 640x360 path of bench_real_views.py (one segment,
fused, as its path rows), every frame's fill inputs (colour, holes, depth, camera, the scene's
up) are recorded, and each frame's fill is replayed with both variants, interleaved, ``--repeats``
times (the minimum of the process CPU seconds is kept: the machine is shared).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_fill.py --scene livingroom-complete --path beyond
        [--frames 8] [--a guide_weight=0.0] [--b ""] [--repeats 3] [--sheet DIR]

``--a`` / ``--b``: FillOptions overrides (``key=value;key=value``) of the two variants (default:
the structure guide off / the defaults). ``--sheet DIR`` writes ``{scene}_{path}_fill.png``: per
frame with holes, the fill's input (holes black) | variant a | variant b, the holes' share and
the CPU seconds printed on each.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _overrides(spec: str) -> dict:
    from bench_real_views import parse_generator

    return parse_generator("x:" + spec)[1]


def record_fills(scene, path: list) -> list[dict]:
    """Fly ``path`` with the surface generator (one segment, fused); the inputs of every
    fill_holes call, per frame ({} where the frame had no holes)."""
    import engine.generate.surface as surface
    from bench_real_views import _clone_memory, make_bench_generator
    from engine.events import FrameGenerated
    from engine.generate.loop import LoopOptions, generate_path

    gen = make_bench_generator("surface")
    calls: list[dict] = []
    orig = surface.fill_holes

    def spy(color, holes, depth=None, options=None, camera=None, up=None):
        calls[-1].update(color=np.array(color), holes=np.array(holes), depth=None if depth is None else np.array(depth),
                         camera=camera, up=None if up is None else np.array(up))
        return orig(color, holes, depth, options, camera=camera, up=up)

    render = gen.render_frame

    def frame(*a, **k):
        calls.append({})
        return render(*a, **k)

    surface.fill_holes, gen.render_frame = spy, frame
    try:
        n = 0
        for e in generate_path(_clone_memory(scene.memory), scene.views, path, gen,
                               LoopOptions(segment_length=len(path), fuse_generated=True)):
            n += isinstance(e, FrameGenerated)
    finally:
        surface.fill_holes = orig
    return calls[:n]


def main(argv=None) -> None:
    import cv2

    import bench_real_views as B
    from engine.device import configure_cpu_threads
    from engine.generate.fill import FillOptions, fill_holes

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default="livingroom-complete")
    ap.add_argument("--path", default="beyond", choices=["beyond", "orbit"])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--a", default="guide_weight=0.0")
    ap.add_argument("--b", default="")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/real"))
    args = ap.parse_args(argv)
    configure_cpu_threads()
    name = args.scene
    if name == "fern":
        scene = B.fern_scene(args.data)
    elif name in B.TRACKED:
        scene = B.tracked_scene(name, args.data, 640)
    else:
        scene = B.redepth_scene(name, args.data, 640)
    path = (B.beyond_cameras(scene, args.frames) if args.path == "beyond"
            else B._preset_cameras(scene, "orbit", args.frames))
    calls = record_fills(scene, path)
    variants = {"a": replace(FillOptions(), **_overrides(args.a)), "b": replace(FillOptions(), **_overrides(args.b))}
    cpu = {k: [] for k in variants}
    tiles = []
    for i, c in enumerate(calls):
        if not c:
            for k in cpu:
                cpu[k].append(0.0)
            continue
        best, out = {k: float("inf") for k in variants}, {}
        for _ in range(args.repeats):
            for k, opt in variants.items():
                t0 = time.process_time()
                out[k] = fill_holes(c["color"], c["holes"], c["depth"], opt, camera=c["camera"], up=c["up"]).color
                best[k] = min(best[k], time.process_time() - t0)
        for k in cpu:
            cpu[k].append(best[k])
        if args.sheet is not None:
            row = []
            for label, img in (("input", np.where(c["holes"][..., None], 0.0, c["color"])), ("a", out["a"]), ("b", out["b"])):
                im = np.ascontiguousarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
                text = f"f{i} {label} holes {100 * c['holes'].mean():.1f}%" + (
                    f" {best[label]:.2f}s" if label in best else "")
                cv2.putText(im, text, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 0, 0), 2)
                row.append(im)
            tiles.append(np.concatenate(row, 1))
    print(f"\n# fill CPU s per frame (process CPU, min of {args.repeats}, interleaved), {name} {args.path}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"a = {args.a or 'defaults'}; b = {args.b or 'defaults'}")
    print("| frame | holes % | a s | b s | b / a |")
    print("|---|---|---|---|---|")
    for i, c in enumerate(calls):
        h = 100 * float(c["holes"].mean()) if c else 0.0
        ratio = cpu["b"][i] / cpu["a"][i] if cpu["a"][i] > 0 else float("nan")
        print(f"| {i} | {h:.1f} | {cpu['a'][i]:.3f} | {cpu['b'][i]:.3f} | {ratio:.2f} |")
    ta, tb = sum(cpu["a"]), sum(cpu["b"])
    print(f"| all | | {ta:.3f} | {tb:.3f} | {tb / ta if ta else float('nan'):.2f} |")
    if args.sheet is not None and tiles:
        args.sheet.mkdir(parents=True, exist_ok=True)
        out_png = args.sheet / f"{name}_{args.path}_fill.png"
        cv2.imwrite(str(out_png), np.concatenate(tiles, 0)[..., ::-1])
        print("sheet", out_png)


if __name__ == "__main__":
    main()
