"""The region of interest's edits: each is one undo step on the controller's stack; every
state the model takes (an edit, an undo, a redo) is sent to the engine's scene frame as plain
data (engine.workflows.region through ``bridge.request``), where saves and exports read it.
The GUI never reads the engine's project itself; a scene load brings the saved box."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine.workflows.region import fit_region_request, set_region_request
from studio.models.region import RegionModel, RegionState, region_state, state_of_frame, with_enabled
from studio.undo import PathEditCommand


class RegionControl(QObject):
    synced = Signal(object)          # the engine's answer (engine.workflows.region.RegionAnswer)

    def __init__(self, ctl, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctl = ctl
        self.model = RegionModel()
        self._engine_state = RegionState()      # what the engine holds as far as we know
        self._loading = False
        self.model.changed.connect(self._send)

    @property
    def state(self) -> RegionState:
        return self.model.state

    def load(self, scene_frame) -> None:
        """The box of a scene that just opened (no undo step, nothing sent back)."""
        self._engine_state = state_of_frame(scene_frame)
        self._loading = True
        try:
            self.model.set_state(self._engine_state)
        finally:
            self._loading = False

    def edit(self, after: RegionState, text: str) -> None:
        """One undoable step (a no-op when nothing changes)."""
        if after != self.model.state:
            self.ctl.undo.push(PathEditCommand(self.model, self.model.state, after, text))

    def set_box(self, world_from_box, half_extent, text: str = "Edit region") -> None:
        self.edit(region_state(world_from_box, half_extent, self.state.enabled), text)

    def clear(self) -> None:
        self.edit(RegionState(), "Clear region")

    def set_enabled(self, enabled: bool) -> None:
        if not self.state.has_box:
            if enabled:
                self.fit()
            return
        self.edit(with_enabled(self.state, enabled), "Enable region" if enabled else "Disable region")

    def fit(self) -> None:
        """Fit the box to the memory (robust percentiles, engine side); one undo step."""
        def answered(answer, error) -> None:
            if error:
                self.ctl.message.emit("error", str(error))
                return
            self._engine_state = region_state(answer.world_from_box, answer.half_extent, answer.enabled)
            self.edit(self._engine_state, "Fit region to memory")
        self.ctl.bridge.request(fit_region_request(), answered)

    def _send(self, state: RegionState) -> None:
        if self._loading:
            return
        self.ctl.project.mark_dirty()
        if state == self._engine_state:
            return
        self._engine_state = state
        box, half = state.box() if state.has_box else (None, None)

        def answered(answer, error) -> None:
            if error:
                self.ctl.message.emit("error", f"region of interest: {error}")
            else:
                self.synced.emit(answer)
        self.ctl.bridge.request(set_region_request(box, half, state.enabled), answered)
