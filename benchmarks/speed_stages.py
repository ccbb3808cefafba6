"""Where the time of one Generate job goes: per-stage timers for ``bench_real_views --speed``.

:class:`StageTimer` wraps engine functions (module attributes / methods, restored on exit) with
timers. Stages on the engine thread synchronize the caller's CUDA stream before and after
(``torch.cuda.current_stream().synchronize()``: only that stream, so the training steps on
their own stream keep running) and count *exclusive* time (a nested timed stage's time is
subtracted from its parent). Stages that run on worker threads (fills, frame writes, training
steps) are timed without synchronizing: their wall time on their threads, overlapping the
engine thread. The synchronizing makes the timed job slower than an untimed one: the table
says where the time goes, the untimed runs how long it takes.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict

# (module path, owner attribute or None, function name, stage label, on the engine thread)
STAGES = [
    ("engine.generate.loop", None, "retrieve_views", "retrieve (geometric contribution)", True),
    ("engine.render.surface", None, "render_surface", "guidance: memory surface render", True),
    ("engine.generate.surface", "SurfaceGenerator", "reference_sources", "reference sources (upload)", True),
    ("engine.splat.generator", "SplatGenerator", "prepare", "splats: prepare (new reference views)", True),
    ("engine.generate.segment_learner", None, "snapshot_params", "splats: parameter snapshot", True),
    ("engine.generate.auto", "AutoGenerator", "_render_splats", "auto: splat render (gsplat)", True),
    ("engine.generate.auto", "AutoGenerator", "_photos", "auto: photos on the splat surface", True),
    ("engine.generate.surface", "SurfaceGenerator", "render_frame", "auto: rest pass (surface generator)", True),
    ("engine.generate.auto", "AutoGenerator", "_render_unfilled", "auto: compose + download (rest of frame)", True),
    ("engine.generate.loop", None, "fuse_generated_frame", "fuse into the memory", True),
    ("engine.workflows.generate", None, "_with_viewer_images", "viewer images (uint8, thumbnail)", True),
    ("engine.workflows.generate", None, "_keep_frame", "frame write: submit", True),
    ("engine.workflows.generate", "_FrameWriter", "wait", "frame write: wait at segment end", True),
    ("engine.generate.auto", "AutoGenerator", "settle", "settle: join the training thread", True),
    ("engine.generate.auto", "AutoGenerator", "_fill", "[thread] fill (PatchMatch / Telea)", False),
    ("engine.project", "Project", "write_generated_frame", "[thread] frame write (PNG + npz)", False),
    ("engine.splat.train", "SplatTrainer", "train_step", "[thread] splat training step", False),
]


class StageTimer:
    """Context manager: times :data:`STAGES` while active; :meth:`table` prints the result."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._local = threading.local()
        self._undo: list = []
        self._lock = threading.Lock()

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.current_stream().synchronize()

    def _wrap(self, fn, label: str, main: bool):
        def timed(*args, **kwargs):
            stack = self._local.__dict__.setdefault("stack", [])
            if main:
                self._sync()
            t0 = time.perf_counter()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                if main:
                    self._sync()
                dt = time.perf_counter() - t0
                child = stack.pop()
                if stack:
                    stack[-1] += dt
                with self._lock:
                    self.seconds[label] += dt - child
                    self.calls[label] += 1
        timed.__wrapped__ = fn
        return timed

    def __enter__(self):
        import importlib

        for mod, owner, name, label, main in STAGES:
            m = importlib.import_module(mod)
            target = getattr(m, owner) if owner else m
            fn = target.__dict__[name] if owner else getattr(m, name)
            self._undo.append((target, name, fn))
            setattr(target, name, self._wrap(fn, label, main))
        return self

    def __exit__(self, *exc) -> None:
        for target, name, fn in reversed(self._undo):
            setattr(target, name, fn)
        self._undo.clear()

    def table(self, total: float) -> str:
        """Markdown table: stage, seconds, calls, ms per call; engine-thread stages first and
        the rest of the job's wall time as 'other'."""
        rows = ["| stage | s | calls | ms / call |", "|---|---|---|---|"]
        main = [label for *_, label, m in STAGES if m]
        side = [label for *_, label, m in STAGES if not m]
        for label in main + side:
            if self.calls.get(label):
                s, n = self.seconds[label], self.calls[label]
                rows.append(f"| {label} | {s:.3f} | {n} | {1000 * s / n:.1f} |")
        other = total - sum(self.seconds[label] for label in main)
        rows.append(f"| other on the engine thread (loop, events, Python) | {other:.3f} | | |")
        rows.append(f"| **whole job (timed with synchronizing stages)** | **{total:.3f}** | | |")
        return "\n".join(rows)
