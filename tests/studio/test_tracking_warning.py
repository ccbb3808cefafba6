"""Tracking's warning that dense depth disagrees on the final cameras (issue 14 item 3) is
shown as a warning in the window, not buried in the log."""
from __future__ import annotations

from dataclasses import replace

from tests.studio.conftest import load_demo


def test_depth_disagreement_after_tracking_is_shown_as_a_warning(qtbot, make_window):
    from engine.tracking.depth_check import depth_warnings

    win = make_window()
    loaded = []
    win.ctl.sceneLoaded.connect(loaded.append)
    load_demo(qtbot, win)
    assert loaded and win.banner.level != "warning"
    warning = depth_warnings({"frame_000007": 0.01, "frame_000008": 0.2, "frame_000009": 0.22})[0]
    win.ctl._scene_loaded(replace(loaded[-1], note=warning))
    assert win.banner.level == "warning"
    assert "frame_000007" in win.banner.text and "disagrees" in win.banner.text
