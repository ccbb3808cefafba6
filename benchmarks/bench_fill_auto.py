"""Replay bench of ``auto``'s fills (engine/generate/auto.py ``AutoGenerator._fill`` on the GPU
path): per fill its latency (wall) and thread CPU (``time.thread_time``), where the time goes,
alone and with ``--threads`` fills at once (the fill pool of ``fill_lag + 1`` threads), two
variants on the same inputs, and a contact sheet of the filled frame edges.

Alone, the CPU is the process's (a split's worker threads included); at once, the fill's
own thread's (``time.thread_time``: without the split's workers; ``ANYRECON_CPU_SPLIT=1`` runs
every fill on its one thread).

Inputs: the ``*.npz`` files of ``--inputs`` (fills recorded on the real GPU path, see
:func:`recorded_inputs`) when there are any, else ``--frames`` synthetic auto-like fills: fern's
images (images_4, resized to 896x512) with thin strips at the left / right frame edges (the
edges the splats have not learned: 0-60 px wide, ragged inner edges, a few specks) and a few
small blobs, a smooth depth plane (or none, ``--no-depth``), seeded (same inputs every run).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_fill_auto.py [--a "fill_mode=old"] [--b ""]
        [--frames 12] [--repeats 3] [--threads 4] [--stages] [--sheet DIR] [--inputs DIR]

``--a`` / ``--b``: overrides (``key=value;key=value``) of the ``FillOptions`` that auto's fill
uses (``AutoGenerator.fill_options`` of the default options); auto's fill before fill-s26:
``--a "boxes=frame;hole_work_pixels=0;band_rows=0;threads=0"``.
"""
from __future__ import annotations

import argparse
import glob
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

W, H = 896, 512


def _parse(spec: str) -> dict:
    """``key=value;key=value`` FillOptions overrides (the benches' one parser)."""
    from benchmarks.bench_real_views import parse_generator

    return parse_generator("x:" + spec)[1]


