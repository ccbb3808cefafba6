"""Bad input (issue 14 must-show): a video that cuts between two places (two clips of
different synthetic scenes, one after the other) is split: the larger clip's keyframes form
the kept model, the rest is reported as a separate piece, never merged in with a jump."""
from __future__ import annotations

import numpy as np
import pytest

from engine.metrics import pose_errors_after_sim3
from engine.session import run_job
from engine.synthetic import read_demo_cameras
from engine.tracking.consistency import impossible_steps
from engine.tracking.mvs import MVSOptions
from engine.tracking.pipeline import TrackOptions, track_job
from engine.workflows import Workspace

pytestmark = pytest.mark.slow     # renders and tracks a 30-frame video (~1-2 min on 2 cores)

LARGER, SMALLER = 20, 10


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_cut_video
    from engine.synthetic_symmetric import SymmetricScene, orbit_cameras

    room, can = make_demo_scene(0), SymmetricScene(0)
    clips = [(room, demo_capture_cameras(room, LARGER, 320, 180)),
             (can, orbit_cameras(can, SMALLER, 320, 180, turns=0.25))]
    return write_cut_video(tmp_path_factory.mktemp("cut") / "two places.mp4", clips, fps=8)


def test_a_cut_between_two_places_is_split_and_the_larger_side_kept(cut_video):
    opts = TrackOptions(first_chunk=10, chunk_size=10, max_dense_views=6,
                        mvs=MVSOptions(max_side=160, max_depths=48, num_neighbors=3))
    result = run_job(track_job(cut_video, opts), Workspace())
    gt = {c.name: c.world_from_cam for c in read_demo_cameras(cut_video)}
    names = sorted(gt)
    first, second = names[:LARGER], names[LARGER:]
    assert sorted(result.registered) == first, (result.registered, result.warnings)
    assert sorted(result.unregistered) == second
    est = np.stack([result.views[result.views.index_of(n)].camera.world_from_cam for n in first])
    assert len(impossible_steps(est)) == 0
    assert pose_errors_after_sim3(est, np.stack([gt[n] for n in first])).max_rotation_deg < 1.0
    cut = [w for w in result.warnings if "cut to another place" in w]
    assert len(cut) == 1 and second[0] in cut[0] and second[-1] in cut[0] and f"({SMALLER})" in cut[0], \
        result.warnings
