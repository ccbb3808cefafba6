"""Where the time of one Generate job goes: per-stage timers for ``bench_real_views --speed``.

:class:`StageTimer` wraps engine functions (module attributes / methods, restored on exit) with
timers. Stages on the engine thread synchronize the caller's CUDA stream before and after
(``torch.cuda.current_stream().synchronize()``: only that stream, so the training steps on
their own stream keep running) and count *exclusive* time (a nested timed stage's time is
subtracted from its parent). Stages that run on worker threads (fills, frame writes, training
steps) are timed without synchronizing: their wall time on their threads, overlapping the
engine thread. The synchronizing makes the timed job slower than an untimed one: the table
says where the time goes, the untimed runs how long it takes.

:class:`RunProbe` counts a run's fills, waits and thread times without synchronizing anything
(every speed run prints it); :class:`TrainerState` puts a splat trainer back to an earlier
state (``--speed-fresh``: each run from the splats as they were before this path taught them).
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


def patch_stages(wrap, main_only: bool = False) -> list:
    """Replace each function of :data:`STAGES` (the engine-thread ones only with ``main_only``)
    by ``wrap(fn, label, on_engine_thread)``; returns what :func:`restore` puts back."""
    import importlib

    undo = []
    for mod, owner, name, label, main in STAGES:
        if main_only and not main:
            continue
        m = importlib.import_module(mod)
        target = getattr(m, owner) if owner else m
        fn = target.__dict__[name] if owner else getattr(m, name)
        undo.append((target, name, fn))
        setattr(target, name, wrap(fn, label, main))
    return undo


def restore(undo: list) -> None:
    """Put back what :func:`patch_stages` replaced (in reverse order); empties ``undo``."""
    for target, name, fn in reversed(undo):
        setattr(target, name, fn)
    undo.clear()


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
        self._undo = patch_stages(lambda fn, label, main: self._wrap(fn, label, main))
        return self

    def __exit__(self, *exc) -> None:
        restore(self._undo)

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


class RunProbe:
    """Context manager: light per-run counters of one Generate job, *without* synchronizing
    anything (so the run is timed as an untimed one): the fill thread's time (sum, max, calls
    with holes), how long the engine thread blocks on a fill future (``Future.result`` on the
    calling thread, the frame writer's wait at the segment end excluded), the frame writes'
    and the training steps' thread time, the engine thread's CPU time (``time.thread_time``:
    wall minus it is time the engine thread waited, for the GPU, a future or the GIL), the
    process's CPU time (all threads), the rest / filled shares of each frame (``last_stats``),
    and the splats' count when the job starts. ``summary()`` -> dict."""

    def __init__(self) -> None:
        self.fill, self.fill_max, self.fill_holes = 0.0, 0.0, 0
        self.fill_cpu, self.fill_times = 0.0, []   # fill threads' CPU time (time.thread_time); each fill's wall
        self.fill_wait, self.writer_wait, self.write, self.train, self.train_steps = 0.0, 0.0, 0.0, 0.0, 0
        self.rest, self.filled = [], []
        self._undo: list = []
        self._lock = threading.Lock()

    def __enter__(self):
        from concurrent.futures import Future

        from engine.generate.auto import AutoGenerator
        from engine.project import Project
        from engine.splat.train import SplatTrainer
        from engine.workflows.generate import _FrameWriter

        probe, main = self, threading.main_thread()

        def patch(owner, name, make):
            fn = owner.__dict__[name]
            self._undo.append((owner, name, fn))
            setattr(owner, name, make(fn))

        def fill(fn):
            def timed(gen, part):
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return fn(gen, part)
                finally:
                    dt = time.perf_counter() - t0
                    with probe._lock:
                        probe.fill += dt
                        probe.fill_cpu += time.thread_time() - c0
                        probe.fill_times.append(dt)
                        probe.fill_max = max(probe.fill_max, dt)
                        probe.fill_holes += int(bool(part[1].any()))
            return timed

        def result(fn):
            def timed(fut, timeout=None):
                if threading.current_thread() is not main:
                    return fn(fut, timeout)
                t0 = time.perf_counter()
                try:
                    return fn(fut, timeout)
                finally:
                    probe.fill_wait += time.perf_counter() - t0
            return timed

        def wait(fn):
            def timed(writer):
                t0 = time.perf_counter()
                try:
                    return fn(writer)
                finally:
                    probe.writer_wait += time.perf_counter() - t0
            return timed

        def on_thread(attr, count=None):
            def make(fn):
                def timed(*a, **k):
                    t0 = time.perf_counter()
                    try:
                        return fn(*a, **k)
                    finally:
                        with probe._lock:
                            setattr(probe, attr, getattr(probe, attr) + time.perf_counter() - t0)
                            if count:
                                setattr(probe, count, getattr(probe, count) + 1)
                return timed
            return make

        def unfilled(fn):
            def wrapped(gen, *a, **k):
                out = fn(gen, *a, **k)
                probe.rest.append(gen.last_stats.get("rest", 0.0))
                probe.filled.append(gen.last_stats.get("filled", 0.0))
                return out
            return wrapped

        patch(AutoGenerator, "_fill", fill)
        patch(AutoGenerator, "_render_unfilled", unfilled)
        patch(Future, "result", result)
        patch(_FrameWriter, "wait", wait)
        patch(Project, "write_generated_frame", on_thread("write"))
        patch(SplatTrainer, "train_step", on_thread("train", "train_steps"))
        self.cpu0, self.thread0 = time.process_time(), time.thread_time()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu = time.process_time() - self.cpu0
        self.thread_cpu = time.thread_time() - self.thread0
        for owner, name, fn in reversed(self._undo):
            setattr(owner, name, fn)
        self._undo.clear()

    def summary(self) -> dict:
        import numpy as np

        return {"fill_s": round(self.fill, 3), "fill_cpu_s": round(self.fill_cpu, 3),
                "fill_median_ms": round(1000 * float(np.median(self.fill_times)), 1) if self.fill_times else 0.0,
                "fill_max_ms": round(1000 * self.fill_max, 1),
                "fills_with_holes": self.fill_holes,
                "engine_waits_for_fill_s": round(self.fill_wait - self.writer_wait, 3),
                "writer_wait_s": round(self.writer_wait, 3), "write_s": round(self.write, 3),
                "train_s": round(self.train, 3), "train_steps": self.train_steps,
                "engine_thread_cpu_s": round(self.thread_cpu, 3), "process_cpu_s": round(self.cpu, 3),
                "rest_mean": round(float(np.mean(self.rest)) if self.rest else 0.0, 4),
                "filled_mean": round(float(np.mean(self.filled)) if self.filled else 0.0, 5)}


def _clone(x):
    import copy

    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    return copy.deepcopy(x)


class TrainerState:
    """A splat trainer's whole training state (parameters, Adam moments and learning rates,
    densification state, step, training views, view order and its RNG), taken when
    made and put back with :meth:`restore`: each timed run of ``--speed-fresh``
    starts from the splats as they were when the first segment started (before they learned
    from any generated frame of the path), as an artist's first Generate of a path does."""

    def __init__(self, trainer) -> None:
        self.params = {k: v.detach().clone() for k, v in trainer.params.items()}
        self.opt = {k: ([{kk: vv for kk, vv in g.items() if kk != "params"} for g in o.param_groups],
                        [_clone(s) for s in o.state.values()]) for k, o in trainer.optimizers.items()}
        self.strategy = _clone(trainer.strategy_state)
        self.step, self.views, self.max_splats = trainer.step, len(trainer.train_views), trainer.max_splats
        self.order, self.rng = list(trainer._order), _clone(trainer._rng)

    def restore(self, trainer) -> None:
        import torch

        for k, v in self.params.items():
            p = torch.nn.Parameter(v.clone(), requires_grad=True)
            trainer.params[k] = p
            groups, states = self.opt[k]
            opt = trainer.optimizers[k]
            opt.state.clear()
            for g, saved in zip(opt.param_groups, groups):
                g.update(_clone(saved))
                g["params"] = [p]
            for s in states:
                opt.state[p] = _clone(s)
        trainer.strategy_state = _clone(self.strategy)
        trainer.step, trainer.max_splats = self.step, self.max_splats
        del trainer.train_views[self.views:]
        trainer._order, trainer._rng = list(self.order), _clone(self.rng)


# aten ops that wait for the device (a host sync on CUDA): a scalar read (``.item()``,
# ``bool(t)``, ``float(t)``), a nonzero / boolean-mask gather (whose output size is data
# dependent) and a copy to the host. Counted by :class:`OpCounter` on any device.
SYNC_OPS = ("nonzero", "_local_scalar_dense", "masked_select", "unique", "_unique2", "unique_dim",
            "unique_consecutive", "argwhere", "nonzero_static")


# ops that launch no kernel on a GPU besides the views (metadata only)
_NO_KERNEL = ("_unsafe_view", "lift_fresh", "detach", "alias", "_reshape_alias",
              "scalar_tensor")   # a host scalar (torch.where(c, x, 0.0)): no launch


def _is_sync(func, args, kwargs) -> bool:
    """Whether the aten op ``func`` (with its arguments) is a host sync on CUDA."""
    import torch

    name = func._schema.name.split("::")[-1]
    if name in SYNC_OPS:
        return True
    if name in ("index", "_index_put_impl_", "index_put", "index_put_") and len(args) > 1:
        # boolean-mask indexing runs a nonzero below the dispatcher
        return any(isinstance(t, torch.Tensor) and t.dtype == torch.bool for t in (args[1] or ()))
    if name == "repeat_interleave":
        return kwargs.get("output_size") is None and isinstance(args[0], torch.Tensor) and \
            (len(args) < 2 or isinstance(args[1], torch.Tensor) or args[0].dtype != torch.bool)
    if name in ("_to_copy", "copy_"):
        src = args[1] if name == "copy_" else args[0]
        dst_dev = (args[0].device if name == "copy_" else kwargs.get("device"))
        return (isinstance(src, torch.Tensor) and src.device.type == "cuda" and dst_dev is not None
                and torch.device(dst_dev).type == "cpu")
    return False


class OpCounter:
    """Context manager: counts the aten ops (``TorchDispatchMode``: each op is one kernel launch
    or more on CUDA, what the launch-bound engine thread pays for) that the thread entering it
    runs, by op name, attributed to the innermost active stage of :data:`STAGES` (engine-thread
    stages only; ops outside every stage go to "other"); also the host syncs (:func:`_is_sync`)
    per stage. Worker threads (fills, training, frame writes) are not counted: a dispatch mode
    is thread-local. :meth:`table` prints ops per frame per stage, the top ops and the syncs.

    ``ops[stage][op]`` and ``syncs[stage][op]`` hold the counts; ``calls[stage]`` how often the
    stage ran."""

    OTHER = "other on the engine thread"

    def __init__(self) -> None:
        self.ops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.syncs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.views: dict[str, int] = defaultdict(int)   # of ops: views (no kernel on a GPU)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []
        self._undo: list = []
        self._mode = None
        self._thread = None

    def _wrap(self, fn, label: str):
        counter = self

        def counted(*args, **kwargs):
            if threading.current_thread() is not counter._thread:
                return fn(*args, **kwargs)
            counter._stack.append(label)
            counter.calls[label] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                counter._stack.pop()
        counted.__wrapped__ = fn
        return counted

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self
        self._thread = threading.current_thread()

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                stage = counter._stack[-1] if counter._stack else counter.OTHER
                name = func._schema.name.split("::")[-1]
                counter.ops[stage][name] += 1
                if func.is_view or name in _NO_KERNEL:
                    counter.views[stage] += 1
                if _is_sync(func, args, kwargs):
                    counter.syncs[stage][name] += 1
                return func(*args, **kwargs)

        self._undo = patch_stages(lambda fn, label, main: self._wrap(fn, label), main_only=True)
        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        restore(self._undo)

    def totals(self, frames: int) -> dict[str, dict]:
        """{stage: {"ops": per frame, "syncs": per frame, "calls": n}} plus "total"."""
        out = {}
        for stage in list(self.ops):
            out[stage] = {"ops": sum(self.ops[stage].values()) / frames,
                          "kernels": (sum(self.ops[stage].values()) - self.views[stage]) / frames,
                          "syncs": sum(self.syncs[stage].values()) / frames, "calls": self.calls.get(stage, 0)}
        out["total"] = {"ops": sum(v["ops"] for v in out.values()), "syncs": sum(v["syncs"] for v in out.values()),
                        "kernels": sum(v["kernels"] for v in out.values()), "calls": frames}
        return out

    def table(self, frames: int, top: int = 8) -> str:
        """Markdown table: per stage, aten ops and host syncs per frame, and the top ops."""
        rows = ["| stage | calls | ops / frame | non-view ops / frame | syncs / frame | top ops (per frame) |",
                "|---|---|---|---|---|---|"]
        order = [label for *_, label, m in STAGES if m] + [self.OTHER]
        for label in order:
            if label not in self.ops:
                continue
            ops = self.ops[label]
            n, s = sum(ops.values()), sum(self.syncs[label].values())
            best = sorted(ops.items(), key=lambda kv: -kv[1])[:top]
            text = ", ".join(f"{k} {v / frames:.1f}" for k, v in best)
            k = n - self.views[label]
            rows.append(f"| {label} | {self.calls.get(label, '')} | {n / frames:.1f} | {k / frames:.1f} | "
                        f"{s / frames:.2f} | {text} |")
        tot = self.totals(frames)["total"]
        rows.append(f"| **all** | {frames} frames | **{tot['ops']:.1f}** | **{tot['kernels']:.1f}** | "
                    f"**{tot['syncs']:.2f}** | |")
        sync_ops = defaultdict(int)
        for label in self.syncs:
            for k, v in self.syncs[label].items():
                sync_ops[f"{k} ({label})"] += v
        rows.append("")
        rows.append("host syncs per frame by op (stage): " + ", ".join(
            f"{k} {v / frames:.2f}" for k, v in sorted(sync_ops.items(), key=lambda kv: -kv[1])))
        return "\n".join(rows)
