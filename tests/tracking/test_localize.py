"""Photos added to a tracked project later are registered by matching the captured views and
render-and-match against the memory; photos that do not belong are reported, not forced in."""
from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import se3
from engine.ingest.frames import Frame
from engine.session import run_job
from engine.workflows import Workspace
from engine.tracking.localize import LocalizeOptions, PhotoLocalizer, photo_intrinsics, register_photos_job
from tests.conftest import between_poses, make_capture


@pytest.fixture(scope="module")
def cap():
    return make_capture(n=12, width=320, height=180)


@pytest.fixture(scope="module")
def memory(cap):
    return cap.memory(0.01)


def _photo(cap, camera):
    return (np.clip(cap.scene.render(camera).rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def test_intrinsics_from_exif_or_the_captured_cameras():
    from engine.geometry import Camera

    known = [Camera(np.array([[300.0, 0, 160], [0, 300.0, 90], [0, 0, 1]]), 320, 180)]
    assert photo_intrinsics(640, 360, None, known)[0, 0] == pytest.approx(600.0)     # same phone, 2x size
    assert photo_intrinsics(640, 360, 500.0, known)[0, 0] == 500.0                  # EXIF wins
    assert photo_intrinsics(400, 400, None, known)[0, 0] == pytest.approx(480.0)    # unknown: 1.2 x side
    assert photo_intrinsics(400, 400, None, known)[:2, 2].tolist() == [200.0, 200.0]


def test_a_new_photo_off_the_captured_path_is_registered(cap, memory):
    """Taken between captured views, 35 cm off their path, at twice their resolution."""
    truth = between_poses(cap.cameras)[4].scaled(2.0)
    loc = PhotoLocalizer(memory, cap.views)
    reg = loc.register("extra", _photo(cap, truth))
    assert reg.registered, reg.reason
    assert reg.num_inliers >= 50 and reg.error_px < 1.5
    np.testing.assert_allclose(reg.camera.K, truth.K, rtol=1e-6)
    rot = se3.rotation_angle_deg(reg.camera.world_from_cam[:3, :3], truth.world_from_cam[:3, :3])
    assert rot < 0.5 and np.linalg.norm(reg.camera.center - truth.center) < 0.03      # at ~3 m


def test_job_adds_what_registers_and_reports_the_rest(cap, memory):
    from copy import deepcopy

    from engine.events import CamerasChanged

    truth = between_poses(cap.cameras)[7]
    noise = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    frames = [Frame("extra", 0, _photo(cap, truth)), Frame("holiday", 1, noise),
              Frame(cap.views[0].name, 2, cap.views[0].image)]
    state = Workspace()
    state.memory, state.views = memory, deepcopy(cap.views)
    events = []
    results = run_job(register_photos_job(frames, LocalizeOptions()), state, on_event=events.append)
    assert [r.registered for r in results] == [True, False, False]
    assert "already" in results[2].reason and results[1].reason
    assert len(state.views) == len(cap.views) + 1
    new = state.views[len(cap.views)]
    assert new.name == "extra" and new.depth is not None and (new.depth > 0).mean() > 0.5
    assert isinstance(events[-1], CamerasChanged) and len(events[-1].cameras) == len(state.views)


def test_an_empty_project_is_a_clear_error(cap):
    from engine.memory import GeometryMemory

    with pytest.raises(ValueError, match="track it first"):
        PhotoLocalizer(GeometryMemory(0.05, device="cpu"), cap.views)
