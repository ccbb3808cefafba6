"""Timeline at the bottom of the window (pyqtgraph). x = path frame index.

Rows (y): segment status strip [0, 1], keyframe track at 1.6, coverage curve in [2.2, 3.2]
(how much of each target view the memory already covers), generated-frame filmstrip
[3.4, 4.8]. The playhead is a movable ``InfiniteLine``; dragging it sets Playback.frame,
and Playback changes move it back without echo.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

STATUS_COLORS = {"pending": (90, 90, 100), "running": (240, 180, 40), "done": (60, 190, 90),
                 "failed": (220, 60, 50), "cancelled": (140, 100, 100)}
STRIP_Y, KEY_Y, COV_Y, FILM_Y = (0.0, 1.0), 1.6, (2.2, 3.2), (3.4, 4.8)

EMPTY_HINT = ("No camera path yet: press K in the viewport to add keyframes from the view, or pick a "
              "preset (orbit, spiral, …) in the inspector. The timeline then spans the path.")


class SecondsAxis(pg.AxisItem):
    """The bottom axis: x is the path frame; ticks read as seconds at the path's frame rate."""

    def __init__(self, playback, **kwargs) -> None:
        super().__init__(**kwargs)
        self.playback = playback

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        fps = max(float(self.playback.fps), 1e-6)
        decimals = 0 if spacing / fps >= 1 else 1 if spacing / fps >= 0.1 else 2
        return [f"{v / fps:.{decimals}f} s" for v in values]


