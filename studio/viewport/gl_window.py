"""A VisPy canvas backend that draws into a ``QWindow`` embedded with
``QWidget.createWindowContainer``, so that no ``QOpenGLWidget`` is in the main window.

Why: VisPy's Qt 6 backend is a ``QOpenGLWidget``. One such widget anywhere in a top-level
window makes Qt compose the *whole* window through OpenGL on every backing-store flush (the
widgets are uploaded as a texture and blended with the GL widget's texture, even when that
widget sits in a native window of its own). On a software rasterizer (llvmpipe under Xvfb) that
flush cost 24 ms on average and up to 130 ms per repaint of any widget (a progress bar, a
label, the timeline): half of every long GUI stall (benchmarks/RESULTS.md). A ``QWindow`` with
its own ``QOpenGLContext`` inside a window container is a native child window: Qt flushes the
widgets on the raster path and the 3D view presents itself with ``swapBuffers``.

``WindowCanvasBackend`` is a plain ``QWidget`` (what ``canvas.native`` is: layouts, focus, key
events, ``setAttribute``, test events sent with ``QApplication.sendEvent`` all keep working) that
holds the container. The GL window forwards its mouse and wheel events to the widget's VisPy
handlers (same coordinates: the window fills the widget) and never takes the keyboard focus (a
click focuses the widget, so keys and the main window's shortcuts behave as before). Before the
window is exposed (hidden, or not shown yet), the context is made current on an offscreen surface,
so ``canvas.render()`` (an FBO) works as with the stock backend. After the first frame the GL
work moves to a render thread (``studio.viewport.gl_thread``); ``_paint`` then only builds the
frame's commands.

Screenshots: ``QWidget.grab()`` does not see a native child window; ``grabFramebuffer()`` returns
what the GL window shows on screen (an X screen grab of the window), and
``studio.viewport.snapshot.grab_window`` composes a whole window with it.
"""
from __future__ import annotations

import contextlib
from functools import lru_cache

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import (QGuiApplication, QImage, QOffscreenSurface, QOpenGLContext, QPlatformSurfaceEvent, QSurface,
                           QWindow)
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.viewport import gl_thread


_NURSERY: list[QWindow] = []


def _nursery() -> QWindow:
    """A never-shown QWindow that is the GL windows' first parent. A QWindow made without a
    parent is owned by Python, which deletes it at exit before the window container that
    holds it (a segfault in QWindowContainer::toplevelAboutToBeDestroyed); made with a parent
    it is owned by C++, then by the container (createWindowContainer reparents it)."""
    if not _NURSERY:
        _NURSERY.append(QWindow())
    return _NURSERY[0]


class GLWindow(QWindow):
    """The native OpenGL window; every input event goes to ``backend`` (a WindowCanvasBackend)."""

    def __init__(self, backend, surface_format) -> None:
        super().__init__(_nursery())
        self.setSurfaceType(QSurface.SurfaceType.OpenGLSurface)
        self.setFormat(surface_format)
        self.setFlag(Qt.WindowType.WindowDoesNotAcceptFocus, True)
        self._backend = backend

    def event(self, ev) -> bool:  # noqa: D401 (Qt API)
        if ev.type() == QEvent.Type.UpdateRequest:
            self._backend._paint()
            return True
        if ev.type() == QEvent.Type.PlatformSurface:
            try:    # (also sent while the interpreter shuts down: an exception here would crash it)
                if ev.surfaceEventType() == QPlatformSurfaceEvent.SurfaceEventType.SurfaceAboutToBeDestroyed:
                    self._backend._stop_render_thread()      # nothing may draw into the surface any more
            except BaseException:  # noqa: BLE001
                pass
        return super().event(ev)

    def exposeEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        if self.isExposed():
            self._backend._exposed()

    def mousePressEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        self._backend.setFocus(Qt.FocusReason.MouseFocusReason)
        self._backend.mousePressEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        self._backend.mouseReleaseEvent(ev)

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        self._backend.mouseDoubleClickEvent(ev)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        self._backend.mouseMoveEvent(ev)

    def wheelEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        self._backend.wheelEvent(ev)


