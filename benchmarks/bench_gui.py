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
        self.ends: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(interval_ms)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.ends.append(now)
        self.last = now

    def reset(self) -> None:
        self.gaps, self.ends, self.last = [], [], time.perf_counter()

    def longest(self, n: int = 5) -> list[tuple[float, float]]:
        """The n longest gaps as (start, end) perf_counter() times, longest first."""
        order = np.argsort(self.gaps[1:])[::-1][:n] + 1
        return [(self.ends[i] - self.gaps[i], self.ends[i]) for i in order]

    def summary(self) -> dict:
        g = np.array(self.gaps[1:] or [0.0]) * 1000
        return {"max_ms": float(g.max()), "p99_ms": float(np.percentile(g, 99)),
                "over_50ms": int((g > 50).sum()), "ticks": len(g)}


class StallSampler:
    """Where the GUI thread is while it stalls: a thread samples the main thread's stack every
    ``every_s`` seconds and, while the StallMeter has not ticked for ``over_s``, counts the
    innermost frames of the app (studio/, vispy, PySide6) seen in that stall (``--stalls``)."""

    def __init__(self, meter: StallMeter, over_s: float = 0.035, every_s: float = 0.003) -> None:
        import collections
        import threading

        self.meter, self.over_s, self.every_s = meter, over_s, every_s
        self.main = threading.get_ident()
        self.by_stall: dict[float, collections.Counter] = collections.defaultdict(collections.Counter)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import traceback

        while not self.stop.wait(self.every_s):
            last = self.meter.last
            if time.perf_counter() - last < self.over_s:
                continue
            frame = sys._current_frames().get(self.main)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)
            keep = [f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in stack if "bench_gui" not in f.filename]
            self.by_stall[last][" <- ".join(reversed(keep[-6:]))] += 1

    def report(self, top: int = 6) -> None:
        self.stop.set()
        stalls = sorted(self.by_stall.items(), key=lambda kv: -sum(kv[1].values()))[:top]
        for last, stacks in stalls:
            n = sum(stacks.values())
            print(f"\nstall of >= {n * self.every_s * 1000 + self.over_s * 1000:.0f} ms ({n} samples):")
            for stack, c in stacks.most_common(4):
                print(f"  {c:3d}  {stack}")


def timed_application():
    """A QApplication whose ``notify`` adds up the time spent per (receiver class, event type)
    (``--events``: which Qt events the GUI thread's time goes to) and keeps every outermost
    event longer than 10 ms with its start time (what ran during a stall)."""
    from PySide6.QtWidgets import QApplication

    class TimedApp(QApplication):
        def __init__(self, argv) -> None:
            super().__init__(argv)
            self.times: dict[tuple[str, str], list[float]] = {}
            self.long_events: list[tuple[float, float, str]] = []   # (start, seconds, "Receiver.Event")
            self._depth = 0

        def notify(self, receiver, event):  # noqa: D401 (Qt API)
            t0 = time.perf_counter()
            kind = event.type()
            self._depth += 1
            try:
                return super().notify(receiver, event)
            finally:
                self._depth -= 1
                dt = time.perf_counter() - t0
                key = (type(receiver).__name__, getattr(kind, "name", str(kind)))
                rec = self.times.setdefault(key, [0.0, 0, 0.0])
                rec[0] += dt
                rec[1] += 1
                rec[2] = max(rec[2], dt)
                if self._depth == 0 and dt > 0.010:
                    self.long_events.append((t0, dt, f"{key[0]}.{key[1]}"))

        def report(self, top: int = 15) -> None:
            print("\n| receiver | event | total s | count | max ms |\n|---|---|---|---|---|")
            for (cls, kind), (tot, n, mx) in sorted(self.times.items(), key=lambda kv: -kv[1][0])[:top]:
                print(f"| {cls} | {kind} | {tot:.2f} | {n} | {mx * 1000:.1f} |")

    return TimedApp(sys.argv[:1])


