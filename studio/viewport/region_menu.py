"""The Region menu: fit the region of interest to the memory, switch it on/off (its crop),
clear it, and let generation fuse back only inside it. The box itself is edited by dragging
its face handles in the viewport (Shift+drag moves the whole box)."""
from __future__ import annotations

from PySide6.QtGui import QAction


class RegionMenu:
    """Builds the actions into ``menu`` and keeps the checkable ones in step with the model."""

    def __init__(self, menu, win, ctl) -> None:
        self.ctl = ctl
        region = ctl.region

        def act(text: str, slot, tip: str, checkable: bool = False) -> QAction:
            action = QAction(text, win)
            action.setCheckable(checkable)
            action.setToolTip(tip)
            action.setStatusTip(tip)
            if checkable:
                action.toggled.connect(slot)
            else:
                action.triggered.connect(lambda _=False: slot())
            menu.addAction(action)
            return action

        self.fit = act("&Fit Region to Memory", region.fit,
                       "a box along the scene's axes around the memory's points (1st to 99th percentile)")
        self.enabled = act("&Crop Exports to Region", region.set_enabled,
                           "exports keep only what lies inside the box (off: the box stays, nothing is cropped)",
                           checkable=True)
        self.clear = act("C&lear Region", region.clear, "remove the box: exports keep everything")
        menu.addSeparator()
        self.fuse = act("Generate Fuses Only &Inside Region", lambda on: setattr(ctl, "fuse_in_roi", bool(on)),
                        "generated frames add points to the memory only inside the box", checkable=True)
        menu.addSeparator()
        hint = menu.addAction("Drag a face handle to move that face; Shift+drag moves the box")
        hint.setEnabled(False)
        region.model.changed.connect(self._sync)
        self._sync(region.state)

    def _sync(self, state) -> None:
        self.enabled.blockSignals(True)
        self.enabled.setChecked(state.has_box and state.enabled)
        self.enabled.blockSignals(False)
        self.clear.setEnabled(state.has_box)