def _camera(w: int, h: int, yaw_deg: float = 0.0):
    f = 0.8 * w
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], np.float64)
    a = np.radians(yaw_deg)
    wfc = np.eye(4)
    wfc[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    return SimpleNamespace(K=K, world_from_cam=wfc, width=w, height=h)


def _ragged(rng, mean: float, h: int) -> np.ndarray:
    """Per-row strip width [h] (pixels): ``mean`` with a slow wave and a few px of jitter."""
    y = np.arange(h)
    wave = 0.45 * mean * np.sin(2 * np.pi * (y / h * rng.uniform(0.7, 2.0) + rng.uniform()))
    jitter = np.convolve(rng.normal(0, 2.5, h + 8), np.ones(5) / 5, "same")[4:h + 4]
    return np.clip(mean + wave + jitter, 0, None)


def synthetic_inputs(n: int, data: Path, depth: bool = True, seed: int = 0) -> list[dict]:
    """``n`` auto-like fills on fern's images (see module docstring)."""
    import cv2

    files = sorted(glob.glob(str(data / "llff_fern" / "images_4" / "*.png")))
    rng = np.random.default_rng(seed)
    # strip widths (mean px) left / right: narrow most of the time, a wide one now and then
    # (the frames right after a turn), 0 = none on that side
    # (about 1.5% of the frame on average, as measured on the GPU path: 1.4%)
    widths = [(6, 4), (24, 6), (8, 0), (3, 12), (10, 5), (40, 4), (0, 6), (5, 14), (9, 9), (4, 3),
              (14, 0), (2, 30)]
    out = []
    for i in range(n):
        img = cv2.imread(files[i % len(files)])[..., ::-1]
        img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        holes = np.zeros((H, W), bool)
        left, right = widths[i % len(widths)]
        cols = np.arange(W)[None, :]
        for mean, side in ((left, "l"), (right, "r")):
            if mean <= 0:
                continue
            wd = _ragged(rng, mean, H)[:, None]
            holes |= (cols < wd) if side == "l" else (cols >= W - wd)
            # specks near the strip's inner edge (the splats' ragged silhouette)
            for _ in range(int(rng.integers(5, 20))):
                y = int(rng.integers(0, H))
                x0 = int(wd[y, 0]) + int(rng.integers(1, 12))
                x = x0 if side == "l" else W - 1 - x0
                holes[max(0, y - 1):y + 2, max(0, x - 1):x + 2] = True
        for _ in range(int(rng.integers(1, 4))):      # small blobs inside the frame
            cy, cx = int(rng.integers(40, H - 40)), int(rng.integers(80, W - 80))
            r = int(rng.integers(3, 12))
            cv2.ellipse(holes.view(np.uint8), (cx, cy), (r, int(r * rng.uniform(0.5, 1.5))),
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)
        d = None
        if depth:
            yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
            d = (3.0 + 0.8 * yy / H + 0.3 * xx / W).astype(np.float32)
        out.append(dict(color=img, holes=holes, depth=d, camera=_camera(W, H, 3.0 * i), up=np.array([0, -1.0, 0]),
                        name=f"syn{i}"))
    return out


def recorded_inputs(folder: Path) -> list[dict]:
    """The fills recorded on the GPU path (``folder``'s README.md: keys ``<frame>_<name>`` per
    npz, colour uint8, holes packed bits, depth float16 (0: none), K, wfc, up, few)."""
    out = []
    for f in sorted(folder.glob("*.npz")):
        z = np.load(f, allow_pickle=False)
        for fr in sorted({int(k.split("_")[0]) for k in z.files}):
            g = lambda name: z[f"{fr}_{name}"]  # noqa: E731
            h, w = (int(v) for v in g("shape"))
            cam = SimpleNamespace(K=np.asarray(g("K"), np.float64), world_from_cam=np.asarray(g("wfc"), np.float64),
                                  width=w, height=h)
            out.append(dict(color=g("color").astype(np.float32) / 255.0,
                            holes=np.unpackbits(g("holes"))[:h * w].reshape(h, w).astype(bool),
                            depth=g("depth").astype(np.float32), camera=cam, up=np.asarray(g("up"), np.float64),
                            few=bool(g("few")), name=f"f{fr}", device_wall=float(g("wall"))))
    out.sort(key=lambda c: int(c["name"][1:]))
    return out


class StageTimer:
    """Thread CPU seconds per stage of engine.generate.fill (its functions wrapped), per thread."""

    NAMES = ("_hole_boxes", "source_exclusion", "elevation_guide", "_pm_call", "_telea", "unfilled_sentinel")

    def __init__(self):
        import engine.generate.fill as fill

        self.fill = fill
        self.local = threading.local()
        self.orig = {n: getattr(fill, n) for n in self.NAMES if hasattr(fill, n)}
        for n, fn in self.orig.items():
            setattr(fill, n, self._wrap(n, fn))

    def _wrap(self, name, fn):
        def timed(*a, **k):
            t0 = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                acc = getattr(self.local, "acc", None)
                if acc is not None:
                    acc[name] += time.thread_time() - t0
        return timed

    def start(self):
        self.local.acc = defaultdict(float)

    def take(self) -> dict:
        acc, self.local.acc = self.local.acc, None
        return dict(acc)

    def close(self):
        for n, fn in self.orig.items():
            setattr(self.fill, n, fn)


def _fill(c, opts, timer=None, clock=time.thread_time):
    from engine.generate.fill import fill_holes

    if timer is not None:
        timer.start()
    from engine import cpu_split

    if c.get("few"):
        opts = replace(opts, method="telea")      # as AutoGenerator.fill_options(few=True)
    w0, c0, t0, s0 = time.perf_counter(), clock(), time.thread_time(), cpu_split.wait_cpu_seconds()
    out = fill_holes(c["color"], c["holes"], c["depth"], opts, camera=c["camera"], up=c["up"]).color
    wall, cpu = time.perf_counter() - w0, clock() - c0
    # the latency with a free core per thread: this thread's CPU + what a split's worker outlasted it by
    free = time.thread_time() - t0 + cpu_split.wait_cpu_seconds() - s0
    return out, wall, cpu, (timer.take() if timer is not None else {}), free


def _stats(xs) -> str:
    xs = np.asarray(xs) * 1000
    return f"{np.median(xs):.0f} / {np.percentile(xs, 90):.0f} / {xs.max():.0f}"


def main(argv=None) -> None:
    import cv2

    from engine.device import configure_cpu_threads
    from engine.generate.auto import AutoGenerator, AutoGeneratorOptions

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", default="")
    ap.add_argument("--b", default="")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--stages", action="store_true", help="time the stages (alone only)")
    ap.add_argument("--no-depth", action="store_true")
    ap.add_argument("--synthetic", action="store_true", help="the synthetic inputs even when recorded ones exist")
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--inputs", type=Path, default=Path("/work/helpers/fill-inputs"))
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/real"))
    args = ap.parse_args(argv)
    configure_cpu_threads()
    calls = recorded_inputs(args.inputs) if args.inputs.is_dir() and not args.synthetic else []
    source = f"recorded {args.inputs}" if calls else "synthetic fern"
    if not calls:
        calls = synthetic_inputs(args.frames, args.data, depth=not args.no_depth)
    base = AutoGenerator.fill_options(AutoGeneratorOptions())
    variants = {"a": replace(base, **_parse(args.a)), "b": replace(base, **_parse(args.b))}
    timer = StageTimer() if args.stages else None
    for opt in variants.values():        # warm-up: the first fill of a process pays the loads
        _fill(calls[0], opt)
    alone = {k: defaultdict(list) for k in variants}
    stages = {k: defaultdict(float) for k in variants}
    outs = {}
    for _ in range(args.repeats):
        for i, c in enumerate(calls):
            for k, opt in variants.items():
                out, wall, cpu, st, free = _fill(c, opt, timer, time.process_time)
                alone[k]["wall"].append(wall)
                alone[k]["cpu"].append(cpu)
                alone[k]["free"].append(free)
                for s, v in st.items():
                    stages[k][s] += v / args.repeats
                if k in outs and (i, k) in outs:
                    assert np.array_equal(outs[(i, k)], out), f"fill {i} variant {k} not deterministic"
                outs[(i, k)] = out
    if timer is not None:
        timer.close()
    together = {}
    for k, opt in variants.items():
        res = together[k] = defaultdict(lambda: [0.0])
        if args.threads < 1:      # --threads 0: alone only
            continue
        with ThreadPoolExecutor(args.threads) as pool:
            for _ in range(args.repeats):
                for (out, wall, cpu, _, _), i in zip(pool.map(lambda c: _fill(c, opt), calls), range(len(calls))):
                    res["wall"].append(wall)
                    res["cpu"].append(cpu)
                    assert np.array_equal(outs[(i, k)], out), f"fill {i} variant {k} differs on {args.threads} threads"
    share = [100 * float(c["holes"].mean()) for c in calls]
    print(f"\n# auto fill replay ({source}, {len(calls)} fills, holes {min(share):.1f}-{max(share):.1f}% "
          f"mean {np.mean(share):.2f}%), {args.repeats} repeats, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"a = {args.a or 'defaults'}; b = {args.b or 'defaults'}")
    print(f"| variant | alone wall ms med / p90 / max | alone CPU ms med / p90 / max | alone, a free core per "
          f"thread: latency ms med / p90 / max | {args.threads} at once wall med / p90 / max | {args.threads} at once "
          "CPU med / p90 / max |")
    print("|---|---|---|---|---|---|")
    for k in variants:
        print(f"| {k} | {_stats(alone[k]['wall'])} | {_stats(alone[k]['cpu'])} | {_stats(alone[k]['free'])} | "
              f"{_stats(together[k]['wall'])} | {_stats(together[k]['cpu'])} |")
    if timer is not None:
        print("\nthread CPU ms per fill by stage (alone; _pm_call includes the Telea of what it left):")
        for k in variants:
            n = len(calls)
            print(f"  {k}: " + ", ".join(f"{s} {1000 * v / n:.1f}" for s, v in sorted(stages[k].items())))
    print("\nper fill (alone, median wall ms; device: the recorded fill's wall there): " + ", ".join(
        f"{c['name']} {share[i]:.1f}%" + (f" device {1000 * c['device_wall']:.0f}" if "device_wall" in c else "")
        + f" a {1000 * np.median(alone['a']['wall'][i::len(calls)]):.0f} "
        f"b {1000 * np.median(alone['b']['wall'][i::len(calls)]):.0f}" for i, c in enumerate(calls)))
    print("per fill (alone, a free core per thread: median latency ms): " + ", ".join(
        f"{c['name']} a {1000 * np.median(alone['a']['free'][i::len(calls)]):.0f} "
        f"b {1000 * np.median(alone['b']['free'][i::len(calls)]):.0f}" for i, c in enumerate(calls)))
    if args.sheet is not None:
        edge = 160
        rows = []
        for i, c in enumerate(calls):
            inp = np.where(c["holes"][..., None], 0.0, c["color"])
            tiles = []
            for sl in (slice(0, edge), slice(W - edge, W)):
                for label, img in (("in", inp), ("a", outs[(i, "a")]), ("b", outs[(i, "b")])):
                    t = np.ascontiguousarray((np.clip(img[:, sl], 0, 1) * 255).astype(np.uint8))
                    cv2.putText(t, f"{i}{label}", (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 0, 0), 2)
                    tiles.append(t)
                tiles.append(np.full((img.shape[0], 6, 3), 255, np.uint8))
            rows.append(np.concatenate(tiles, 1))
        args.sheet.mkdir(parents=True, exist_ok=True)
        for j in range(0, len(rows), 4):
            p = args.sheet / f"auto_fill_{j // 4}.png"
            cv2.imwrite(str(p), np.concatenate(rows[j:j + 4], 0)[..., ::-1])
            print("sheet", p)


if __name__ == "__main__":
    main()