class HandlerTimer:
    """Per-call wall (perf_counter) and GUI-thread CPU (thread_time) of chosen studio handlers
    (``--handlers``): the classes are patched before the window is made, so that the signal
    connections made in its constructors go through the timed methods. Nested timed calls are
    counted in their own rows and inside their callers'."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float, float]]] = {}   # name -> [(start, wall s, CPU s)]

    def patch(self, cls, name: str, label: str | None = None) -> None:
        import functools
        import threading

        gui = threading.main_thread()
        fn = getattr(cls, name, None)
        if fn is None:                    # not in this version of the studio
            return
        label = label or f"{cls.__name__}.{name}"
        calls = self.calls.setdefault(label, [])

        @functools.wraps(fn)
        def timed(*a, **k):
            if threading.current_thread() is not gui:    # a worker's call (e.g. the preview mirror)
                return fn(*a, **k)
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                calls.append((t0, time.perf_counter() - t0, time.thread_time() - c0))
        setattr(cls, name, timed)

    def patch_studio(self) -> None:
        from vispy.visuals.shaders.program import ModularProgram

        from studio.bridge import EngineBridge
        from studio.controller import StudioController
        from studio.local_preview import LocalPreview
        from studio.main_window import MainWindow
        from studio.models.project_view import PointBuffer, ProjectView
        from studio.viewport.adapters import PointsAdapter
        from studio.viewport.points_visual import GrowingPointsVisual
        from studio.viewport.viewport import Viewport3D

        for cls, names in ((EngineBridge, ["_dispatch"]),
                           (StudioController, ["_memory_changed", "_cameras_changed", "_scene_loaded", "_apply_delta_parts"]),
                           (ProjectView, ["apply_delta"]), (PointBuffer, ["apply", "thin"]),
                           (PointsAdapter, ["_appended", "_reset", "flush"]),
                           (GrowingPointsVisual, ["upload_all", "upload_rows"]),
                           (LocalPreview, ["memory_changed"]),
                           (MainWindow, ["_maybe_frame", "_frame_scene", "_scene_loaded", "_redraw_path"]),
                           (Viewport3D, ["look_from", "set_captured_cameras", "set_world_up", "set_path",
                                         "_prebuild_next"]),
                           (ModularProgram, ["_build"])):
            for name in names:
                self.patch(cls, name)

    def report(self, t_from: float, t_to: float, title: str, verbose: bool = False) -> None:
        """Per handler: calls, median / max wall ms, max / total CPU ms (main thread only)."""
        print(f"\nhandlers on the GUI thread during {title}:\n")
        print("| handler | calls | median ms | max ms | max CPU ms | total CPU ms |\n|---|---|---|---|---|---|")
        for label, calls in self.calls.items():
            c = np.array([(w, cpu) for t, w, cpu in calls if t_from <= t < t_to]).reshape(-1, 2) * 1000
            if len(c):
                print(f"| {label} | {len(c)} | {np.median(c[:, 0]):.2f} | {c[:, 0].max():.2f} | "
                      f"{c[:, 1].max():.2f} | {c[:, 1].sum():.1f} |")
        if verbose:
            print(f"\nevery timed call over 2 ms during {title} (ms from the phase's start: name wall / CPU):")
            rows = sorted((t, label, w, cpu) for label, calls in self.calls.items()
                          for t, w, cpu in calls if t_from <= t < t_to and w > 0.002)
            for t, label, w, cpu in rows:
                print(f"  {(t - t_from) * 1000:8.1f}  {label} {w * 1000:.1f} / {cpu * 1000:.1f}")


def stall_causes(app, canvas, meter, n: int = 5) -> list[str]:
    """The n longest GUI-thread gaps of the phase just measured, each with what ran in it: the
    outermost Qt events over 10 ms that overlap it (viewport frames: their GUI-thread CPU ms)."""
    frames = list(getattr(canvas, "frame_costs", []))
    lines = []
    for a, b in meter.longest(n):
        parts = []
        for t0, dt, name in app.long_events:
            if t0 < b and t0 + dt > a:
                label = f"{name} {dt * 1000:.0f}"
                for f0, fw, fcpu in frames:
                    if t0 <= f0 < t0 + dt:
                        label += f" (viewport frame {fw * 1000:.0f} ms, {fcpu * 1000:.0f} ms CPU)"
                parts.append(label)
        if not parts:
            parts.append("no Qt event over 10 ms (Python between events, GIL, or descheduled)")
            parts += [f"a viewport frame on the render thread overlapped ({fw * 1000:.0f} ms)"
                      for f0, fw, _ in frames if f0 < b and f0 + fw > a]
        lines.append(f"{(b - a) * 1000:6.1f} ms: " + "; ".join(parts))
    return lines


def frame_summary(canvas, t_from: float, t_to: float) -> str:
    costs = [(w, c) for t, w, c in getattr(canvas, "frame_costs", []) if t_from <= t < t_to]
    if not costs:
        return "no viewport frame"
    w = np.array(costs) * 1000
    return (f"{len(w)} viewport frames: median {np.median(w[:, 0]):.0f} ms, max {w[:, 0].max():.0f} ms "
            f"(GUI-thread CPU median {np.median(w[:, 1]):.0f} ms, max {w[:, 1].max():.0f} ms)")


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
            and not win._film_timer.isActive() and not win.points_adapter.pending
            and not getattr(ctl, "points_pending", False)
            and not (hasattr(ctl, "gui_tasks") and ctl.gui_tasks.busy))


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
    ap.add_argument("--stalls", action="store_true", help="print where the GUI thread was in the longest stalls")
    ap.add_argument("--events", action="store_true", help="print the GUI thread's time per Qt event type")
    ap.add_argument("--load-only", action="store_true", help="measure the demo load only (no path, no generation)")
    ap.add_argument("--handlers", action="store_true", help="time chosen studio handlers per call (wall and CPU)")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the GUI thread into FILE (pstats)")
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
    import vispy

    vispy.use("pyside6")
    timed = timed_application()
    handlers = None
    if args.handlers:
        handlers = HandlerTimer()
        handlers.patch_studio()
    app, win = create_window(f"{tmp}/s.ini", f"{tmp}/autosave", 0)
    if handlers is not None:     # the viewport backend's frame (its class is made at run time)
        handlers.patch(type(win.viewport.canvas.native), "_paint", "viewport frame (_paint)")
    win.show()
    pump_until(app, lambda: False, 1.0)
    meter = StallMeter()
    sampler = StallSampler(meter) if args.stalls else None
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    load_before = os.getloadavg()[0]
    rows, causes = [], []
    canvas = win.viewport.canvas
    finished: list[float] = []
    win.bridge.jobFinished.connect(lambda *_a: finished.append(time.perf_counter()))
    t0 = time.perf_counter()
    win.ctl.open_scene_job("demo", demo_job(studio_demo_options(num_views=args.views, width=192, height=108,
                                                                stride=1, voxel_size=args.voxel)))
    pump_until(app, lambda: idle(win), 600)
    s = meter.summary()
    n_points = win.ctl.project.points.num_alive
    engine_points = win.bridge.session.call(lambda ws: len(ws.memory))
    rows.append(("demo load (memory streams in)", time.perf_counter() - t0, s, n_points))
    engine_load_s = finished[0] - t0 if finished else float("nan")
    causes.append(("demo load", stall_causes(timed, canvas, meter), frame_summary(canvas, t0, time.perf_counter())))
    spans = [("demo load", t0, time.perf_counter())]
    n, lat_idle, lat_gen = 0, [], []
    if not args.load_only:
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
        causes.append(("generation", stall_causes(timed, canvas, meter),
                       frame_summary(canvas, t0, time.perf_counter())))
        spans.append(("generation", t0, time.perf_counter()))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    win.close()
    win.bridge.close()
    if sampler is not None:
        sampler.report()
    if args.events:
        timed.report()
    if handlers is not None:
        for title, a, b in spans:
            handlers.report(a, b, title, verbose=title == "demo load")
    for phase, lines, frames in causes:
        print(f"\nlongest GUI-thread stalls during {phase} ({frames}):")
        for line in lines:
            print("  " + line)

    print(f"\nframes in path: {n}; points after load: {n_points:,} shown"
          f" (engine memory: {engine_points:,})\n")
    local = getattr(win.ctl, "local_preview", None)
    if local is not None and local.render_s:
        print(f"previews rendered from the studio's memory mirror while a job ran: {local.served} "
              f"(render median {np.median(local.render_s) * 1000:.0f} ms)\n")
    if hasattr(canvas, "drawn"):
        print(f"viewport frames drawn: {canvas.drawn} of {canvas.requested} asked for\n")
    print(f"load average (1 min) at start / end: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs; GL: {win.viewport.renderer or '?'}\n")
    print(f"demo load: the engine's scene job finished after {engine_load_s:.2f} s\n")
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
