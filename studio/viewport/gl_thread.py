"""Run the viewport's OpenGL work on a render thread, so that the GUI thread never waits for
the rasterizer.

Why: on a software rasterizer (llvmpipe) a frame of the viewport costs the GUI thread ~15 ms of
its own work (VisPy's scene traversal, llvmpipe's vertex stage) and then a wait for llvmpipe's
rasterizer threads (~20 ms on an idle 2-core machine, several times that when other processes
compete for the cores): one event of 40-460 ms, the longest GUI-thread stalls in
benchmarks/bench_gui.py. Here VisPy still builds each frame on the GUI thread, but as GLIR
commands only (its command language, plain data); the render thread executes them with the
canvas' QOpenGLContext (moved to it) and presents the frame (Qt Quick's threaded render loop,
for VisPy). The GUI thread's share of a frame is the scene traversal.

``GlirBatcher`` replaces the context's GLIR parser: called on the GUI thread it collects the
commands (they go out with the next frame); called on the render thread, or while the GUI
thread holds the context (``RenderThread.borrow``: ``canvas.render()``, direct GL calls such as
``read_pixels``), it executes them. At most one frame is in flight; a frame asked for meanwhile
is drawn when it is done. A thread is stopped (the context comes back to the GUI thread) before
its window's surface goes away, and at exit. ``ANYRECON_GL_THREAD=0`` keeps the GL work on the
GUI thread.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time

from PySide6.QtCore import QCoreApplication, QThread, Signal
from vispy.gloo import gl
from vispy.gloo.glir import BaseGlirParser

log = logging.getLogger(__name__)
_RUNNING: set["RenderThread"] = set()     # a QThread collected while it runs aborts the process


def enabled() -> bool:
    return os.environ.get("ANYRECON_GL_THREAD", "1") != "0"


class GlirBatcher(BaseGlirParser):
    """Stands in for VisPy's GlirParser: batches on the GUI thread, executes elsewhere."""

    def __init__(self, parser) -> None:
        super().__init__()
        self.parser = parser                 # the real GlirParser (its GL objects, capabilities)
        self.direct = threading.Event()      # set: the GUI thread holds the context (execute)
        self._lock = threading.Lock()
        self._batch: list = []
        self._gui = threading.main_thread()

    def __getattr__(self, name):             # capabilities, env, get_object, shader_compatibility ...
        return getattr(self.parser, name)

    def is_remote(self) -> bool:
        return False

    @property
    def shader_compatibility(self):
        return self.parser.shader_compatibility

    def parse(self, commands) -> None:
        if threading.current_thread() is self._gui and not self.direct.is_set():
            with self._lock:
                self._batch.extend(commands)
            return
        self.parser.parse(commands)

    def take(self) -> list:
        """The commands collected so far (GUI thread: they go out with a frame)."""
        with self._lock:
            batch, self._batch = self._batch, []
        return batch


class RenderThread(QThread):
    """Executes frames (GLIR batches) with ``context`` and presents them in ``window``.
    ``presented(seconds)`` is emitted (queued to the GUI thread) after each frame."""

    presented = Signal(float)

    def __init__(self, context, window, offscreen, batcher: GlirBatcher) -> None:
        super().__init__()
        self.context, self.window, self.offscreen, self.batcher = context, window, offscreen, batcher
        self._tasks: queue.Queue = queue.Queue()
        self.in_flight = False               # a frame was handed over and is not presented yet
        self.surface_ok = True               # the window's surface exists (GUI thread clears it)
        self.surface_lock = threading.Lock()  # held while the thread draws into the window
        self.setObjectName("viewport-gl")

    # ------------------------------------------------------------------ GUI thread
    def begin(self) -> None:
        """Take the context (current on no surface) and start."""
        self.context.doneCurrent()
        self.context.moveToThread(self)
        _RUNNING.add(self)
        self.start()

    def submit(self, present: bool) -> None:
        """Hand over the commands of the frame just built (and any collected before it)."""
        self.in_flight = True
        self._tasks.put(("frame", self.batcher.take(), present, time.perf_counter()))

    @contextlib.contextmanager
    def borrow(self, surface):
        """The context on the GUI thread, current on ``surface``, for direct GL work; the
        commands collected so far are executed first."""
        self._call(self._hand_back)
        self.batcher.direct.set()
        try:
            self.context.makeCurrent(surface)
            self.batcher.parser.parse(self.batcher.take())
            yield
        finally:
            self.context.doneCurrent()
            self.batcher.direct.clear()
            self.context.moveToThread(self)

    def stop(self) -> None:
        """End the thread; the context comes back to the GUI thread (current on nothing)."""
        if self.isRunning():
            self._call(self._hand_back)
            self._tasks.put(None)
            self.wait()
        _RUNNING.discard(self)

    def surface_going(self) -> None:
        """The window's surface is about to be destroyed: draw no more into it."""
        with self.surface_lock:
            self.surface_ok = False

    def _call(self, fn) -> None:
        done = threading.Event()
        self._tasks.put(("call", fn, done))
        done.wait()

    # ------------------------------------------------------------------ render thread
    def _hand_back(self) -> None:
        self.context.doneCurrent()
        self.context.moveToThread(QCoreApplication.instance().thread())

    def run(self) -> None:  # noqa: D401 (QThread API)
        while True:
            task = self._tasks.get()
            if task is None:
                return
            if task[0] == "call":
                try:
                    task[1]()
                finally:
                    task[2].set()
                continue
            _, commands, present, t_submit = task
            t0 = time.perf_counter()
            try:
                self._frame(commands, present)
            except Exception:  # a GL error must not end the thread: log it, keep drawing
                log.exception("viewport frame failed on the render thread")
            self.in_flight = False
            self.presented.emit(time.perf_counter() - t0)

    def _frame(self, commands, present: bool) -> None:
        with self.surface_lock:
            on_window = present and self.surface_ok
            if not self.context.makeCurrent(self.window if on_window else self.offscreen):
                return
            try:
                self.batcher.parser.parse(commands)
                # wait for the rasterizer in a ctypes call, which lets go of the GIL (a Qt call
                # may hold it while the driver waits: the GUI thread would wait too)
                gl.glFinish()
                if on_window:
                    self.context.swapBuffers(self.window)
            finally:
                self.context.doneCurrent()


@atexit.register
def _stop_all() -> None:
    for thread in list(_RUNNING):
        try:
            thread.stop()
        except RuntimeError:                 # its Qt object is gone already
            pass
