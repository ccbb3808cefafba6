"""Spline interpolation: passes through keyframes, C1, slerp for two keys, loops, constant speed."""
import numpy as np
import pytest

from engine.geometry import se3
from engine.trajectory.interpolate import (
    build_pose_spline,
    kb_tangents,
    quat_conj,
    quat_exp,
    quat_log,
    quat_mul,
)
from engine.trajectory.keyframes import Keyframe, Trajectory


def random_keyframes(n=6, seed=0, times=None):
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.3, 2.0, n)) if times is None else np.asarray(times)
    times = times - times[0]
    kfs = []
    for i, t in enumerate(times):
        rot = se3.so3_exp(rng.normal(size=3) * 0.6)
        pose = se3.make_transform(rot, rng.normal(size=3) * 2.0)
        kfs.append(Keyframe(pose, 40.0 + 10.0 * rng.random(), float(t)))
    return tuple(kfs)


@pytest.mark.parametrize("tension", [0.0, 0.5, -0.5, 1.0])
@pytest.mark.parametrize("loop", [False, True])
def test_passes_exactly_through_keyframes(tension, loop):
    kfs = random_keyframes()
    traj = Trajectory(kfs, tension=tension, loop=loop)
    for kf in kfs:
        pose, fov = traj.pose_at(kf.time)
        np.testing.assert_allclose(pose[:3, 3], kf.world_from_cam[:3, 3], atol=1e-9)
        assert se3.rotation_angle_deg(pose[:3, :3], kf.world_from_cam[:3, :3]) < 1e-5
        assert fov == pytest.approx(kf.fov_y_deg, abs=1e-9)


def _steps(values):
    return np.linalg.norm(np.diff(values, axis=0), axis=-1)


def ring_keyframes(n=7, seed=0):
    """Keyframes on a noisy ring, evenly timed from t = 0: similar speed everywhere."""
    rng = np.random.default_rng(seed)
    kfs = []
    for i in range(n):
        a = 2 * np.pi * i / n
        eye = np.array([3 * np.cos(a), -1.0, 3 * np.sin(a)]) + rng.normal(size=3) * 0.2
        kfs.append(Keyframe(se3.look_at(eye, rng.normal(size=3) * 0.3), 45.0 + 10 * rng.random(), float(i)))
    return tuple(kfs)


@pytest.mark.parametrize("loop", [False, True])
def test_continuous_without_jumps(loop):
    traj = Trajectory(ring_keyframes(seed=3), loop=loop, fps=60)
    cams = traj.sample()
    pos = np.array([c.center for c in cams])
    rot = np.array([c.world_from_cam[:3, :3] for c in cams])
    pos_steps = _steps(pos)
    rot_steps = se3.rotation_angle_deg(rot[:-1], rot[1:])
    assert pos_steps.max() / np.median(pos_steps) < 3.0
    assert rot_steps.max() / np.median(rot_steps) < 4.0
    fov_steps = np.abs(np.diff([c.fov_y_deg for c in cams]))
    assert fov_steps.max() < 0.5


@pytest.mark.parametrize("loop", [False, True])
def test_no_kinks_with_uneven_timing(loop):
    """Second differences shrink like dt^2 when the frame rate doubles (a corner: like dt)."""
    second = []
    for fps in (120, 240):
        traj = Trajectory(random_keyframes(seed=3), loop=loop, fps=fps)
        pos = np.array([c.center for c in traj.sample()])
        second.append(np.linalg.norm(np.diff(pos, 2, axis=0), axis=-1).max())
    assert second[0] / second[1] > 3.5


def _velocity(spline, t, eps=1e-6):
    pos = spline.positions_at(np.array([t - eps, t, t + eps]))
    quats = spline.quats_at(np.array([t - eps, t, t + eps]))
    left = (pos[1] - pos[0]) / eps, quat_log(quat_mul(quat_conj(quats[0]), quats[1])) / eps
    right = (pos[2] - pos[1]) / eps, quat_log(quat_mul(quat_conj(quats[1]), quats[2])) / eps
    return left, right


@pytest.mark.parametrize("loop", [False, True])
def test_c1_at_knots_including_loop_seam(loop):
    traj = Trajectory(random_keyframes(seed=5), loop=loop, tension=0.3)
    spline = traj.spline
    knots = spline.knot_times[1:-1] if not loop else spline.knot_times[:-1]
    for t in knots:
        if loop and t == spline.knot_times[0]:  # seam: compare the end of the last segment
            end = spline.knot_times[-1]
            (lv, lw), _ = _velocity(spline, end)
            _, (rv, rw) = _velocity(spline, t)
        else:
            (lv, lw), (rv, rw) = _velocity(spline, t)
        np.testing.assert_allclose(lv, rv, atol=1e-3 * max(1.0, np.abs(lv).max()))
        np.testing.assert_allclose(lw, rw, atol=1e-3 * max(1.0, np.abs(lw).max()))


