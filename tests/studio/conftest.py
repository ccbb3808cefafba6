"""Studio test fixtures: PySide6 + VisPy under Xvfb (pytest-xvfb starts one when DISPLAY is
unset), a fresh main window per test with isolated settings and autosave folders, and
helpers that wait for the engine without blocking the Qt event loop."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# before anything imports Qt (numpy and pytest do not)
os.environ["QT_API"] = "pyside6"
os.environ.setdefault("PYTEST_QT_API", "pyside6")

ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory: a shown MainWindow (closed and its engine thread joined after the test)."""
    from studio.app import create_window

    made = []

    def make(autosave_dir: Path | None = None, autosave_s: float = 0.0):
        _app, win = create_window(str(tmp_path / "settings.ini"), str(autosave_dir or tmp_path / "autosave"),
                                  autosave_s)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        win.activateWindow()
        qtbot.waitActive(win)     # shortcuts (K, Space, Ctrl+Z) need the active window
        made.append(win)
        return win

    yield make
    for win in made:
        if win.isVisible():
            win.close()
        problems = win.bridge.close(timeout=20)
        assert not problems, problems


def wait_idle(qtbot, win, timeout_ms: int = 60000) -> None:
    """Process Qt events until the window has no engine work and no pending timers."""
    ctl = win.ctl

    def idle():
        assert ctl.bridge.idle
        assert not ctl._coverage_timer.isActive() and not ctl._preview_timer.isActive()
        assert not win.busy_timers and not win.points_adapter.pending
    qtbot.waitUntil(idle, timeout=timeout_ms)
    qtbot.wait(50)
    qtbot.waitUntil(idle, timeout=timeout_ms)


def load_demo(qtbot, win, preset: str | None = "orbit", **options) -> None:
    """Open the studio's demo (at 8 x 160x90 unless ``options`` say otherwise) and wait for it;
    then apply ``preset``. The studio tests load the demo ~18 times at two sizes: its renders
    are made once per size and process (the demo job's ``cache_renders``); every load still
    inserts its own copies view by view (the memory deltas the tests watch)."""
    from studio.jobs import demo_job, studio_demo_options

    opts = studio_demo_options(**{"num_views": 8, "width": 160, "height": 90, **options})
    win.ctl.open_scene_job("demo scene", demo_job(opts, cache_renders=True))
    wait_idle(qtbot, win)
    if preset:
        win.ctl.apply_preset(preset)
        wait_idle(qtbot, win)


def non_background_fraction(image: np.ndarray) -> float:
    """Fraction of pixels of an RGBA/RGB canvas render that differ from the viewport background."""
    from studio.viewport.viewport import BACKGROUND

    bg = np.array(BACKGROUND[:3]) * 255
    return float((np.abs(image[..., :3].astype(float) - bg).sum(-1) > 30).mean())


def save_shot(win, path: Path) -> Path:
    assert win.screenshot().save(str(path)), path   # widgets + the viewport's GL window
    return path
