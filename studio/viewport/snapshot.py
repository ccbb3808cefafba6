"""Screenshots of a window that holds a 3D viewport.

``QWidget.grab()`` renders the widgets, but the viewport draws into a native GL window
(``studio.viewport.gl_window``) that the widget renderer does not see: it would come out as an
empty rectangle. ``grab_window`` paints each canvas' frame into the grab (the frame on screen;
for a canvas not on screen, one rendered off-screen from the same scene), then the native
widgets that float over it (the jobs strip), as they are stacked on screen.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QWidget


def _canvas_backends(window: QWidget) -> list[QWidget]:
    return [w for w in window.findChildren(QWidget) if hasattr(w, "gl_window") and w.isVisible()]


def _image(rgba: np.ndarray) -> QImage:
    rgba = np.ascontiguousarray(rgba[..., :4])
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def grab_window(window: QWidget) -> QPixmap:
    """``window.grab()`` with every visible 3D canvas' frame and the native widgets over it."""
    pix = window.grab()
    canvases = _canvas_backends(window)
    if not canvases:
        return pix
    painter = QPainter(pix)
    try:
        for backend in canvases:
            if backend.gl_window.isExposed():
                frame = backend.grabFramebuffer()          # the frame on screen
            else:
                frame = _image(backend._vispy_canvas.render())
            painter.drawImage(backend.mapTo(window, QPoint(0, 0)), frame.scaled(backend.size()))
        for w in window.findChildren(QWidget):
            floating = (w.isVisible() and w.testAttribute(Qt.WidgetAttribute.WA_NativeWindow)
                        and not any(w is b or w.isAncestorOf(b) or b.isAncestorOf(w) for b in canvases))
            if floating:
                painter.drawPixmap(w.mapTo(window, QPoint(0, 0)), w.grab())
    finally:
        painter.end()
    return pix
