"""CPU cost of the surface generator (the CPU's default ``auto``) against ``ibr`` on the
640x360 paths of bench_real_views.py: fern / office, orbit and beyond, both generators in one
run (the machine is shared: only ratios of one run mean anything).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_surface_cpu.py [--scenes fern,office]
        [--paths orbit,beyond] [--frames 8] [--generators ibr,surface] [--profile cprofile|torch]
        [--save DIR] [--repeats 1] [--orbit-path preset|legacy]

Per (scene, path, generator): seconds per frame (wall; the process's CPU seconds, less
sensitive to the other jobs on a shared machine; and the critical path's CPU seconds: the
calling thread's plus what it waited for engine.cpu_split's worker thread, by CPU seconds,
i.e. the wall time on a quiet machine with a free core per thread) of the whole loop (guidance render, generator,
fusion: what bench_real_views.py's path rows time), the generator's own stages when it
records them, and with ``--profile`` the top of a cProfile / torch.profiler table (CPU,
record_shapes) of the surface runs. ``--save DIR`` writes every frame (color, depth,
invented) as ``DIR/{scene}_{path}_{generator}.npz`` to compare two versions' frames.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_real_views as brv  # noqa: E402


def fly_frames(scene, gen_name: str, path: list):
    from engine.events import FrameGenerated
    from engine.generate.loop import LoopOptions, generate_path

    mem = brv._clone_memory(scene.memory)
    gen = brv.make_bench_generator(gen_name)
    t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    w0 = _split_wait()
    fr = [e.frame for e in generate_path(mem, scene.views, path, gen, LoopOptions(segment_length=len(path)))
          if isinstance(e, FrameGenerated)]
    fly_frames.cpu = (time.process_time() - c0) / len(fr)
    # the critical path's CPU: the calling thread's, plus what it waits for engine.cpu_split's
    # worker (by CPU seconds): the wall time on a quiet machine with a core per thread
    fly_frames.main = (time.thread_time() - m0 + _split_wait() - w0) / len(fr)
    return fr, (time.perf_counter() - t0) / len(fr)


def _split_wait() -> float:
    try:
        from engine.cpu_split import wait_cpu_seconds
    except ImportError:      # a version without engine.cpu_split: one thread
        return 0.0
    return wait_cpu_seconds()


def main() -> None:
    from engine.device import configure_cpu_threads

    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", default="fern,office")
    ap.add_argument("--paths", default="orbit,beyond")
    ap.add_argument("--orbit-path", default="preset", choices=("preset", "legacy"),
                    help="the app's orbit preset, or bench_real_views' circle of before 2026-12-01")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--generators", default="ibr,surface")
    ap.add_argument("--data", type=Path, default=brv.DEFAULT_DATA)
    ap.add_argument("--profile", default="", help="cprofile | cprofile-cpu (calling thread's CPU time) | torch: profile the non-ibr runs")
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per generator (minimum reported)")
    ap.add_argument("--sheets", type=Path, default=None, help="contact sheets here")
    args = ap.parse_args()
    configure_cpu_threads()
    rows = []
    for name in args.scenes.split(","):
        scene = brv.fern_scene(args.data) if name == "fern" else brv.tracked_scene(name, args.data, 640)
        for kind in args.paths.split(","):
            path = (brv.orbit_cameras(scene, args.frames, args.orbit_path) if kind == "orbit"
                    else brv.beyond_cameras(scene, args.frames))
            secs, cpus, mains, frames = {}, {}, {}, {}
            for g in args.generators.split(","):
                best, best_cpu, best_main = float("inf"), float("inf"), float("inf")
                for _ in range(args.repeats):
                    if args.profile and g != "ibr":
                        fr, s = profiled(args.profile, lambda: fly_frames(scene, g, path), f"{name} {kind} {g}")
                    else:
                        fr, s = fly_frames(scene, g, path)
                    best, best_cpu = min(best, s), min(best_cpu, fly_frames.cpu)
                    best_main = min(best_main, fly_frames.main)
                secs[g], cpus[g], mains[g], frames[g] = best, best_cpu, best_main, fr
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    np.savez_compressed(args.save / f"{name}_{kind}_{g}.npz",
                                        color=np.stack([f.color for f in fr]), depth=np.stack([f.depth for f in fr]),
                                        invented=np.stack([f.invented for f in fr]))
                inv = float(np.mean([f.invented_fraction for f in fr]))
                rows.append((f"{name} {kind}", g, len(fr), inv, best, best_cpu, best_main))
                print(f"{name} {kind} {g}: {best:.2f} s/frame, {best_cpu:.2f} CPU s/frame "
                      f"({best_main:.2f} on the critical path), invented {inv:.1%}", flush=True)
            if "ibr" in secs:
                for g, s in secs.items():
                    if g != "ibr":
                        print(f"  {name} {kind}: {g} / ibr = {s / secs['ibr']:.2f}x wall, "
                              f"{cpus[g] / cpus['ibr']:.2f}x CPU, {mains[g] / mains['ibr']:.2f}x critical path",
                              flush=True)
            if args.sheets:
                step = max(1, args.frames // 6)
                brv.contact_sheet(args.sheets / f"{name}_{kind}.png",
                                  [(g, [(f.color, f"inv {f.invented_fraction:.1%}") for f in frames[g][::step]])
                                   for g in frames])
    print(f"\nload average {os.getloadavg()[0]:.1f}; ANYRECON_CPU_SPLIT={os.environ.get('ANYRECON_CPU_SPLIT', '')!r}\n"
          "| path | generator | frames | invented | s/frame | / ibr | CPU s/frame | / ibr "
          "| critical-path CPU s/frame | / ibr |\n|---|---|---|---|---|---|---|---|---|---|")
    ibr = {r[0]: r for r in rows if r[1] == "ibr"}
    for p, g, n, inv, s, c, m in rows:
        ratio = f"{s / ibr[p][4]:.2f}x" if p in ibr else "–"
        cratio = f"{c / ibr[p][5]:.2f}x" if p in ibr else "–"
        mratio = f"{m / ibr[p][6]:.2f}x" if p in ibr else "–"
        print(f"| {p} | {g} | {n} | {inv:.1%} | {s:.2f} | {ratio} | {c:.2f} | {cratio} | {m:.2f} | {mratio} |")


def profiled(kind: str, fn, label: str):
    if kind in ("cprofile", "cprofile-cpu"):
        import cProfile
        import pstats

        # cprofile-cpu: the calling thread's CPU seconds (time.thread_time) instead of wall:
        # what stays on the critical path when engine.cpu_split's threads take their share
        pr = cProfile.Profile(time.thread_time) if kind == "cprofile-cpu" else cProfile.Profile()
        out = pr.runcall(fn)
        print(f"\n## cProfile {label}")
        pstats.Stats(pr).sort_stats("cumulative").print_stats(45)
        pstats.Stats(pr).sort_stats("tottime").print_stats(30)
        return out
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        out = fn()
    print(f"\n## torch.profiler {label}")
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=40))
    return out


if __name__ == "__main__":
    main()
