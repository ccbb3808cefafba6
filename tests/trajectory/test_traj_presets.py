"""Presets: cameras look at the subject, orbits keep their radius, paths extend the capture."""
import numpy as np
import pytest

from engine.geometry import se3
from engine.trajectory.presets import (
    PRESETS,
    beyond_path,
    dolly,
    make_preset,
    orbit,
    scene_orbit_params,
    spiral,
    summarize_scene,
    through_path,
)

CENTER = np.array([0.5, -0.2, 4.0])
UP = np.array([0.0, -1.0, 0.0])


def angle_to_target_deg(cam, target):
    d = target - cam.center
    d /= np.linalg.norm(d)
    return np.degrees(np.arccos(np.clip(d @ cam.forward, -1.0, 1.0)))


def captured_arc(n=40, radius=3.0, arc=(0.2, 1.6), noise=0.0, seed=0):
    """Captured cameras on an arc around CENTER looking at it (y-down world)."""
    rng = np.random.default_rng(seed)
    poses = []
    for a in np.linspace(*arc, n):
        eye = CENTER + radius * np.array([np.cos(a), 0.0, np.sin(a)]) + [0.0, -0.8, 0.0]
        poses.append(se3.look_at(eye + rng.normal(size=3) * noise, CENTER))
    return np.stack(poses)


def test_orbit_looks_at_center_with_constant_radius():
    traj = orbit(CENTER, 2.0, 1.0, num_keyframes=8, duration=8.0)
    assert traj.loop
    cams = traj.sample()
    assert len(cams) == 240
    for cam in cams:
        assert angle_to_target_deg(cam, CENTER) < 1.0
        rel = cam.center - CENTER
        assert rel @ UP == pytest.approx(1.0, abs=1e-9)  # height offset along up
        horizontal = np.linalg.norm(rel - (rel @ UP) * UP)
        assert horizontal == pytest.approx(2.0, rel=0.01)
        assert cam.world_from_cam[:3, 1] @ UP < 0  # image up is world up


def test_partial_orbit_is_open_and_spans_the_arc():
    traj = orbit(CENTER, 2.0, 0.0, num_keyframes=5, arc_deg=90.0, start_angle_deg=30.0)
    assert not traj.loop
    cams = traj.sample()
    first, last = cams[0].center - CENTER, cams[-1].center - CENTER
    cos = first @ last / (np.linalg.norm(first) * np.linalg.norm(last))
    assert np.degrees(np.arccos(cos)) == pytest.approx(90.0, abs=1e-6)


def test_orbit_rejects_degenerate_input():
    with pytest.raises(ValueError):
        orbit(CENTER, 0.0, 1.0)
    with pytest.raises(ValueError):
        orbit(CENTER, 1.0, 1.0, num_keyframes=2)


def test_spiral_looks_at_center_and_changes_radius():
    traj = spiral(CENTER, 3.0, 1.5, 2.0, 0.5, 1.5)
    cams = traj.sample()
    assert max(angle_to_target_deg(c, CENTER) for c in cams) < 1.0
    r0 = np.linalg.norm((cams[0].center - CENTER)[[0, 2]])
    r1 = np.linalg.norm((cams[-1].center - CENTER)[[0, 2]])
    assert r0 == pytest.approx(3.0) and r1 == pytest.approx(1.5)


@pytest.mark.parametrize("distance", [1.5, -2.0])
def test_dolly_moves_along_view_direction(distance):
    start = se3.look_at([0.0, -1.0, 0.0], CENTER)
    cams = dolly(start, distance, 3.0, 50.0, 40.0).sample()
    moved = cams[-1].center - cams[0].center
    np.testing.assert_allclose(moved, distance * start[:3, 2], atol=1e-9)
    for cam in cams:
        np.testing.assert_allclose(cam.world_from_cam[:3, :3], start[:3, :3], atol=1e-9)
        assert angle_to_target_deg(cam, CENTER) < 1e-4
    assert cams[0].fov_y_deg == pytest.approx(50.0) and cams[-1].fov_y_deg == pytest.approx(40.0)


def test_dolly_zoom_keeps_subject_size():
    start = se3.look_at([0.0, 0.0, 0.0], [0.0, 0.0, 5.0])
    traj = dolly(start, 3.0, 4.0, 30.0, vertigo=True, subject_distance=5.0)
    for cam in traj.sample():
        d = 5.0 - cam.center[2]
        size = d * np.tan(np.radians(cam.fov_y_deg) / 2.0)
        assert size == pytest.approx(5.0 * np.tan(np.radians(15.0)), rel=2e-3)
    with pytest.raises(ValueError):
        dolly(start, 6.0, 4.0, 30.0, vertigo=True, subject_distance=5.0)


def test_through_path_follows_the_capture():
    captured = captured_arc(noise=0.02)
    traj = through_path(captured, 50.0, num_keyframes=10)
    cams = traj.sample()
    clean = captured_arc()[:, :3, 3]
    for cam in cams:
        assert np.min(np.linalg.norm(clean - cam.center, axis=1)) < 0.1
    assert np.linalg.norm(cams[0].center - clean[0]) < 0.1
    assert np.linalg.norm(cams[-1].center - clean[-1]) < 0.1
    assert max(angle_to_target_deg(c, CENTER) for c in cams) < 5.0


