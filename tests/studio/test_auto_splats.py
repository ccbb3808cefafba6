"""On a CUDA machine the studio trains the splats by itself after a dataset loads: the job shows
in the jobs strip, its held-out preview in the preview pane, and the unsaved scene's splats land
in the scratch folder. The test runs the same path on the CPU by answering "yes" where the
engine asks whether the device is CUDA (engine.workflows.splats.splats_by_default), with a few
training steps instead of 7k. (That a CPU does not train by itself is the engine's decision,
tests/splat/test_auto_training.py; the studio follows ``SceneLoaded.train_splats``.)"""
from __future__ import annotations

import pytest

from tests.conftest import make_capture
from tests.studio.conftest import wait_idle
from tests.studio.test_open_datasets import _write_transforms_dataset
from tests.studio.test_window import drop


@pytest.fixture
def as_if_cuda(monkeypatch, tmp_path):
    import engine.workflows.splats as splats

    monkeypatch.setenv("ANYRECON_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.setattr(splats, "splats_by_default", lambda ws: True)
    monkeypatch.setattr(splats, "default_iterations", lambda device: 4)
    return tmp_path / "scratch"


def test_a_loaded_dataset_starts_splat_training_by_itself_on_cuda(qtbot, make_window, tmp_path, as_if_cuda):
    capture = make_capture(n=6, width=128, height=72, arc_deg=75.0)
    _write_transforms_dataset(tmp_path / "ns", capture)
    win = make_window()
    started, captions = [], []
    win.ctl.jobs.job_changed.connect(lambda j: started.append(win.ctl.jobs.jobs[j].name)
                                     if j in win.ctl.jobs.jobs else None)
    show = win.preview.show_image
    win.preview.show_image = lambda image, source, caption="": (captions.append((source, caption)),
                                                                show(image, source, caption))
    names = []
    win.ctl.bridge.jobStarted.connect(lambda j, n: names.append(n))
    drop(win, tmp_path / "ns")
    qtbot.waitUntil(lambda: "train splats" in started, timeout=120000)
    wait_idle(qtbot, win, timeout_ms=120000)
    assert not win.ctl.jobs.active                                   # finished, not failed midway
    plys = list(as_if_cuda.rglob("splats.ply"))
    assert len(plys) == 1, plys                                      # the unsaved scene's scratch folder
    splat_captions = [c for s, c in captions if s == "splats"]
    assert splat_captions and "held-out PSNR" in splat_captions[-1]   # the live preview with its score
    # then the generator pays its first-Generate costs (a quiet job, not in the jobs strip)
    assert "warm-up" in names and names.index("warm-up") > names.index("train splats")
    assert "warm-up" not in started



def test_opening_another_scene_cancels_the_warm_up(qtbot, make_window, monkeypatch):
    """A warm-up still running when another scene is opened is cancelled (the generator it
    warms goes with the scene), quietly; the scene job then runs."""
    import time

    import engine.workflows as workflows

    def endless_warm(options=None):
        def job(ws, cancel):
            while True:
                cancel.raise_if_cancelled()
                time.sleep(0.01)
        return job

    monkeypatch.setattr(workflows, "warm_generator_job", endless_warm)
    win = make_window()
    cancelled, finished = [], []
    win.ctl.bridge.jobCancelled.connect(lambda j, n: cancelled.append(n))
    win.ctl.bridge.jobFinished.connect(lambda j, n, r: finished.append(n))
    messages = []
    win.ctl.message.connect(lambda kind, text: messages.append(text))
    win.ctl.warm_generator()
    win.ctl.open_scene_job("open scene", lambda ws, cancel: None)
    qtbot.waitUntil(lambda: "open scene" in finished, timeout=20000)
    assert cancelled == ["warm-up"] and win.ctl._warm_job is None
    assert not [m for m in messages if "warm-up" in m]               # quiet