@lru_cache(maxsize=1)
def window_canvas_backend():
    """The backend class. Built on first use: VisPy's Qt base class exists only once VisPy's
    Qt application backend (pyside6) is loaded."""
    from vispy.app.backends._qt import QtBaseCanvasBackend, _set_config

    class WindowCanvasBackend(QtBaseCanvasBackend, QWidget):
        """VisPy canvas backend: a QWidget holding a window container with a GLWindow."""

        def _init_specific(self, p, kwargs) -> None:
            fmt = _set_config(p.context.config)
            fmt.setSwapInterval(1 if p.vsync else 0)
            p.context.shared.add_ref("qt-window", self)
            if p.context.shared.ref is not self:
                raise RuntimeError("WindowCanvasBackend does not share GL contexts between canvases")
            QWidget.__init__(self, p.parent, Qt.WindowType.Widget)
            # no parent: the context moves to the render thread (gl_thread); the surface is
            # a child of the widget and goes with it, before the app
            self._gl_context = QOpenGLContext()
            self._gl_context.setFormat(fmt)
            if not self._gl_context.create():
                raise RuntimeError("could not create an OpenGL context")
            self._offscreen = QOffscreenSurface(None, self)
            self._offscreen.setFormat(self._gl_context.format())
            self._offscreen.create()
            self._gl_window = GLWindow(self, self._gl_context.format())
            self._container = QWidget.createWindowContainer(self._gl_window, self)
            self._container.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self._container.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
            # a native container hosts the GL window in its own native window (not in the
            # top-level's): widgets that float over the viewport (the jobs strip) can then
            # stack above it, as siblings of the viewport's native ancestors
            self._container.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)
            layout = QVBoxLayout(self)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.addWidget(self._container)
            self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
            self._gl_initialized = False
            self._render_thread = None       # gl_thread.RenderThread once the first frame is shown
            self._again = False              # a frame was asked for while one was in flight
            self._initialized = True

        # ------------------------------------------------------------------ GL
        def _make_current(self) -> bool:
            """Current on the window once it is shown, else on the offscreen surface."""
            ctx = getattr(self, "_gl_context", None)
            if ctx is None:
                return False
            surface = self._gl_window if self._gl_window.isExposed() else self._offscreen
            if QOpenGLContext.currentContext() is ctx and ctx.surface() is surface:
                ok = True
            else:
                ok = ctx.makeCurrent(surface)
            return ok

        @property
        def threaded(self) -> bool:
            """The context lives on the render thread (GL calls here only while borrowed)."""
            t = self._render_thread
            return t is not None and not t.batcher.direct.is_set()

        @property
        def frame_in_flight(self) -> bool:
            return self._render_thread is not None and self._render_thread.in_flight

        def _vispy_set_current(self) -> None:
            if self._vispy_canvas is not None and not self.threaded:
                self._make_current()

        def _vispy_swap_buffers(self) -> None:
            if self._vispy_canvas is not None and not self.threaded and self._gl_window.isExposed():
                self._gl_context.swapBuffers(self._gl_window)

        def _vispy_get_fb_bind_location(self) -> int:
            return 0                         # a window's (and an offscreen surface's) default framebuffer

        def gl_borrowed(self):
            """Context manager: GL calls may run on the GUI thread inside (``canvas.render()``,
            ``read_pixels``); the render thread waits meanwhile."""
            if self._render_thread is None:
                return contextlib.nullcontext()
            return self._render_thread.borrow(self._offscreen)

        def _start_render_thread(self) -> None:
            shared = self._vispy_canvas.context.shared
            batcher = gl_thread.GlirBatcher(shared.parser)
            shared.parser = batcher
            thread = gl_thread.RenderThread(self._gl_context, self._gl_window, self._offscreen, batcher)
            thread.presented.connect(self._presented)
            self._render_thread = thread
            thread.begin()

        def _stop_render_thread(self) -> None:
            """Back to drawing on the GUI thread (the surface goes, or the canvas closes)."""
            thread, self._render_thread = self._render_thread, None
            if thread is None:
                return
            thread.surface_going()
            thread.stop()
            self._vispy_canvas.context.shared.parser = thread.batcher.parser
            pending = thread.batcher.take()
            if pending and self._gl_context.makeCurrent(self._offscreen):
                thread.batcher.parser.parse(pending)

        def _presented(self, _seconds: float) -> None:
            presented = getattr(self._vispy_canvas, "frame_presented", None)
            if presented is not None:
                presented()
            if self._again:                  # asked for while in flight: ask again (paced, held)
                self._again = False
                redo = getattr(self._vispy_canvas, "redo_frame", None)
                redo() if redo is not None else self._gl_window.requestUpdate()

        def _exposed(self) -> None:
            """The window was shown or uncovered: the first frame at once, later ones as a paced
            redraw (an uncovered window is redrawn with the next frame, under the same pacing
            and hold as any other change: another window moving over this one draws nothing
            extra on the GUI thread)."""
            if not self._gl_initialized:
                self._paint()
            elif self._vispy_canvas is not None:
                self._vispy_canvas.update()

        def _vispy_update(self) -> None:
            if self._vispy_canvas is not None:
                self._gl_window.requestUpdate()

        def _paint(self) -> None:
            """Draw a frame into the window and present it (expose or update request): the
            first one here, later ones on the render thread (the GUI thread builds the frame's
            GLIR commands and hands them over; one frame in flight at most)."""
            if self._vispy_canvas is None or not self._gl_window.isExposed():
                return
            thread = self._render_thread
            if thread is not None:
                if thread.in_flight:
                    self._again = True
                    return
                self._vispy_canvas.events.draw(region=None)
                thread.submit(present=True)
                return
            if not self._make_current():
                return
            if not self._gl_initialized:           # as the stock backend: once, when first shown
                self._gl_initialized = True
                self._vispy_canvas.events.initialize()
            self._vispy_canvas.events.draw(region=None)
            self._gl_context.swapBuffers(self._gl_window)
            presented = getattr(self._vispy_canvas, "frame_presented", None)
            if presented is not None:
                presented()
            if gl_thread.enabled():
                self._start_render_thread()

        def _vispy_close(self) -> None:
            self._stop_render_thread()
            ctx = getattr(self, "_gl_context", None)
            if ctx is not None and QOpenGLContext.currentContext() is ctx:
                ctx.doneCurrent()
            self.close()

        # ------------------------------------------------------------------ Qt
        def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt API)
            QWidget.resizeEvent(self, ev)
            if self._vispy_canvas is None:
                return
            w, h = ev.size().width(), ev.size().height()
            ratio = self.devicePixelRatioF()
            self._vispy_set_physical_size(int(w * ratio), int(h * ratio))
            self._vispy_canvas.events.resize(size=(w, h), physical_size=self._physical_size)

        def paintEvent(self, ev) -> None:  # noqa: N802 (Qt API)
            pass                       # the GL window covers the widget; nothing to paint here

        @property
        def gl_window(self) -> QWindow:
            return self._gl_window

        def grabFramebuffer(self) -> QImage:  # noqa: N802 (the QOpenGLWidget name, for callers of both)
            """What the window shows now, [H,W] as a QImage (a screen grab of the GL window)."""
            screen = self._gl_window.screen() or QGuiApplication.primaryScreen()
            return screen.grabWindow(self._gl_window.winId()).toImage()

    return WindowCanvasBackend
