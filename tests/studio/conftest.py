"""Studio test fixtures: PySide6 + VisPy under Xvfb (pytest-xvfb starts one when DISPLAY is
unset), a fresh main window per test with isolated settings and autosave folders, and
helpers that wait for the engine without blocking the Qt event loop."""
from __future__ import annotations

import os

os.environ["QT_API"] = "pyside6"
os.environ.setdefault("PYTEST_QT_API", "pyside6")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

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


_DEMO_RENDERS: dict = {}   # DemoOptions -> [(CapturedView, SyntheticFrame)] of engine.demo.demo_views


def _demo_views_once(real):
    """``engine.demo.demo_views`` rendered once per options and test process: the studio tests
    load the demo ~18 times at two sizes, each load rendering the procedural scene anew
    (0.36 CPU-s at 8 x 160x90); the renders are deterministic. Every load gets its own copies
    of the arrays and still inserts view by view (the memory deltas the tests watch)."""
    from dataclasses import replace

    def demo_views(options):
        if options not in _DEMO_RENDERS:
            _DEMO_RENDERS[options] = list(real(options))
        for view, frame in _DEMO_RENDERS[options]:
            yield replace(view, image=view.image.copy(),
                          depth=None if view.depth is None else view.depth.copy()), frame
    return demo_views


def load_demo(qtbot, win, preset: str | None = "orbit", **options) -> None:
    from engine import demo
    from studio.jobs import demo_job, studio_demo_options

    opts = studio_demo_options(**{"num_views": 8, "width": 160, "height": 90, **options})
    real = demo.demo_views
    demo.demo_views = _demo_views_once(real)
    try:
        win.ctl.open_scene_job("demo scene", demo_job(opts))
        wait_idle(qtbot, win)
    finally:
        demo.demo_views = real
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
