"""Capture layouts: object-centric captures keep their orbit around the subject; forward-facing
and inside-out (room) captures get an orbit that stays among the cameras and looks the ways
they looked (the old orbit circled the middle of the room's points, looking at it from where
no camera stood). Synthetic camera layouts only (y-down world, up = -y), engine-only, fast."""
import numpy as np
import pytest

from engine.geometry import se3
from engine.trajectory.layout import FORWARD, INSIDE_OUT, OBJECT, capture_layout
from engine.trajectory.presets import make_preset, orbit
from engine.trajectory.scene_summary import plane_basis, summarize_scene

UP = np.array([0.0, -1.0, 0.0])
RNG = np.random.default_rng(7)


def room_points(half=(5.0, 1.5, 6.0), center=(0.0, 0.0, 3.0), n=4000):
    """Points [N,3] on the walls, floor and ceiling of a box room (world, y-down)."""
    half, center = np.asarray(half), np.asarray(center)
    p = RNG.uniform(-1, 1, size=(n, 3))
    axis = RNG.integers(0, 3, size=n)
    p[np.arange(n), axis] = RNG.choice([-1.0, 1.0], size=n)
    return center + p * half


def yaw_pose(eye, yaw_deg, pitch_deg=0.0):
    """world_from_cam looking along yaw (0 = +z, 90 = +x) about up -y."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    d = np.array([np.sin(y) * np.cos(p), -np.sin(p), np.cos(y) * np.cos(p)])
    return se3.look_at(np.asarray(eye, float), np.asarray(eye, float) + d, UP)


def forward_grid(toe_in_at=30.0):
    """LLFF-like: 4x4 cameras on a 3x1.2 patch at z=0, toed in on a point toe_in_at ahead."""
    eyes = [(x, y, 0.0) for x in np.linspace(-1.5, 1.5, 4) for y in np.linspace(-0.6, 0.6, 4)]
    return np.stack([se3.look_at(np.array(e), np.array([0.0, 0.0, toe_in_at]), UP) for e in eyes])


def room_walk():
    """A walk through a room: 13 cameras 1 unit apart along z, turning right 0 -> 50 deg."""
    return np.stack([yaw_pose((0.15 * i - 0.02 * i * i, 0.0, -2.0 + i), 50.0 * i / 12) for i in range(13)])


def turn_around(n=12, radius=1.0, center=(0.0, 0.0, 3.0)):
    """Inside-out: n cameras on a circle in the middle of the room, each looking outward."""
    c = np.asarray(center)
    return np.stack([yaw_pose(c + radius * np.array([np.sin(a), 0.0, np.cos(a)]), np.degrees(a))
                     for a in np.radians(np.arange(n) * 360.0 / n)])


def object_arc():
    """Object-centric: 12 cameras on a 120 deg arc around a subject at the origin, looking at it."""
    target = np.array([0.0, 0.5, 3.0])
    eyes = [target + [3 * np.cos(a), -0.8, 3 * np.sin(a)] for a in np.radians(np.linspace(200, 320, 12))]
    return np.stack([se3.look_at(e, target) for e in eyes]), target


def layout_of(caps):
    e1, e2 = plane_basis(UP)
    return capture_layout(caps, UP, e1, e2)[0]


def near_a_captured_view(cam, caps, max_dist, max_deg):
    """Some captured camera stands within max_dist of cam and looks within max_deg of its way."""
    dist = np.linalg.norm(caps[:, :3, 3] - cam.center, axis=1)
    deg = np.degrees(np.arccos(np.clip(caps[:, :3, 2] @ cam.forward, -1.0, 1.0)))
    return bool(np.any((dist <= max_dist) & (deg <= max_deg)))


@pytest.mark.parametrize("caps, expected", [(forward_grid(), FORWARD), (forward_grid(8.0), FORWARD),
                                            (room_walk(), FORWARD), (turn_around(), INSIDE_OUT),
                                            (object_arc()[0], OBJECT)])
def test_capture_layout(caps, expected):
    assert layout_of(caps) == expected


@pytest.mark.parametrize("caps, reach", [(forward_grid(), 1.0), (room_walk(), 1.6), (turn_around(), 0.6)],
                         ids=["forward-facing", "room-walk", "inside-out"])
def test_orbit_of_a_capture_without_subject_stays_among_the_cameras(caps, reach):
    """Every orbit frame stands within ~1.5 camera spacings of a captured camera that looked the
    same way (the old orbit circled the room's middle at the cameras' distance from it)."""
    pts = room_points()
    traj = make_preset("orbit", points=pts, captured_world_from_cam=caps, fov_y_deg=50.0, width=64, height=36)
    cams = traj.sample(24)
    assert all(near_a_captured_view(c, caps, reach, 25.0) for c in cams)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    assert all(np.all(c.center > lo) and np.all(c.center < hi) for c in cams)   # inside the room
    assert np.ptp(np.stack([c.center for c in cams]), axis=0).max() > 0.1        # and it moves


def test_forward_orbit_looks_at_one_focus_at_the_scene_depth():
    caps = forward_grid()
    pts = np.c_[RNG.uniform(-4, 4, 3000), RNG.uniform(-2, 2, 3000), RNG.uniform(9, 11, 3000)]
    summary = summarize_scene(pts, caps, 50.0)
    assert summary.layout == FORWARD
    assert summary.rig.focus[2] == pytest.approx(10.0, abs=0.5)
    for cam in make_preset("orbit", points=pts, captured_world_from_cam=caps).sample(12):
        to_focus = (summary.rig.focus - cam.center) / np.linalg.norm(summary.rig.focus - cam.center)
        assert np.degrees(np.arccos(np.clip(to_focus @ cam.forward, -1, 1))) < 1.5


def test_inside_out_orbit_pans_all_around_and_open_arc_pans_the_captured_yaws():
    pts = room_points()
    full = make_preset("orbit", points=pts, captured_world_from_cam=turn_around())
    assert full.loop
    half = turn_around()[[0, 1, 2, 3, 4, 5, 6]]          # looked from +z round to -z through +x only
    assert layout_of(half) == INSIDE_OUT
    cams = make_preset("orbit", points=pts, captured_world_from_cam=half).sample(20)
    assert all(c.forward[0] > -0.1 for c in cams)          # never looks toward -x, where no one looked


def test_spiral_of_a_capture_without_subject_stays_among_the_cameras():
    caps = room_walk()
    cams = make_preset("spiral", points=room_points(), captured_world_from_cam=caps).sample(30)
    assert all(near_a_captured_view(c, caps, 2.6, 25.0) for c in cams)


def test_object_capture_keeps_its_orbit_around_the_subject():
    """The full circle round an object capture's subject ("orbit-360"; "orbit" sweeps the arc
    this 120-deg capture saw: tests/trajectory/test_traj_object_arc.py)."""
    caps, target = object_arc()
    pts = target + RNG.normal(size=(3000, 3)) * 0.4
    summary = summarize_scene(pts, caps, 50.0)
    assert summary.layout == OBJECT and summary.rig is None
    np.testing.assert_allclose(summary.center, target, atol=1e-6)
    traj = make_preset("orbit-360", points=pts, captured_world_from_cam=caps)
    ref = orbit(summary.center, summary.radius, summary.height_offset, up=summary.up,
                start_angle_deg=summary.start_angle_deg)
    np.testing.assert_allclose(np.stack([k.world_from_cam for k in traj.keyframes]),
                               np.stack([k.world_from_cam for k in ref.keyframes]), atol=1e-9)


def test_beyond_of_a_room_walk_stops_before_the_wall_ahead():
    """A walk toward a wall 4 units past its end: 'beyond' (half the 12-unit path past each
    end, 6 units) stops halfway to the wall instead of carrying on through it."""
    caps = np.stack([yaw_pose((0.0, 0.0, float(z)), 0.0) for z in range(13)])   # z 0..12 looking +z
    wall = np.c_[RNG.uniform(-4, 4, 4000), RNG.uniform(-1.5, 1.5, 4000), np.full(4000, 16.0)]
    cams = make_preset("beyond", points=wall, captured_world_from_cam=caps).sample(40)
    z = np.array([c.center[2] for c in cams])
    assert z.max() == pytest.approx(14.0, abs=0.3)            # halfway from the end (12) to the wall (16)
    assert z.min() == pytest.approx(-6.0, abs=0.3)            # nothing behind the start: the full 6 units
