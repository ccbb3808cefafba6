"""The studio and the command line run the same generation workflow: on copies of one
project, Generate in the studio and ``anyrecon generate`` give the same segment ids, frames
and memory."""
from __future__ import annotations

import shutil

import numpy as np

from engine.cli import main
from engine.project import Project, read_image
from engine.trajectory import Keyframe, Trajectory, write_camera_path
from tests.conftest import make_capture
from tests.studio.conftest import wait_idle


def test_studio_and_cli_generate_the_same_segments_frames_and_memory(qtbot, make_window, tmp_path):
    capture = make_capture(n=8, width=160, height=90, arc_deg=90.0)
    cams = capture.cameras
    traj = Trajectory((Keyframe(cams[2].world_from_cam, cams[2].fov_y_deg, 0.0),
                       Keyframe(cams[5].world_from_cam, cams[5].fov_y_deg, 1.0)),
                      fps=5, width=cams[0].width, height=cams[0].height)
    Project(tmp_path / "cli", name="p", views=capture.views, memory=capture.memory(0.05),
            trajectories={"main": traj}).save()
    shutil.copytree(tmp_path / "cli", tmp_path / "studio")
    write_camera_path(tmp_path / "path.json", traj)

    assert main(["generate", str(tmp_path / "cli"), "--trajectory", str(tmp_path / "path.json"), "--name", "main",
                 "--segment-length", "4"]) == 0

    win = make_window()
    assert win.open_path(tmp_path / "studio")
    wait_idle(qtbot, win)
    win.ctl.segment_length = 4
    assert win.ctl.generate() is not None
    wait_idle(qtbot, win, timeout_ms=120000)
    win.ctl.save_project(tmp_path / "studio")
    wait_idle(qtbot, win)

    cli, studio = Project.load(tmp_path / "cli"), Project.load(tmp_path / "studio")
    assert [(s.segment_id, s.frame_start, s.frame_stop) for s in cli.segments] == \
        [(s.segment_id, s.frame_start, s.frame_stop) for s in studio.segments] == [(0, 0, 4), (1, 4, 6)]
    a, b = cli.generated_frames(), studio.generated_frames()
    assert [(s, i) for s, i, _ in a] == [(s, i) for s, i, _ in b] and len(a) == 6
    for (_, _, pa), (_, _, pb) in zip(a, b):
        diff = np.abs(read_image(pa).astype(int) - read_image(pb).astype(int))
        assert diff.max() <= 1, pa.name
    assert len(cli.memory) == len(studio.memory)
    assert cli.memory.segments() == studio.memory.segments()
    sa, sb = cli.memory.snapshot(), studio.memory.snapshot()
    order_a, order_b = np.lexsort(sa.xyz.T), np.lexsort(sb.xyz.T)
    assert np.allclose(sa.xyz[order_a], sb.xyz[order_b], atol=1e-5)
    assert np.array_equal(sa.segment[order_a], sb.segment[order_b])
