"""The playhead preview while the engine is busy: the studio's own copy of the memory rendered
on a worker thread.

The engine serves previews between the yields of a running job, so during a generation a
preview waits for the frame being generated (a quarter of a second on a 2-core CPU). The
engine's ``MemoryChanged`` deltas are immutable plain data: a worker thread applies them to a
mirror of its own (the viewport's buffer may show only a share of the points), and while its
live count equals the engine's, renders the playhead camera from it with the render the engine
would run (``engine.render.points.render_points``, the memory's splat radius of 1.5 voxels).
Never on the GUI thread, never touching engine state. Latest request wins; answers arrive on
the GUI thread as ``rendered``.
"""
from __future__ import annotations

import itertools
import threading
import time

import numpy as np
from PySide6.QtCore import QObject, Signal

MAX_LOCAL_POINTS = 300_000      # beyond this the engine (maybe on a GPU) renders faster
MAX_WIDTH = 320                 # as engine.workflows.preview_render's default


class LocalPreview(QObject):
    """``request(camera)`` -> request id (negative: never an engine request id); the render
    arrives as ``rendered(request id, color uint8 [H,W,3], coverage)``, or ``declined(request
    id)`` when the mirror turned out incomplete (then ask the engine).

    The mirror is this object's own: every ``MemoryChanged`` delta (immutable plain data) is
    handed to the worker thread, which applies it to a ``PointBuffer`` without a display
    budget (the viewport's buffer may show only a share of the points)."""

    rendered = Signal(int, object, float)
    declined = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._deltas: list = []           # (delta or None, memory version, engine point count), in order
        self._pending = None              # (request id, camera)
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._voxel = 0.0
        self.mirror_ok = False            # worker: the mirror held the engine's points after its last delta
        self.engine_points = 0
        self.served = 0
        self.render_s: list[float] = []   # wall time of each local render (benchmarks)

    def memory_changed(self, event) -> None:
        """Queue an engine MemoryChanged for the mirror (GUI thread; the worker applies it)."""
        self.engine_points = int(event.num_points)
        with self._lock:
            self._deltas.append((event.delta, int(event.version), int(event.num_points)))
        self._start()
        self._wake.set()

    def complete(self) -> bool:
        """The mirror (as of its last applied delta) held exactly the engine memory's points, and
        the memory is small enough to render here."""
        return self.mirror_ok and 0 < self.engine_points <= MAX_LOCAL_POINTS

    def request(self, camera) -> int:
        if camera.width > MAX_WIDTH:
            camera = camera.scaled(MAX_WIDTH / camera.width)
        rid = -next(self._ids)
        with self._lock:
            self._pending = (rid, camera)
        self._start()
        self._wake.set()
        return rid

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="studio-preview", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)

    # ------------------------------------------------------------------ worker thread
    def _apply(self, buf, deltas) -> None:
        for delta, _version, num_points in deltas:
            if delta is None:                      # "take a snapshot": the mirror cannot follow
                self.mirror_ok = False
                continue
            if delta.since_version == 0:
                buf.clear()
            buf.apply(delta.changed, delta.removed_uids)
            self._voxel = float(getattr(delta.changed, "voxel_size", self._voxel))
            self.mirror_ok = buf.num_alive == num_points and self._voxel > 0

    def _run(self) -> None:
        import logging

        from engine.device import configure_cpu_threads
        from studio.models.project_view import PointBuffer

        configure_cpu_threads()        # OpenMP's thread count is per thread (engine.device)

        buf = PointBuffer()
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            with self._lock:
                deltas, self._deltas = self._deltas, []
                job, self._pending = self._pending, None
            try:
                self._apply(buf, deltas)
            except Exception:  # never fatal: previews then come from the engine
                logging.getLogger(__name__).exception("local preview mirror failed")
                self.mirror_ok = False
            if job is None:
                continue
            rid, camera = job
            if not self.mirror_ok:
                self.declined.emit(rid)
                continue
            live = buf.alive[: buf.size] > 0
            try:
                t0 = time.perf_counter()
                color, coverage = render_snapshot(buf.xyz[: buf.size][live], buf.rgb[: buf.size][live],
                                                  self._voxel, camera)
                self.render_s.append(time.perf_counter() - t0)
            except Exception:
                logging.getLogger(__name__).exception("local preview failed")
                self.declined.emit(rid)
                continue
            self.served += 1
            self.rendered.emit(rid, color, coverage)


def render_snapshot(xyz: np.ndarray, rgb: np.ndarray, voxel_size: float, camera) -> tuple[np.ndarray, float]:
    """Points xyz [N,3] world, rgb [N,3] in [0,1] of a memory on a ``voxel_size`` grid splatted
    into ``camera``: (color uint8 [H,W,3], covered fraction), as ``engine.workflows.preview_render``
    makes it (same splat radius, same conversion)."""
    import torch

    from engine.memory.store import point_radius
    from engine.render.points import render_points
    from engine.workflows.preview import preview_image

    return preview_image(render_points(torch.from_numpy(xyz), torch.from_numpy(rgb), camera, point_radius(voxel_size)))
