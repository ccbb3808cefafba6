"""GUI responsiveness of the studio (run under a real X server, e.g.
``xvfb-run -a -s '-screen 0 1280x800x24' .venv/bin/python benchmarks/bench_gui.py``).

1. GUI-thread stall: a 5 ms QTimer records the longest gap between its ticks (= the longest
   time the event loop was blocked) while the demo scene streams into the memory and
   while the path is generated (all engine work runs on the engine thread).
2. Playhead -> preview latency: time from a playhead move to the memory render of that
   camera being shown, on a memory of ~100k points, idle and during a generation.
Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_API", "pyside6")


class StallMeter:
    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(interval_ms)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def reset(self) -> None:
        self.gaps, self.last = [], time.perf_counter()

    def summary(self) -> dict:
        g = np.array(self.gaps[1:] or [0.0]) * 1000
        return {"max_ms": float(g.max()), "p99_ms": float(np.percentile(g, 99)),
                "over_50ms": int((g > 50).sum()), "ticks": len(g)}


def pump_until(app, cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.002)
    return False


def idle(win) -> bool:
    ctl = win.ctl
    return (ctl.bridge.idle and not ctl._coverage_timer.isActive() and not ctl._preview_timer.isActive()
            and not win._film_timer.isActive() and not win.points_adapter.pending)


def measure_latency(app, win, frames) -> list[float]:
    out = []
    for f in frames:
        if int(f) == win.ctl.playback.frame:
            continue
        n = len(win.ctl.preview_latencies)
        win.ctl.playback.set_frame(int(f))
        if not pump_until(app, lambda: len(win.ctl.preview_latencies) > n, 30):
            break
        out.append(win.ctl.preview_latencies[-1] * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument("--voxel", type=float, default=0.03)
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        print("needs an X server: run under xvfb-run -a -s '-screen 0 1280x800x24'", file=sys.stderr)
        return 2
    import tempfile

    from studio.app import create_window
    from studio.jobs import demo_job, studio_demo_options

    if os.environ.get("BENCH_TORCH_THREADS"):
        import torch
        torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
    tmp = tempfile.mkdtemp()
    app, win = create_window(f"{tmp}/s.ini", f"{tmp}/autosave", 0)
    win.show()
    pump_until(app, lambda: False, 1.0)
    meter = StallMeter()
    rows = []
    t0 = time.perf_counter()
    win.ctl.open_scene_job("demo", demo_job(studio_demo_options(num_views=args.views, width=192, height=108,
                                                                stride=1, voxel_size=args.voxel)))
    pump_until(app, lambda: idle(win), 600)
    s = meter.summary()
    n_points = win.ctl.project.points.num_alive
    rows.append(("demo load (memory streams in)", time.perf_counter() - t0, s, n_points))
    win.ctl.apply_preset("orbit")
    pump_until(app, lambda: idle(win), 120)
    n = win.ctl.playback.num_frames
    lat_idle = measure_latency(app, win, np.linspace(0, n - 1, 16).round())
    meter.reset()
    t0 = time.perf_counter()
    win.ctl.segment_length = 10
    win.ctl.generate()
    pump_until(app, lambda: len(win.ctl.segments.frames) >= 2, 120)
    win.ctl.segments.frames.clear()   # measure memory renders, not cached generated frames
    lat_gen = measure_latency(app, win, np.linspace(n - 1, n // 2, 8).round())
    pump_until(app, lambda: idle(win), 900)
    s = meter.summary()
    rows.append(("generate orbit path", time.perf_counter() - t0, s, win.ctl.project.points.num_alive))
    win.close()
    win.bridge.close()

    print(f"\nframes in path: {n}; points after load: {n_points:,}\n")
    print("| phase | wall s | longest GUI stall ms | p99 gap ms | gaps > 50 ms | points |")
    print("|---|---|---|---|---|---|")
    for name, wall, s, pts in rows:
        print(f"| {name} | {wall:.1f} | {s['max_ms']:.1f} | {s['p99_ms']:.1f} | {s['over_50ms']} | {pts:,} |")
    print("\n| playhead -> preview | n | median ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, lat in (("engine idle", lat_idle), ("during generation", lat_gen)):
        if lat:
            a = np.array(lat)
            print(f"| {name} | {len(a)} | {np.median(a):.0f} | {np.percentile(a, 90):.0f} | {a.max():.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
