"""Aten ops (and host syncs) per frame of a Generate segment with ``auto`` on its splat path:
the proxy for the GPU's launch-bound engine thread (each aten op is one kernel launch or more
there), measured on the CPU.

Runs the app's Generate workflow as ``bench_real_views.speed_segment`` does (``make_preset
("through", ...)``, ``generate_job``, ``run_job``) on a project with trained splats, with
``AutoGeneratorOptions(splats="always")`` (the splat path on the CPU too) and no splat training
(``iterations_per_segment=0, learn_from_generated=False``: the training runs on its own thread
on the GPU and would make the runs differ). Each run reloads the project (the fuse grows the
memory). Prints:

- ops per frame per stage, the top ops per stage and the host syncs per frame
  (benchmarks.speed_stages.OpCounter; the engine thread only);
- CPU ms per frame (wall of the job / frames, and the engine thread's CPU time), ``--repeats``
  runs without the counter;
- with ``--save REF.npz`` the frames (each frame before its fill: colour, depth, confidence,
  invented, holes; and the filled colour) and the memory after the fuse; with ``--compare
  REF.npz`` the max abs differences and mask mismatches against a saved run.

    PYTHONPATH=$PWD python benchmarks/bench_ops.py --project .devdata/fern --width 448 --height 256 \
        --frames 10 [--save ref.npz | --compare ref.npz] [--repeats 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class GpuBranches:
    """Context manager: the engine's device-dependent branches take their CUDA side on the CPU
    (``torch.Tensor.is_cuda`` reads True, ``engine.cpu_split`` splits nothing), so the ops
    counted are those a GPU launches: the CPU-only offset loops (``count_neighbours_below``,
    the footprint loop of ``splat_keys``), the pixel selections of ``_sample_where`` and the
    fallback blend, and the sort network of ``_kth_smallest`` give way to the unfolds, windows,
    whole-frame passes and sort of the GPU path. Branches on ``device.type`` stay on their CPU
    side (OpenCV's ``max_filter`` / ``box_mean``: 1-2 ops each on a GPU, none counted here; the
    splat render, which is gsplat there). The frames are those of the GPU path (the same
    values as the CPU path's, up to float rounding of the sort network / pixel selection)."""

    def __enter__(self):
        import torch

        from engine import cpu_split

        self._undo = [(torch.Tensor, "is_cuda", torch.Tensor.__dict__.get("is_cuda")),
                      (cpu_split, "splits", cpu_split.splits)]
        torch.Tensor.is_cuda = property(lambda t: True)
        cpu_split.splits = lambda device: 1
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, value in reversed(self._undo):
            if value is None:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


def _workspace(project: Path, device: str):
    from engine.project import Project
    from engine.workflows import Workspace

    return Workspace(project=Project.load(project, device=device), saved=True)


def run_segment(project: Path, width: int, height: int, frames: int, device: str = "cpu", counter=None,
                record: dict | None = None, gpu_branches: bool = False) -> dict:
    """One Generate job of ``frames`` frames on a fresh copy of ``project`` -> {"secs", "thread_s",
    "frames", "rest"}; fills ``record`` (frames before their fill, the filled frames, the memory)."""
    import torch

    from engine.generate.auto import AutoGenerator, AutoGeneratorOptions
    from engine.session import run_job
    from engine.trajectory.presets import make_preset
    from engine.workflows import GenerateOptions, generate_job

    with tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp:
        root = Path(tmp) / project.name
        shutil.copytree(project, root, ignore=shutil.ignore_patterns("segments", "trajectories"))
        ws = _workspace(root, device)
        wfc = np.stack([v.camera.world_from_cam for v in ws.views])
        traj = make_preset("through", captured_world_from_cam=wfc, fov_y_deg=ws.views.cameras[0].fov_y_deg,
                           width=width, height=height)
        traj = dataclasses.replace(traj, fps=(frames - 1) / traj.resolved_duration)
        n = len(traj.sample())
        gopts = AutoGeneratorOptions(splats="always", iterations_per_segment=0, learn_from_generated=False)
        opts = GenerateOptions(generator="auto", segment_length=n, generator_options=gopts)
        out, rest = [], []
        unfilled = AutoGenerator.__dict__["_render_unfilled"]

        def spy(gen, *a, **k):
            part = unfilled(gen, *a, **k)
            rest.append(gen.last_stats.get("rest", 0.0))
            if record is not None:
                f, holes = part[0], part[1]
                record.setdefault("unfilled", []).append(
                    {"color": f.color.copy(), "depth": f.depth.copy(), "confidence": f.confidence.copy(),
                     "invented": f.invented.copy(), "holes": holes.copy()})
            return part

        AutoGenerator._render_unfilled = spy
        try:
            job = generate_job("ops", traj, opts, on_frame=lambda i, f: out.append(f))
            t0, c0 = time.perf_counter(), time.thread_time()
            from contextlib import nullcontext

            with GpuBranches() if gpu_branches else nullcontext(), counter if counter is not None else nullcontext():
                run_job(job, ws)
            secs, thread_s = time.perf_counter() - t0, time.thread_time() - c0
        finally:
            AutoGenerator._render_unfilled = unfilled
        if record is not None:
            record["filled"] = [f.color.copy() for f in out]
            snap = ws.project.memory.snapshot()
            record["memory"] = {k: getattr(snap, k) for k in ("xyz", "rgb", "conf", "normal", "view", "segment",
                                                               "uid")}
        del torch
        return {"secs": secs, "thread_s": thread_s, "frames": n, "rest": float(np.mean(rest)) if rest else 0.0}


def _flatten(record: dict) -> dict[str, np.ndarray]:
    flat = {}
    for i, f in enumerate(record["unfilled"]):
        for k, v in f.items():
            flat[f"unfilled{i}_{k}"] = v
    for i, c in enumerate(record["filled"]):
        flat[f"filled{i}_color"] = c
    for k, v in record["memory"].items():
        flat[f"memory_{k}"] = v
    return flat


def compare(record: dict, ref_path: Path) -> list[str]:
    """Differences of ``record`` against the saved run: one line per array that differs."""
    ref = dict(np.load(ref_path))
    flat = _flatten(record)
    lines = []
    for k in sorted(set(ref) | set(flat)):
        if k not in ref or k not in flat:
            lines.append(f"{k}: only in {'reference' if k in ref else 'this run'}")
            continue
        a, b = flat[k], ref[k]
        if a.shape != b.shape:
            lines.append(f"{k}: shape {a.shape} vs {b.shape}")
        elif a.dtype == bool or not np.issubdtype(a.dtype, np.floating):
            if (a != b).any():
                lines.append(f"{k}: {int((a != b).sum())} elements differ")
        else:
            d = float(np.nanmax(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
            nan = int((np.isnan(a) != np.isnan(b)).sum())
            if d > 0 or nan:
                lines.append(f"{k}: max abs diff {d:.3g}{f', NaN mismatch {nan}' if nan else ''}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--project", type=Path, required=True, help="a project with splats (PROJECT/splats/splats.ply)")
    p.add_argument("--width", type=int, default=448)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2, help="timed runs without the counter")
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--save", type=Path, help="store this run's frames and memory (npz)")
    p.add_argument("--compare", type=Path, help="compare this run's frames and memory with a stored one")
    p.add_argument("--json", type=Path, help="write the counts and times here")
    p.add_argument("--no-count", action="store_true", help="timed runs only (no counted run, no frames kept)")
    p.add_argument("--stages", action="store_true", help="with --no-count: one more run with stage timers")
    p.add_argument("--gpu-branches", action="store_true",
                   help="the counted run takes the engine's CUDA branches on the CPU (GpuBranches)")
    args = p.parse_args(argv)

    import torch

    from benchmarks.speed_stages import OpCounter
    from engine.device import configure_cpu_threads

    configure_cpu_threads()
    torch.manual_seed(0)
    run_segment(args.project, args.width, args.height, min(args.frames, 3))       # warm-up
    if args.no_count:
        from benchmarks.speed_stages import StageTimer

        times = [run_segment(args.project, args.width, args.height, args.frames) for _ in range(args.repeats)]
        ms = [1000 * t["secs"] / t["frames"] for t in times]
        th = [1000 * t["thread_s"] / t["frames"] for t in times]
        print(f"# CPU ms per frame (job wall / frames): {', '.join(f'{m:.1f}' for m in ms)}; engine thread CPU ms "
              f"per frame {', '.join(f'{m:.1f}' for m in th)}")
        if args.stages:
            # one more run with the stage timers (engine.generate's stages: the torch splat
            # rasterizer, the CPU's stand-in for gsplat, is most of a CPU frame)
            with StageTimer(cuda=False) as stages:
                t = run_segment(args.project, args.width, args.height, args.frames)
            print(f"# stage timers ({t['frames']} frames):\n" + stages.table(t["secs"]))
        return 0
    counter, record = OpCounter(), {}
    r = run_segment(args.project, args.width, args.height, args.frames, counter=counter, record=record,
                    gpu_branches=args.gpu_branches)
    n = r["frames"]
    print(f"# ops: {n} frames {args.width}x{args.height}, auto on its splat path (CPU"
          f"{', GPU branches' if args.gpu_branches else ''}), rest share "
          f"{r['rest']:.3f} (mean of last_stats['rest'])")
    print(counter.table(n, args.top))
    times = [run_segment(args.project, args.width, args.height, args.frames) for _ in range(max(0, args.repeats))]
    if times:
        ms = [1000 * t["secs"] / n for t in times]
        th = [1000 * t["thread_s"] / n for t in times]
        print(f"# CPU ms per frame (job wall / frames): {', '.join(f'{m:.1f}' for m in ms)}; median "
              f"{np.median(ms):.1f}; engine thread CPU ms per frame {', '.join(f'{m:.1f}' for m in th)}")
    if args.save:
        np.savez_compressed(args.save, **_flatten(record))
        print(f"# saved {args.save}")
    diffs = []
    if args.compare:
        diffs = compare(record, args.compare)
        print(f"# compare with {args.compare}: " + ("identical" if not diffs else f"{len(diffs)} arrays differ"))
        for line in diffs[:40]:
            print("  " + line)
    if args.json:
        args.json.write_text(json.dumps({"frames": n, "totals": counter.totals(n), "rest": r["rest"],
                                         "ms_per_frame": [1000 * t["secs"] / n for t in times],
                                         "ops": {k: dict(v) for k, v in counter.ops.items()},
                                         "syncs": {k: dict(v) for k, v in counter.syncs.items()},
                                         "diffs": diffs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