def test_two_keyframes_rotation_is_slerp():
    kfs = random_keyframes(2, seed=7, times=[0.0, 3.0])
    traj = Trajectory(kfs)
    q0, q1 = (se3.quat_from_matrix(k.world_from_cam[:3, :3]) for k in kfs)
    for t in np.linspace(0.0, 3.0, 17):
        pose, _ = traj.pose_at(t)
        expected = se3.quat_to_matrix(se3.quat_slerp(q0, q1, t / 3.0))
        assert se3.rotation_angle_deg(pose[:3, :3], expected) < 1e-6
        # positions and fov are linear between two keyframes with tension 0
        lin = kfs[0].world_from_cam[:3, 3] + (t / 3.0) * (kfs[1].world_from_cam[:3, 3] - kfs[0].world_from_cam[:3, 3])
        np.testing.assert_allclose(pose[:3, 3], lin, atol=1e-9)


def test_loop_is_closed():
    traj = Trajectory(random_keyframes(seed=11), loop=True)
    start, fov0 = traj.pose_at(0.0 + traj.keyframes[0].time)
    end, fov1 = traj.pose_at(traj.keyframes[0].time + traj.resolved_duration - 1e-9)
    np.testing.assert_allclose(start, end, atol=1e-6)
    assert fov0 == pytest.approx(fov1, abs=1e-6)
    cams = traj.sample()
    pos = np.array([c.center for c in cams])
    wrap_step = np.linalg.norm(pos[0] - pos[-1])
    assert wrap_step < 3.0 * np.median(_steps(pos))


@pytest.mark.parametrize("loop", [False, True])
def test_constant_speed_equal_steps(loop):
    times = [0.0, 0.3, 2.5, 2.9, 6.0, 6.2]  # very uneven keyframe timing
    traj = Trajectory(random_keyframes(6, seed=2, times=times), loop=loop, constant_speed=True, fps=30)
    pos = np.array([c.center for c in traj.sample()])
    if loop:
        pos = np.vstack([pos, pos[:1]])
    steps = _steps(pos)
    assert steps.std() / steps.mean() < 0.02
    plain = Trajectory(traj.keyframes, loop=loop, fps=30)
    plain_steps = _steps(np.array([c.center for c in plain.sample()]))
    assert plain_steps.std() / plain_steps.mean() > 0.2  # the test would notice a no-op


def test_constant_speed_pure_rotation_falls_back_to_time():
    kfs = tuple(Keyframe(se3.make_transform(se3.so3_exp([0, a, 0]), np.zeros(3)), 50.0, t)
                for a, t in [(0.0, 0.0), (0.5, 1.0), (1.0, 2.0)])
    traj = Trajectory(kfs, constant_speed=True)
    angles = [se3.rotation_angle_deg(np.eye(3), c.world_from_cam[:3, :3]) for c in traj.sample()]
    assert np.all(np.diff(angles) > 0)


def test_tension_one_stops_at_keyframes():
    spline = Trajectory(random_keyframes(seed=4), tension=1.0).spline
    np.testing.assert_allclose(spline.position_tangents, 0.0, atol=1e-12)


def test_kb_tangents_catmull_rom_uniform():
    slopes = np.array([[1.0], [3.0], [5.0]])
    tangents = kb_tangents(slopes, np.ones(3), 0.0, loop=False)
    np.testing.assert_allclose(tangents[1:3, 0], [2.0, 4.0])
    loop = kb_tangents(slopes, np.ones(3), 0.0, loop=True)
    np.testing.assert_allclose(loop[0], loop[-1])


def test_quaternion_helpers_match_matrices():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=3), rng.normal(size=3)
    qa, qb = quat_exp(a), quat_exp(b)
    np.testing.assert_allclose(se3.quat_to_matrix(qa), se3.so3_exp(a), atol=1e-12)
    np.testing.assert_allclose(se3.quat_to_matrix(quat_mul(qa, qb)), se3.so3_exp(a) @ se3.so3_exp(b), atol=1e-12)
    small = np.array([1e-3, -2e-3, 5e-4])
    np.testing.assert_allclose(quat_log(quat_exp(small)), small, atol=1e-15)


def test_build_pose_spline_single_keyframe_is_static():
    pose = se3.make_transform(se3.so3_exp([0.1, 0.2, 0.3]), [1.0, 2.0, 3.0])
    spline = build_pose_spline(pose[None], np.array([50.0]), np.array([0.0]))
    w, fov = spline.evaluate(np.array([-1.0, 0.0, 5.0]))
    np.testing.assert_allclose(w, np.repeat(pose[None], 3, axis=0), atol=1e-12)
    np.testing.assert_allclose(fov, 50.0)
