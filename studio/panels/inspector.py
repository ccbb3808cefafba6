"""The inspector: keyframe FOV / time / position, path settings, presets, display options,
and the generation controls. It only emits intents; the controller turns them into
undoable model edits, and ``refresh`` shows model state (signals blocked: no echo)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget)

PRESET_NAMES = ("orbit", "spiral", "dolly-in", "dolly-out", "through", "beyond", "orbit-360")
PRESET_TIPS = {"orbit": "Around the subject over the side the capture filmed (all round if it went all round)",
               "spiral": "Closing in on the subject over the side the capture filmed (two turns if it went all round)",
               "orbit-360": "The full circle around the subject, also the sides nobody filmed (invented)"}


def hint_text(num_keyframes: int) -> str:
    """What the keyframe box says when no keyframe is selected: what to do next."""
    if num_keyframes == 0:
        return ("No camera path yet.\nPress K in the viewport to add a keyframe from the current view "
                "(two or more make a path), or pick a preset below.")
    return (f"{num_keyframes} keyframe{'s' if num_keyframes != 1 else ''}, none selected.\n"
            "Click a keyframe in the viewport or on the timeline to edit it; K adds one from the view.")


def _spin(lo, hi, step, decimals=2, suffix="") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setDecimals(decimals)
    s.setSuffix(suffix)
    s.setKeyboardTracking(False)
    return s


class Inspector(QWidget):
    keyframeEdited = Signal(str, object)      # field ("fov", "time", "x", "y", "z"), value
    deleteKeyframes = Signal()
    settingEdited = Signal(str, object)       # PathSettings field, value
    presetRequested = Signal(str)
    displayChanged = Signal(str, object)      # "size", "captured", "generated", "color"
    generateRequested = Signal()
    generatorChosen = Signal(str)             # registry name of the novel-view generator
    cancelRequested = Signal()
    regenerateRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(self._keyframe_box())
        layout.addWidget(self._path_box())
        layout.addWidget(self._display_box())
        layout.addWidget(self._generate_box())
        layout.addStretch(1)

    def _keyframe_box(self) -> QGroupBox:
        box = QGroupBox("Keyframe")
        pages = QVBoxLayout(box)
        self.kf_hint = QLabel(hint_text(0))
        self.kf_hint.setObjectName("keyframeHint")
        self.kf_hint.setWordWrap(True)
        self.kf_hint.setStyleSheet("color: #9aa4b0; padding: 6px;")
        self.kf_hint.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        fields = QWidget()
        form = QFormLayout(fields)
        form.setContentsMargins(0, 0, 0, 0)
        pages.addWidget(self.kf_hint)
        pages.addWidget(fields)
        self.kf_fields = fields
        fields.setVisible(False)
        self.kf_label = QLabel("")
        self.fov = _spin(5, 170, 1, 1, "°")
        self.time = _spin(0, 3600, 0.1, 2, " s")
        self.pos = [_spin(-1000, 1000, 0.05, 3) for _ in range(3)]
        form.addRow(self.kf_label)
        form.addRow("FOV", self.fov)
        form.addRow("Time", self.time)
        for name, spin in zip("xyz", self.pos):
            form.addRow(name.upper(), spin)
            spin.valueChanged.connect(lambda v, n=name: self.keyframeEdited.emit(n, v))
        self.fov.valueChanged.connect(lambda v: self.keyframeEdited.emit("fov", v))
        self.time.valueChanged.connect(lambda v: self.keyframeEdited.emit("time", v))
        self.delete = QPushButton("Delete keyframe")
        self.delete.clicked.connect(self.deleteKeyframes.emit)
        form.addRow(self.delete)
        self._kf_widgets = [self.fov, self.time, *self.pos, self.delete]
        return box

    def _path_box(self) -> QGroupBox:
        box = QGroupBox("Path")
        form = QFormLayout(box)
        self.tension = _spin(-1, 1, 0.1, 2)
        self.loop = QCheckBox("Loop")
        self.constant_speed = QCheckBox("Constant speed")
        self.fps = _spin(1, 120, 1, 1, " fps")
        self.tension.valueChanged.connect(lambda v: self.settingEdited.emit("tension", v))
        self.loop.toggled.connect(lambda v: self.settingEdited.emit("loop", v))
        self.constant_speed.toggled.connect(lambda v: self.settingEdited.emit("constant_speed", v))
        self.fps.valueChanged.connect(lambda v: self.settingEdited.emit("fps", v))
        form.addRow("Tension", self.tension)
        form.addRow(self.loop)
        form.addRow(self.constant_speed)
        form.addRow("Frame rate", self.fps)
        grid = QGridLayout()
        self.preset_buttons = {}
        for i, name in enumerate(PRESET_NAMES):
            b = QPushButton(name)
            b.setObjectName(f"preset_{name}")
            b.setToolTip(PRESET_TIPS.get(name, ""))
            b.clicked.connect(lambda _=False, n=name: self.presetRequested.emit(n))
            grid.addWidget(b, i // 3, i % 3)
            self.preset_buttons[name] = b
        form.addRow(grid)
        return box

    def _display_box(self) -> QGroupBox:
        box = QGroupBox("Display")
        form = QFormLayout(box)
        self.point_size = QSlider(Qt.Orientation.Horizontal)
        self.point_size.setRange(1, 12)
        self.point_size.setValue(3)
        self.show_captured = QCheckBox("Captured points")
        self.show_generated = QCheckBox("Generated points")
        self.show_captured.setChecked(True)
        self.show_generated.setChecked(True)
        self.color_by = QComboBox()
        self.color_by.addItems(["rgb", "provenance", "confidence"])
        self.point_size.valueChanged.connect(lambda v: self.displayChanged.emit("size", v))
        self.show_captured.toggled.connect(lambda v: self.displayChanged.emit("captured", v))
        self.show_generated.toggled.connect(lambda v: self.displayChanged.emit("generated", v))
        self.color_by.currentTextChanged.connect(lambda v: self.displayChanged.emit("color", v))
        form.addRow("Point size", self.point_size)
        form.addRow(self.show_captured)
        form.addRow(self.show_generated)
        form.addRow("Color by", self.color_by)
        return box

    def _generate_box(self) -> QGroupBox:
        box = QGroupBox("Generate")
        form = QFormLayout(box)
        self.segment_length = QSpinBox()
        self.segment_length.setRange(2, 200)
        self.segment_length.setValue(40)
        form.addRow("Segment length", self.segment_length)
        self.generator = QComboBox()
        self.generator.setObjectName("generatorChoice")
        self.generator.currentIndexChanged.connect(
            lambda i: self.generatorChosen.emit(self.generator.itemData(i)) if i >= 0 else None)
        form.addRow("Generator", self.generator)
        row = QHBoxLayout()
        self.generate = QPushButton("Generate")
        self.generate.setObjectName("generateButton")
        self.cancel = QPushButton("Cancel")
        self.generate.clicked.connect(self.generateRequested.emit)
        self.cancel.clicked.connect(self.cancelRequested.emit)
        row.addWidget(self.generate)
        row.addWidget(self.cancel)
        form.addRow(row)
        row2 = QHBoxLayout()
        self.segment = QSpinBox()
        self.segment.setRange(0, 999)
        self.regenerate = QPushButton("Regenerate segment")
        self.regenerate.clicked.connect(lambda: self.regenerateRequested.emit(self.segment.value()))
        row2.addWidget(self.segment)
        row2.addWidget(self.regenerate)
        form.addRow(row2)
        return box

    def set_generators(self, choices, current: str) -> None:
        """Fill the generator list with (name, summary) pairs; the tooltip says what each does."""
        self.generator.blockSignals(True)
        self.generator.clear()
        for name, summary in choices:
            self.generator.addItem(name, name)
            self.generator.setItemData(self.generator.count() - 1, summary, Qt.ItemDataRole.ToolTipRole)
        index = self.generator.findData(current)
        self.generator.setCurrentIndex(max(index, 0))
        self.generator.blockSignals(False)

    def refresh(self, state, selected: int) -> None:
        """Show TrajectoryState ``state`` with keyframe ``selected`` (-1 none)."""
        widgets = self._kf_widgets + [self.tension, self.loop, self.constant_speed, self.fps]
        for w in widgets:
            w.blockSignals(True)
        try:
            ok = 0 <= selected < len(state.keyframes)
            self.kf_fields.setVisible(ok)           # fields only for a selected keyframe, else a hint
            self.kf_hint.setVisible(not ok)
            if ok:
                kf = state.keyframes[selected]
                self.kf_label.setText(f"keyframe {selected + 1} of {len(state.keyframes)}")
                self.fov.setValue(kf.fov_y_deg)
                self.time.setValue(kf.time)
                for spin, v in zip(self.pos, kf.world_from_cam[:3, 3]):
                    spin.setValue(float(v))
            else:
                self.kf_hint.setText(hint_text(len(state.keyframes)))
            s = state.settings
            self.tension.setValue(s.tension)
            self.loop.setChecked(s.loop)
            self.constant_speed.setChecked(s.constant_speed)
            self.fps.setValue(s.fps)
        finally:
            for w in widgets:
                w.blockSignals(False)