def test_beyond_path_extends_past_both_ends():
    captured = captured_arc(n=30, arc=(0.3, 1.2))
    pos = captured[:, :3, 3]
    length = np.sum(np.linalg.norm(np.diff(pos, axis=0), axis=1))
    cams = beyond_path(captured, 50.0, extend_fraction=0.5).sample()
    for end, prev, cam in ((pos[-1], pos[-2], cams[-1]), (pos[0], pos[1], cams[0])):
        direction = (end - prev) / np.linalg.norm(end - prev)
        beyond = cam.center - end
        assert beyond @ direction == pytest.approx(0.5 * length, rel=0.1)
        assert np.linalg.norm(beyond - (beyond @ direction) * direction) < 0.1 * length
    # keeps turning the way the capture turned, but damped and bounded
    end_rot = captured[-1, :3, :3]
    extra = se3.rotation_angle_deg(end_rot, cams[-1].world_from_cam[:3, :3])
    assert 1.0 < extra <= 30.0 + 1e-6


def test_beyond_path_needs_motion():
    with pytest.raises(ValueError):
        beyond_path(np.repeat(np.eye(4)[None], 3, axis=0), 50.0)


def test_scene_orbit_params_is_robust_to_outliers():
    rng = np.random.default_rng(0)
    pts = CENTER + rng.normal(size=(5000, 3)) * [1.0, 0.2, 1.0]
    pts_outliers = np.vstack([pts, rng.normal(size=(100, 3)) * 1000.0])
    _, r0, _ = scene_orbit_params(pts)
    c1, r1, h1 = scene_orbit_params(pts_outliers)
    np.testing.assert_allclose(c1, CENTER, atol=0.1)
    assert r1 == pytest.approx(r0, rel=0.05) and 2.0 < r1 < 8.0
    assert h1 > 0


def test_registry_names():
    assert set(PRESETS) == {"orbit", "spiral", "dolly-in", "dolly-out", "through", "beyond", "orbit-360"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_make_preset_from_scene(name):
    rng = np.random.default_rng(1)
    pts = CENTER + rng.normal(size=(3000, 3)) * 0.5
    traj = make_preset(name, points=pts, captured_world_from_cam=captured_arc(), fov_y_deg=48.0,
                       width=320, height=180)
    cams = traj.sample()
    assert len(cams) > 10 and cams[0].width == 320 and cams[0].height == 180
    if name in ("orbit", "spiral"):
        assert max(angle_to_target_deg(c, CENTER) for c in cams) < 3.0
    if name == "dolly-in":
        assert np.linalg.norm(cams[-1].center - CENTER) < np.linalg.norm(cams[0].center - CENTER)
    if name == "dolly-out":
        assert np.linalg.norm(cams[-1].center - CENTER) > np.linalg.norm(cams[0].center - CENTER)


def test_make_preset_errors():
    with pytest.raises(ValueError, match="valid presets: orbit, spiral"):
        make_preset("zoom-around", points=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="captured"):
        make_preset("through", points=np.random.default_rng(0).normal(size=(50, 3)))
    with pytest.raises(ValueError, match="points or captured"):
        make_preset("orbit")


def test_summary_from_cameras_only_finds_what_they_look_at():
    summary = summarize_scene(captured_world_from_cam=captured_arc())
    np.testing.assert_allclose(summary.center, CENTER, atol=1e-6)
    np.testing.assert_allclose(summary.up, UP, atol=1e-6)
    assert summary.radius == pytest.approx(3.0, rel=1e-6)


def test_orbit_centers_on_what_a_converging_capture_looked_at():
    """Object-centric capture inside a room: the orbit goes around the object the cameras
    converge on, not around the median of the room's points (pulled toward the walls seen most)."""
    import numpy as np

    from engine.geometry import se3
    from engine.trajectory.presets import make_preset

    target = np.array([0.0, 0.9, 0.0])
    angles = np.radians(np.linspace(200, 320, 12))
    caps = np.stack([se3.look_at(target + [3 * np.cos(a), -0.7, 3 * np.sin(a)], target) for a in angles])
    rng = np.random.default_rng(0)
    wall = np.c_[rng.uniform(-4, 4, 5000), rng.uniform(-1.5, 1.5, 5000), np.full(5000, 4.0)]   # far wall, seen a lot
    floor = np.c_[rng.uniform(-4, 4, 3000), np.full(3000, 1.5), rng.uniform(-4, 4, 3000)]
    traj = make_preset("orbit", points=np.concatenate([wall, floor]), captured_world_from_cam=caps,
                       fov_y_deg=55.0, width=64, height=36)
    cams = traj.sample(16)
    centers = np.stack([c.center for c in cams])
    horizontal = np.linalg.norm((centers - target)[:, [0, 2]], axis=1)
    assert np.all(np.abs(horizontal - 3.0) < 0.1)        # on the cameras' ring about the object
    assert max(angle_to_target_deg(c, target) for c in cams) < 3.0
    assert np.all(np.abs(centers[:, [0, 2]]) < 4.0)      # the whole orbit stays inside the room
