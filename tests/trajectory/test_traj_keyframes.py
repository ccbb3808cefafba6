"""Trajectory validation, sampling and the Camera objects it produces."""
import numpy as np
import pytest

from engine.geometry import se3
from engine.geometry.camera import intrinsics_from_fov
from engine.trajectory.keyframes import Keyframe, Trajectory


def kf(x=0.0, t=0.0, fov=50.0):
    return Keyframe(se3.make_transform(np.eye(3), [x, 0.0, 0.0]), fov, t)


def test_empty_trajectory_raises():
    with pytest.raises(ValueError, match="trajectory has no keyframes"):
        Trajectory(())


def test_zero_length_trajectory_raises():
    with pytest.raises(ValueError, match="zero-length"):
        Trajectory((kf(0.0, 0.0), kf(0.0, 0.0)))
    with pytest.raises(ValueError, match="zero-length"):
        Trajectory((kf(0.0, 0.0), kf(1.0, 0.0), kf(2.0, 0.0)))


def test_explicit_zero_duration_with_several_keyframes_raises():
    with pytest.raises(ValueError):
        Trajectory((kf(0.0, 0.0), kf(1.0, 1.0)), duration=0.0)


def test_decreasing_and_repeated_times_raise_naming_the_keyframe():
    with pytest.raises(ValueError, match="keyframe 2"):
        Trajectory((kf(0, 0.0), kf(1, 2.0), kf(2, 1.0)))
    with pytest.raises(ValueError, match="keyframes 1 and 2"):
        Trajectory((kf(0, 0.0), kf(1, 1.0), kf(2, 1.0)))


def test_other_validation():
    with pytest.raises(ValueError, match="tension"):
        Trajectory((kf(0, 0), kf(1, 1)), tension=1.5)
    with pytest.raises(ValueError, match="loop duration"):
        Trajectory((kf(0, 0), kf(1, 1), kf(2, 2)), loop=True, duration=2.0)
    with pytest.raises(ValueError, match="before the last keyframe"):
        Trajectory((kf(0, 0), kf(1, 3)), duration=2.0)
    with pytest.raises(ValueError, match="fov"):
        kf(fov=180.0)
    with pytest.raises(ValueError, match="rotation"):
        Keyframe(np.diag([1.0, 1.0, -1.0, 1.0]), 50.0, 0.0)
    with pytest.raises(ValueError, match="num_frames"):
        Trajectory((kf(0, 0), kf(1, 1))).sample(0)


def test_single_keyframe_is_a_static_camera():
    key = Keyframe(se3.look_at([1.0, -2.0, 3.0], [0.0, 0.0, 0.0]), 42.0, 0.0)
    cams = Trajectory((key,), duration=2.0, fps=10).sample()
    assert len(cams) == 21
    for cam in cams:
        np.testing.assert_allclose(cam.world_from_cam, key.world_from_cam, atol=1e-12)
        assert cam.fov_y_deg == pytest.approx(42.0)
    assert len(Trajectory((key,)).sample()) == 1


def test_sample_counts_names_and_intrinsics():
    traj = Trajectory((kf(0, 0, 40.0), kf(1, 1, 60.0), kf(2, 2, 40.0)), fps=24, width=320, height=200)
    cams = traj.sample()
    assert len(cams) == round(2.0 * 24) + 1
    assert [c.name for c in cams[:2]] == ["path_000000", "path_000001"]
    assert cams[0].width == 320 and cams[0].height == 200
    np.testing.assert_allclose(cams[0].K, intrinsics_from_fov(40.0, 320, 200))
    assert cams[24].fov_y_deg == pytest.approx(60.0)
    np.testing.assert_allclose(cams[-1].center, [2.0, 0.0, 0.0], atol=1e-12)
    assert len(traj.sample(7)) == 7


def test_loop_defaults():
    traj = Trajectory((kf(0, 0), kf(1, 1), kf(2, 2)), loop=True, fps=10)
    assert traj.resolved_duration == pytest.approx(3.0)  # last time + mean spacing
    times = traj.frame_times()
    assert len(times) == 30 and times[-1] < 3.0
    np.testing.assert_allclose(traj.pose_at(3.0)[0], traj.pose_at(0.0)[0], atol=1e-12)


def test_pose_at_clamps_outside_open_range():
    traj = Trajectory((kf(0, 0), kf(1, 1)))
    np.testing.assert_allclose(traj.pose_at(-5.0)[0][:3, 3], [0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(traj.pose_at(5.0)[0][:3, 3], [1, 0, 0], atol=1e-12)


def test_keyframe_from_camera_and_immutability():
    traj = Trajectory((kf(0, 0, 35.0), kf(1, 1)))
    cam = traj.camera_at(0.0, name="x")
    key = Keyframe.from_camera(cam, 0.5)
    assert key.fov_y_deg == pytest.approx(35.0) and key.time == 0.5
    with pytest.raises(ValueError):
        key.world_from_cam[0, 0] = 2.0
    traj2 = Trajectory([kf(0, 0), kf(1, 1)])  # a list is accepted and stored as a tuple
    assert isinstance(traj2.keyframes, tuple)
