"""``anyrecon-studio [PATH] [--demo] [--generate] [--screenshot FILE] [--exit-when-idle]``.

Creates the QApplication, the engine Session (its own thread) and the bridge, then the main
window. With ``--screenshot FILE --exit-when-idle`` it writes a screenshot of the main
window once all engine work is finished, then exits (tests, the README's main command).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anyrecon-studio", description="AnyRecon Studio")
    p.add_argument("path", nargs="?", help="video, image folder, dataset, project folder or camera_path.json")
    p.add_argument("--demo", action="store_true", help="open the built-in demo scene (with an orbit path)")
    p.add_argument("--generate", action="store_true", help="generate the path once the scene is loaded")
    p.add_argument("--screenshot", metavar="FILE", help="write a PNG of the main window when idle")
    p.add_argument("--exit-when-idle", action="store_true", help="exit once all engine work is finished")
    p.add_argument("--timeout", type=float, default=900.0, help="give up waiting for idle after SECONDS")
    p.add_argument("--settings", metavar="INI", help="settings file (default: the user's QSettings)")
    p.add_argument("--autosave-dir", metavar="DIR", help="autosave folder (default: app data)")
    return p


GUI_SWITCH_INTERVAL_S = 0.001


def _setup_env() -> None:
    os.environ.setdefault("QT_API", "pyside6")
    # Python's GIL switch interval: the longest a thread that wants the GIL waits for a thread
    # running Python to let go of it (5 ms by default). The GUI thread takes the GIL back after
    # every Qt call and numpy loop that released it; with the engine thread, the preview mirror
    # and the render thread all running Python, a 3 ms handler took 10-30 ms of wall time at
    # 5 ms. (A Generate job sets 0.5 ms while it runs, engine.workflows.generate.)
    interval = float(os.environ.get("ANYRECON_SWITCH_INTERVAL_S", GUI_SWITCH_INTERVAL_S))
    sys.setswitchinterval(min(sys.getswitchinterval(), interval) if interval > 0 else sys.getswitchinterval())


def create_window(settings_path: str | None = None, autosave_dir: str | None = None, autosave_s: float = 60.0):
    """(app, window): the QApplication (created if needed), themed, and a new MainWindow."""
    _setup_env()
    from engine.device import configure_cpu_threads

    configure_cpu_threads()        # the GUI thread's own torch ops (OpenMP's count is per thread)
    import vispy
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    vispy.use("pyside6")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("AnyRecon")
    app.setApplicationName("Studio")
    from studio.bridge import EngineBridge
    from studio.main_window import MainWindow
    from studio.theme import apply_dark_theme

    apply_dark_theme(app)
    settings = QSettings(settings_path, QSettings.Format.IniFormat) if settings_path else None
    win = MainWindow(EngineBridge(), settings, Path(autosave_dir) if autosave_dir else None, autosave_s)
    return app, win


class IdleExit:
    """Polls until the window's engine work is done (stable for a few polls), then writes the
    screenshot and quits."""

    def __init__(self, win, app, screenshot: str | None, exit_when_idle: bool, timeout_s: float,
                 steps: list) -> None:
        from PySide6.QtCore import QTimer

        self.win, self.app, self.screenshot, self.exit = win, app, screenshot, exit_when_idle
        self.deadline = time.monotonic() + timeout_s
        self.steps = steps            # callables run one at a time, each when the previous is idle
        self.stable = 0
        self.code = 0
        self.timer = QTimer(win)
        self.timer.timeout.connect(self.poll)
        self.timer.start(250)

    def busy(self) -> bool:
        ctl = self.win.ctl
        return (not ctl.bridge.idle or ctl._coverage_timer.isActive() or ctl._preview_timer.isActive()
                or self.win.busy_timers or self.win.points_adapter.pending)

    def poll(self) -> None:
        if time.monotonic() > self.deadline:
            print("anyrecon-studio: timed out waiting for the engine to become idle", file=sys.stderr)
            self.code = 1
            self.finish()
            return
        self.stable = 0 if self.busy() else self.stable + 1
        if self.stable < 3:
            return
        if self.steps:
            self.steps.pop(0)()
            self.stable = 0
            return
        self.finish()

    def finish(self) -> None:
        self.timer.stop()
        if self.screenshot:
            path = Path(self.screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not self.win.screenshot().save(str(path)):
                print(f"anyrecon-studio: could not write {path}", file=sys.stderr)
                self.code = 1
        ctl = self.win.ctl
        print(json.dumps({"screenshot": self.screenshot, "points": ctl.project.points.num_alive,
                          "views": len(ctl.project.cameras),
                          "view_names": [c.name for c in ctl.project.cameras], "keyframes": len(ctl.path.state.keyframes),
                          "generated_frames": len(ctl.segments.frames),
                          "segments_done": ctl.segments.count("done")}), flush=True)
        if self.exit:
            self.win.close()
            self.app.exit(self.code)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    app, win = create_window(args.settings, args.autosave_dir)
    win.show()
    steps = []
    if args.demo:
        from studio.jobs import demo_job

        win.ctl.open_scene_job("demo scene", demo_job())
        steps.append(lambda: win.ctl.apply_preset("orbit") if not win.ctl.path.state.keyframes else None)
    elif args.path:
        win.open_path(args.path)
    elif not args.exit_when_idle:
        win.autosave.offer_recovery()
    if args.generate:
        steps.append(lambda: win.ctl.generate())
    steps.append(lambda: win.ctl.playback.set_frame(win.ctl.playback.num_frames // 3))
    watcher = IdleExit(win, app, args.screenshot, args.exit_when_idle, args.timeout, steps) \
        if (args.screenshot or args.exit_when_idle or steps) else None
    code = app.exec()
    problems = win.bridge.close(timeout=10.0)
    for p in problems:
        print(f"anyrecon-studio: {p}", file=sys.stderr)
    return int(code or (watcher.code if watcher else 0))


if __name__ == "__main__":
    sys.exit(main())
