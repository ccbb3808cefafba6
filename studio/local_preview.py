"""The playhead preview while the engine is busy: the studio's own copy of the memory rendered
on a worker thread.

The engine serves previews between the yields of a running job, so during a generation a
preview waits for the frame being generated (a quarter of a second on a 2-core CPU). The
studio already mirrors every point of the memory (``ProjectView.points``, from the engine's
``MemoryChanged`` deltas). When that mirror is complete (no display budget dropped points and
its live count equals the engine's), the same point render the engine would run
(``engine.render.points.render_points`` with the memory's splat radius, 1.5 voxels) is made
here from a copy of the mirror, on one worker thread: never on the GUI thread, and without
touching engine state. Latest request wins; answers arrive on the GUI thread as ``rendered``.
"""
from __future__ import annotations

import itertools
import threading

import numpy as np
from PySide6.QtCore import QObject, Signal

MAX_LOCAL_POINTS = 300_000      # beyond this the engine (maybe on a GPU) renders faster
MAX_WIDTH = 320                 # as engine.workflows.preview_render's default


class LocalPreview(QObject):
    """``request(camera)`` -> request id (negative: never an engine request id); the render
    arrives as ``rendered(request id, color uint8 [H,W,3], coverage)``."""

    rendered = Signal(int, object, float)

    def __init__(self, project_view, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pv = project_view
        self.engine_points = -1           # live points in the engine's memory (MemoryChanged)
        self.engine_version = -1
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending = None              # (request id, camera, snapshot)
        self._snapshot = None             # (memory version, xyz [N,3] float32, rgb [N,3] float32, radius)
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.served = 0

    def memory_changed(self, event) -> None:
        """Track the engine's point count (GUI thread, after the mirror applied the delta)."""
        self.engine_points = int(event.num_points)
        self.engine_version = int(event.version)

    def complete(self) -> bool:
        """The mirror holds exactly the engine memory's points (so a render of it is the engine's)."""
        pts = self.pv.points
        return (pts.keep_fraction >= 1.0 and self.pv.voxel_size > 0 and self.pv.memory_version == self.engine_version
                and 0 < self.engine_points <= MAX_LOCAL_POINTS and pts.num_alive == self.engine_points)

    def _current_snapshot(self):
        version = self.pv.memory_version
        if self._snapshot is None or self._snapshot[0] != version:
            pts = self.pv.points
            live = pts.alive[: pts.size] > 0
            self._snapshot = (version, np.ascontiguousarray(pts.xyz[: pts.size][live]),
                              np.ascontiguousarray(pts.rgb[: pts.size][live]), 1.5 * self.pv.voxel_size)
        return self._snapshot

    def request(self, camera) -> int:
        if camera.width > MAX_WIDTH:
            camera = camera.scaled(MAX_WIDTH / camera.width)
        rid = -next(self._ids)
        with self._lock:
            self._pending = (rid, camera, self._current_snapshot())
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="studio-preview", daemon=True)
            self._thread.start()
        self._wake.set()
        return rid

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            with self._lock:
                job, self._pending = self._pending, None
            if job is None:
                continue
            rid, camera, (_version, xyz, rgb, radius) = job
            try:
                color, coverage = render_snapshot(xyz, rgb, radius, camera)
            except Exception:  # never fatal: the engine path still works
                import logging

                logging.getLogger(__name__).exception("local preview failed")
                continue
            self.served += 1
            self.rendered.emit(rid, color, coverage)


def render_snapshot(xyz: np.ndarray, rgb: np.ndarray, radius_world: float, camera) -> tuple[np.ndarray, float]:
    """Points xyz [N,3] world, rgb [N,3] in [0,1] splatted (radius_world meters) into ``camera``:
    (color uint8 [H,W,3], covered fraction), as ``engine.workflows.preview_render`` makes it."""
    import torch

    from engine.render.points import render_points

    result = render_points(torch.from_numpy(xyz), torch.from_numpy(rgb), camera, radius_world)
    color = (result.color.clamp(0, 1) * 255 + 0.5).to(dtype=torch.uint8).numpy()
    return color, result.coverage
