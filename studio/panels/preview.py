"""The preview pane: the memory rendered from the playhead camera, the generated frame
when one exists, or a clicked captured photo."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """[H,W,3] uint8 -> QImage (a deep copy, safe after the array goes away)."""
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class PreviewPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QLabel("no preview yet")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(240, 135)
        self.image.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image.setStyleSheet("background: #101114; border: 1px solid #333;")
        self.caption = QLabel("")
        self.caption.setObjectName("previewCaption")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.caption)
        self.shown: np.ndarray | None = None   # the last image shown (for tests)
        self.source = ""                        # "memory", "generated" or "captured"
        self.updates = 0

    def show_image(self, rgb: np.ndarray, source: str, caption: str) -> None:
        self.shown, self.source = rgb, source
        self.updates += 1
        self._pixmap = QPixmap.fromImage(qimage_from_rgb(rgb))
        self._rescale()
        self.caption.setText(caption)

    def _rescale(self) -> None:
        if getattr(self, "_pixmap", None) is not None:
            self.image.setPixmap(self._pixmap.scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._rescale()