class TimelineWidget(QWidget):
    keyframeClicked = Signal(int)
    frameDragged = Signal(int)

    def __init__(self, playback, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.playback = playback
        self.axis = SecondsAxis(playback, orientation="bottom")
        self.plot = pg.PlotWidget(background=(30, 32, 36), axisItems={"bottom": self.axis})
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("left")
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setYRange(-0.2, 5.0, padding=0)
        self.plot.setLimits(yMin=-0.5, yMax=5.2)
        self.playhead = pg.InfiniteLine(0, angle=90, movable=True, pen=pg.mkPen((255, 215, 60), width=2),
                                        hoverPen=pg.mkPen((255, 240, 150), width=3))
        self.playhead.setZValue(100)
        self.plot.addItem(self.playhead)
        self.keys = pg.ScatterPlotItem(size=12, symbol="d", brush=pg.mkBrush(60, 150, 255), pen=pg.mkPen("k"))
        self.keys.sigClicked.connect(self._key_clicked)
        self.plot.addItem(self.keys)
        self.coverage = pg.PlotDataItem(pen=pg.mkPen((120, 220, 140), width=2), fillLevel=COV_Y[0],
                                        brush=pg.mkBrush(120, 220, 140, 50))
        self.plot.addItem(self.coverage)
        self._strip_items: list = []
        self._film: dict[tuple[int, int], tuple[int, object, object]] = {}   # (start, step) -> (frame, thumb, item)
        self.segment_rects: dict[int, tuple[tuple, str]] = {}   # id -> ((x0, x1), status), for tests
        self.film_frames: list[int] = []
        self._echo = False
        self._keys_shown: tuple | None = None     # (frames, selected) the diamonds show
        self.playhead.sigPositionChanged.connect(self._line_moved)
        playback.frame_changed.connect(self._frame_changed)
        playback.range_changed.connect(self._range_changed)
        self.hint = QLabel(EMPTY_HINT)
        self.hint.setObjectName("timelineHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("background: rgb(30, 32, 36); color: #9aa4b0;")
        self.pages = QStackedLayout(self)
        self.pages.setContentsMargins(0, 0, 0, 0)
        self.pages.addWidget(self.hint)
        self.pages.addWidget(self.plot)
        self.setMinimumHeight(150)
        self._range_changed(playback.num_frames)

    # ------------------------------------------------------------------ playhead
    def _line_moved(self) -> None:
        if self._echo:
            return
        frame = int(round(self.playhead.value()))
        self.playback.set_frame(frame)
        self.frameDragged.emit(frame)

    def _frame_changed(self, frame: int) -> None:
        if int(round(self.playhead.value())) != frame:
            self._echo = True
            try:
                self.playhead.setValue(frame)
            finally:
                self._echo = False

    def _range_changed(self, n: int) -> None:
        """The x axis spans the path's frames (no path: the plot gives way to a hint)."""
        self.pages.setCurrentIndex(1 if n > 0 else 0)
        self.playhead.setBounds((0, max(n - 1, 0)))
        lo, hi = -0.5, max(n, 1) - 0.5
        self.plot.setLimits(xMin=lo, xMax=hi, minXRange=min(4.0, hi - lo))
        self.plot.setXRange(lo, hi, padding=0)

    @property
    def showing_hint(self) -> bool:
        return self.pages.currentIndex() == 0

    # ------------------------------------------------------------------ tracks
    def set_keyframes(self, frames, selected=()) -> None:
        """Keyframe diamonds; unchanged frames and selection rebuild nothing (a path redraw
        for new coverage calls this with the same keyframes)."""
        frames = list(frames)
        key = (tuple(frames), tuple(sorted(i for i in selected if i < len(frames))))
        if key == self._keys_shown:
            return
        self._keys_shown = key
        brushes = [pg.mkBrush(255, 215, 60) if i in selected else pg.mkBrush(60, 150, 255) for i in range(len(frames))]
        self.keys.setData(x=frames, y=[KEY_Y] * len(frames), brush=brushes, data=list(range(len(frames))))

    def _key_clicked(self, _item, points, *args) -> None:
        if len(points):
            self.keyframeClicked.emit(int(points[0].data()))

    def set_coverage(self, coverage: np.ndarray | None) -> None:
        if coverage is None or len(coverage) == 0:
            self.coverage.setData([], [])
            return
        x = np.arange(len(coverage))
        self.coverage.setData(x, COV_Y[0] + np.clip(coverage, 0, 1) * (COV_Y[1] - COV_Y[0]))

    def set_segments(self, segments) -> None:
        """segments: iterable of SegmentState (segment_id, frame_start, frame_stop, status).
        A status change (the common case while a path generates) recolours the strip's bars in
        place; only a new plan (other segments or ranges) replaces the item."""
        segs = list(segments)
        rects = {s.segment_id: ((s.frame_start, s.frame_stop), s.status) for s in segs}
        brushes = [pg.mkBrush(*STATUS_COLORS.get(s.status, (90, 90, 90))) for s in segs]
        same_plan = (len(self._strip_items) == 1 and list(rects) == list(self.segment_rects)
                     and all(rects[k][0] == self.segment_rects[k][0] for k in rects))
        if same_plan:
            if rects != self.segment_rects:
                self._strip_items[0].setOpts(brushes=brushes)
            self.segment_rects = rects
            return
        for item in self._strip_items:
            self.plot.removeItem(item)
        self._strip_items, self.segment_rects = [], {}
        if not segs:
            return
        x0 = np.array([s.frame_start for s in segs], float) - 0.5
        widths = np.array([s.frame_stop - s.frame_start for s in segs], float)
        bars = pg.BarGraphItem(x0=x0, width=widths - 0.15, y0=STRIP_Y[0], height=STRIP_Y[1] - STRIP_Y[0],
                               brushes=brushes, pen=pg.mkPen((20, 20, 20)))
        self.plot.addItem(bars)
        self._strip_items.append(bars)
        self.segment_rects = rects

    def set_filmstrip(self, thumbs: dict, num_frames: int) -> None:
        """Thumbnails of generated frames: every ``step``-th frame spans step frames. Items
        already drawn for the same slot and thumbnail stay (a redraw per finished segment
        adds only the new ones)."""
        want: dict[tuple[int, int], tuple[int, object]] = {}
        if thumbs and num_frames > 0:
            step = max(1, int(np.ceil(num_frames / 14)))
            for start in range(0, num_frames, step):
                frame = next((f for f in range(start, min(start + step, num_frames)) if f in thumbs), None)
                if frame is not None:
                    want[(start, step)] = (frame, thumbs[frame])
        for key, (frame, thumb, item) in list(self._film.items()):
            if key not in want or want[key][0] != frame or want[key][1] is not thumb:
                self.plot.removeItem(item)
                del self._film[key]
        for (start, step), (frame, thumb) in want.items():
            if (start, step) not in self._film:
                img = pg.ImageItem(np.ascontiguousarray(np.flipud(thumb).transpose(1, 0, 2)))
                img.setRect(start - 0.5, FILM_Y[0], step * 0.96, FILM_Y[1] - FILM_Y[0])
                self.plot.addItem(img)
                self._film[(start, step)] = (frame, thumb, img)
        self.film_frames = [self._film[k][0] for k in sorted(self._film)]

    def frame_to_scene_x(self, frame: float) -> float:
        """Widget x pixel of a frame (for tests that drag the playhead)."""
        vb = self.plot.getViewBox()
        pt = vb.mapViewToScene(pg.Point(frame, 0.5))
        return self.plot.mapFromScene(pt).x()
