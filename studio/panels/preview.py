"""The preview pane: the memory rendered from the playhead camera (or from the viewport camera
while there is no path), the generated frame when one exists, or a clicked captured photo.

Compare: side by side, or a wipe (drag across the image to move the split), between the
path frame shown and the captured photo nearest to its camera (the window asks the engine
for that photo and hands it over with ``set_reference``)."""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

EMPTY_TEXT = ("Nothing to preview yet.\nOpen a video, photos or the demo scene (File menu): "
              "the scene then shows here from the viewport camera, and from the playhead once a path exists.")
COMPARE_MODES = {"off": "Compare: off", "side": "Side by side", "wipe": "Wipe"}
PATH_SOURCES = ("memory", "generated", "viewport")      # what can be compared with a photo
DIVIDER = np.array([255, 215, 60], np.uint8)


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """[H,W,3] uint8 -> QImage (a deep copy, safe after the array goes away)."""
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def fit_into(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` [h,w,3] scaled to fit inside width x height, centered on black (letterbox)."""
    h, w = rgb.shape[:2]
    s = min(width / w, height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y:y + nh, x:x + nw] = small[..., :3]
    return out


def compose(main: np.ndarray, reference: np.ndarray, mode: str, wipe: float = 0.5) -> np.ndarray:
    """The compare image: ``side`` puts ``reference`` (fit to main's size) right of ``main``
    with a 2-pixel divider; ``wipe`` shows main left of column ``wipe * W`` and the reference
    right of it, with a 1-pixel divider. [H,W(,2W+2),3] uint8."""
    h, w = main.shape[:2]
    ref = fit_into(reference, w, h)
    if mode == "side":
        divider = np.broadcast_to(DIVIDER, (h, 2, 3))
        return np.concatenate([main[..., :3], divider, ref], axis=1)
    out = np.array(main[..., :3], dtype=np.uint8, copy=True)
    x = int(round(np.clip(wipe, 0.0, 1.0) * w))
    out[:, x:] = ref[:, x:]
    out[:, min(max(x - 1, 0), w - 1)] = DIVIDER
    return out


class _Image(QLabel):
    """The picture; a press or drag sets the wipe position (fraction of the image width)."""

    wipeMoved = Signal(float)

    def __init__(self) -> None:
        super().__init__(EMPTY_TEXT)
        self.setObjectName("previewImage")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumSize(240, 135)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setStyleSheet("background: #101114; border: 1px solid #333; color: #9aa4b0; padding: 8px;")
        self.content_width = 0          # width of the main image inside the composite (pixmap px)
        self.total_width = 0

    def image_rect(self):
        pm = self.pixmap()
        if pm is None or pm.isNull():
            return None
        x0 = (self.width() - pm.width()) / 2
        y0 = (self.height() - pm.height()) / 2
        return x0, y0, pm.width(), pm.height()

    def _wipe(self, pos) -> None:
        rect = self.image_rect()
        if rect is not None and rect[2] > 0:
            self.wipeMoved.emit(float(np.clip((pos.x() - rect[0]) / rect[2], 0.0, 1.0)))

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._wipe(event.position())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._wipe(event.position())


class PreviewPane(QWidget):
    compareChanged = Signal(str)            # "off", "side" or "wipe"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = _Image()
        self.image.wipeMoved.connect(self.set_wipe)
        self.compare_mode = QComboBox()
        self.compare_mode.setObjectName("compareMode")
        for key, text in COMPARE_MODES.items():
            self.compare_mode.addItem(text, key)
        self.compare_mode.setToolTip("compare the path frame with the captured photo nearest to its camera")
        self.compare_mode.currentIndexChanged.connect(self._mode_chosen)
        self.caption = QLabel("")
        self.caption.setObjectName("previewCaption")
        self.caption.setWordWrap(True)
        self.ref_caption = QLabel("")
        self.ref_caption.setObjectName("compareCaption")
        self.ref_caption.setWordWrap(True)
        self.ref_caption.setVisible(False)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addStretch(1)
        top.addWidget(self.compare_mode)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.ref_caption)
        self.shown: np.ndarray | None = None   # the last image shown (for tests)
        self.source = ""                        # "memory", "viewport", "generated", "captured" or "splats"
        self.updates = 0
        self.mode = "off"
        self.wipe = 0.5
        self.reference: np.ndarray | None = None
        self.reference_name = ""
        self.displayed: np.ndarray | None = None   # what is drawn: shown, or the compare composite
        self._pixmap: QPixmap | None = None
        self._labels: tuple[str, str] | None = None

    # ------------------------------------------------------------------ content
    def show_image(self, rgb: np.ndarray, source: str, caption: str) -> None:
        self.shown, self.source = rgb, source
        self.updates += 1
        self.caption.setText(caption)
        self._redraw()

    def set_reference(self, rgb: np.ndarray | None, name: str = "", caption: str = "") -> None:
        """The captured photo to compare with (None: none known)."""
        self.reference, self.reference_name = rgb, name
        self.ref_caption.setText(caption)
        self._redraw()

    @property
    def comparing(self) -> bool:
        return (self.mode != "off" and self.reference is not None and self.shown is not None
                and self.source in PATH_SOURCES)

    def set_mode(self, mode: str) -> None:
        self.compare_mode.setCurrentIndex(list(COMPARE_MODES).index(mode))

    def _mode_chosen(self, index: int) -> None:
        self.mode = self.compare_mode.itemData(index)
        self._redraw()
        self.compareChanged.emit(self.mode)

    def set_wipe(self, fraction: float) -> None:
        self.wipe = float(np.clip(fraction, 0.0, 1.0))
        if self.comparing and self.mode == "wipe":
            self._redraw()

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        self.ref_caption.setVisible(self.mode != "off")
        if self.shown is None:
            return
        comparing = self.comparing
        self.displayed = compose(self.shown, self.reference, self.mode, self.wipe) if comparing else self.shown
        self._pixmap = QPixmap.fromImage(qimage_from_rgb(self.displayed))
        self._labels = (self.source, f"photo {self.reference_name}") if comparing else None
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        size = self.image.size()
        pm = self._pixmap.scaled(max(size.width() - 2, 1), max(size.height() - 2, 1),
                                 Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        if self._labels is not None:
            self._draw_labels(pm)
        self.image.setPixmap(pm)

    def _draw_labels(self, pm: QPixmap) -> None:
        """Name both halves on the drawn image: which side is the frame, which the photo."""
        painter = QPainter(pm)
        font = QFont(painter.font())
        font.setPointSize(8)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        left, right = self._labels
        for text, right_aligned in ((left, False), (right, True)):
            w = metrics.horizontalAdvance(text) + 8
            x = pm.width() - w - 2 if right_aligned else 2
            painter.fillRect(x, 2, w, metrics.height() + 2, QColor(0, 0, 0, 170))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(QPoint(x + 4, 2 + metrics.ascent() + 1), text)
        painter.end()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._rescale()
