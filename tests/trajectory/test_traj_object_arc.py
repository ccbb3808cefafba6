"""An object filmed from one side is orbited over the arc the capture saw (issue 13): the
"orbit" preset of an object capture sweeps the cameras' azimuths about the subject (plus a
margin), back and forth as a loop; a capture that went all the way round keeps the full
circle, and the preset "orbit-360" asks for it explicitly. The "spiral" preset follows the
same rule: over the filmed arc (the sweep twice, closing in and coming down), or its two
full turns for a capture filmed all round. Synthetic captures only (y-down
world, up = -y), engine-only, fast."""
import numpy as np
import pytest

from engine.geometry import se3
from engine.trajectory.layout import ARC_MARGIN_DEG, OBJECT, object_arc
from engine.trajectory.presets import PRESETS, make_preset, orbit, spiral
from engine.trajectory.scene_summary import plane_basis, summarize_scene

UP = np.array([0.0, -1.0, 0.0])
TARGET = np.array([0.0, 0.5, 3.0])
RNG = np.random.default_rng(13)


def ring_capture(azimuths_deg, radius=3.0, lift=0.8):
    """Cameras around TARGET at the given azimuths (deg, in the x-z plane: 0 = +x, 90 = +z),
    ``lift`` above it (along up = -y), each looking at it: world_from_cam [N,4,4]."""
    a = np.radians(np.asarray(azimuths_deg, dtype=float))
    r = np.broadcast_to(np.asarray(radius, dtype=float), a.shape)
    eyes = TARGET + np.c_[r * np.cos(a), np.full_like(a, -lift), r * np.sin(a)]
    return np.stack([se3.look_at(e, TARGET, UP) for e in eyes])


def subject_points(n=3000):
    return TARGET + RNG.normal(size=(n, 3)) * 0.3


def azimuth_deg(points):
    """Azimuths [N] deg of points [N,3] about TARGET in the test's own x-z convention."""
    rel = np.atleast_2d(points) - TARGET
    return np.degrees(np.arctan2(rel[:, 2], rel[:, 0]))


def off_deg(az, middle):
    """Unsigned angle [N] deg from ``middle`` to azimuths ``az``, across the +-180 wrap."""
    return np.abs((np.asarray(az) - middle + 180.0) % 360.0 - 180.0)


def orbit_centers(caps, n=48, preset="orbit"):
    traj = make_preset(preset, points=subject_points(), captured_world_from_cam=caps, fov_y_deg=50.0,
                       width=64, height=36)
    return traj, traj.sample(n)


@pytest.mark.parametrize("middle", [90.0, 180.0, -60.0], ids=["front", "straddles-180", "other-side"])
def test_one_sided_capture_orbits_over_the_captured_arc(middle):
    """A half-circle capture (180 deg, centred on ``middle``; 180 straddles the +-180 wrap):
    the orbit stays within the captured arc plus the margin and sweeps it end to end, instead
    of going round the back nobody filmed (the old orbit: a full circle)."""
    caps = ring_capture(middle + np.linspace(-90.0, 90.0, 13))
    assert summarize_scene(subject_points(), caps, 50.0).layout == OBJECT
    traj, cams = orbit_centers(caps)
    off = off_deg(azimuth_deg(np.stack([c.center for c in cams])), middle)
    assert off.max() <= 90.0 + ARC_MARGIN_DEG + 1.0           # never behind the subject
    assert off.max() >= 90.0                                  # reaches past the outermost cameras
    assert off.min() <= 2.0                                   # and passes the middle
    assert traj.loop                                          # back and forth: a loop for video
    for c in cams:                                            # still looking at the subject
        to_target = (TARGET - c.center) / np.linalg.norm(TARGET - c.center)
        assert np.degrees(np.arccos(np.clip(to_target @ c.forward, -1, 1))) < 1.5
        assert c.world_from_cam[:3, 1] @ UP < 0               # image-down is world-down: up kept


def test_narrow_capture_straddling_the_wrap_gets_its_arc_not_the_long_way_round():
    """100 deg of cameras from 130 to 230 deg (through +-180): the arc is those 100 deg (+margin),
    not the 260 deg between -130 and 130 that a sort of raw angles would give."""
    az = np.r_[np.linspace(130.0, 179.0, 6), np.linspace(-178.0, -130.0, 6)]
    caps = ring_capture(RNG.permutation(az))                  # capture order does not matter
    _, cams = orbit_centers(caps)
    off = off_deg(azimuth_deg(np.stack([c.center for c in cams])), 180.0)
    assert off.max() <= 50.0 + ARC_MARGIN_DEG + 1.0 and off.max() >= 50.0
    e1, e2 = plane_basis(UP)
    arc = object_arc(caps, TARGET, UP, e1, e2)
    assert arc.coverage_deg == pytest.approx(100.0, abs=0.5)
    assert 100.0 < arc.arc_deg <= 100.0 + 2 * ARC_MARGIN_DEG + 1e-9


@pytest.mark.parametrize("azimuths", [np.arange(0.0, 360.0, 15.0), np.linspace(20.0, 330.0, 20)],
                         ids=["360", "310-deg"])
def test_capture_all_round_keeps_the_full_circle(azimuths):
    """No azimuth gap wider than 90 deg: the orbit is the full circle of before (same keyframes)."""
    caps = ring_capture(azimuths)
    summary = summarize_scene(subject_points(), caps, 50.0)
    assert summary.layout == OBJECT and summary.arc.full_circle
    traj = make_preset("orbit", points=subject_points(), captured_world_from_cam=caps, fov_y_deg=50.0)
    ref = orbit(summary.center, summary.radius, summary.height_offset, fov_y_deg=50.0, up=summary.up,
                start_angle_deg=summary.start_angle_deg)
    np.testing.assert_allclose(np.stack([k.world_from_cam for k in traj.keyframes]),
                               np.stack([k.world_from_cam for k in ref.keyframes]), atol=1e-9)
    az = azimuth_deg(np.stack([c.center for c in traj.sample(48)]))
    assert np.diff(np.sort(az)).max() < 15.0                  # all the way round


def test_orbit_360_preset_circles_a_one_sided_capture_all_the_way():
    caps = ring_capture(np.linspace(200.0, 320.0, 12))
    summary = summarize_scene(subject_points(), caps, 50.0)
    assert not summary.arc.full_circle
    assert "orbit-360" in PRESETS
    traj, cams = orbit_centers(caps, preset="orbit-360")
    ref = orbit(summary.center, summary.radius, summary.height_offset, fov_y_deg=50.0, up=summary.up,
                start_angle_deg=summary.start_angle_deg)
    np.testing.assert_allclose(np.stack([k.world_from_cam for k in traj.keyframes]),
                               np.stack([k.world_from_cam for k in ref.keyframes]), atol=1e-9)
    assert off_deg(azimuth_deg(np.stack([c.center for c in cams])), 260.0).max() > 170.0


def test_arc_orbit_follows_the_cameras_distance_and_height():
    """A capture that comes closer and higher in the middle of its arc: the orbit's eyes follow
    (within a camera spacing of a captured camera over the captured part), where one fixed
    radius and height would pass a spacing or more away from every camera."""
    az = np.linspace(30.0, 150.0, 13)
    dip = np.cos(np.radians(az - 90.0) * 1.5)                 # 1 in the middle, 0 at the ends
    caps = ring_capture(az, radius=4.0 - 1.5 * dip, lift=0.8 + 0.6 * dip)
    pos = caps[:, :3, 3]
    spacing = np.median(np.sort(np.linalg.norm(pos[:, None] - pos[None], axis=2), axis=1)[:, 1])
    _, cams = orbit_centers(caps)
    eyes = np.stack([c.center for c in cams])
    inside = off_deg(azimuth_deg(eyes), 90.0) <= 60.0
    nearest = np.linalg.norm(eyes[inside][:, None] - pos[None], axis=2).min(axis=1)
    assert nearest.max() < 1.0 * spacing
    height = (eyes - TARGET) @ UP
    assert np.ptp(height) > 0.3                               # the elevation follows the cameras too


def test_arc_orbit_stays_on_the_ring_eases_at_the_turns_and_loops_smoothly():
    """The captured ring (radius 3, 0.8 above the subject) is kept between keyframes; the
    camera slows to a stop at both ends of the arc and the loop closes without a jump; the
    margin past the outermost cameras is at most one camera spacing."""
    caps = ring_capture(np.linspace(200.0, 320.0, 12))        # 11 deg = 0.57 units apart
    _, cams = orbit_centers(caps, n=240)
    rel = np.stack([c.center for c in cams]) - TARGET
    height = rel @ UP
    np.testing.assert_allclose(height, 0.8, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(rel - np.outer(height, UP), axis=1), 3.0, rtol=0.03)
    az = np.unwrap(np.radians(azimuth_deg(rel + TARGET)))
    step = np.degrees(np.abs(np.diff(np.r_[az, az[0]])))     # per frame, the last back to the first
    turns = [int(np.argmin(az)), int(np.argmax(az))]
    assert max(step.max(), 0.1) < 3.0                         # no jump, also across the seam
    assert all(step[(t - 1) % 240] < 0.2 * step.max() for t in turns)   # stops to turn
    span = np.degrees(az.max() - az.min())
    assert 120.0 < span <= 120.0 + 2 * np.degrees(0.57 / 3.0) + 0.5


@pytest.mark.parametrize("order", [1, -1], ids=["first-camera-at-low-end", "first-camera-at-high-end"])
def test_arc_orbit_starts_at_the_end_of_the_first_captured_camera(order):
    caps = ring_capture(np.linspace(200.0, 320.0, 12)[::order])
    _, cams = orbit_centers(caps, n=8)
    first = azimuth_deg(caps[0, :3, 3])[0]
    assert off_deg(azimuth_deg(cams[0].center), first)[0] < 12.0      # within the margin of it


def spiral_move(radius, lift, spacing):
    """(in, down) world units a one-sided spiral moves by its end: toward 0.6x the radius and
    0.25x the lift, the move cut to 1.5 camera spacings."""
    move = np.array([0.4 * radius, 0.75 * lift])
    return move * min(1.0, 1.5 * spacing / np.linalg.norm(move))


@pytest.mark.parametrize("middle", [90.0, 180.0, -60.0], ids=["front", "straddles-180", "other-side"])
def test_spiral_of_a_one_sided_capture_stays_over_the_captured_arc(middle):
    """A half-circle capture (as the orbit test's): the spiral sweeps the captured arc (plus
    the margin) out and back twice instead of two full turns round the unseen back, closing in
    toward 0.6x the cameras' radius and coming down toward 0.25x their height (that move cut to
    1.5 camera spacings: 15 deg = 0.785 apart), looking at the subject; an open path that ends
    at the end it started from."""
    caps = ring_capture(middle + np.linspace(-90.0, 90.0, 13))
    traj, cams = orbit_centers(caps, n=97, preset="spiral")
    eyes = np.stack([c.center for c in cams])
    az = azimuth_deg(eyes)
    off = off_deg(az, middle)
    assert off.max() <= 90.0 + ARC_MARGIN_DEG + 1.0           # never behind the subject
    assert off.max() >= 90.0 and off.min() <= 2.0             # end to end, through the middle
    signed = (az - middle + 180.0) % 360.0 - 180.0
    ends = np.flatnonzero(np.abs(np.diff(np.sign(np.diff(signed)))) > 0)
    assert len(ends) == 3                                     # out, back, out, back: three turns between
    assert not traj.loop
    assert off_deg(az[-1], az[0]) < 1.0                    # back at the end it started from
    rel = eyes - TARGET
    height = rel @ UP
    radius = np.linalg.norm(rel - np.outer(height, UP), axis=1)
    np.testing.assert_allclose([radius[0], height[0]], [3.0, 0.8], rtol=0.02)
    move_in, move_down = spiral_move(3.0, 0.8, spacing=3.0 * np.radians(15.0))
    np.testing.assert_allclose([radius[-1], height[-1]], [3.0 - move_in, 0.8 - move_down], rtol=0.02)
    assert move_in > 0.3 * 3.0                                # it does close in
    ramp = np.linspace(0.0, 1.0, len(eyes))                   # closing in, coming down, steadily in time
    np.testing.assert_allclose(radius, 3.0 - move_in * ramp, rtol=0.04)   # (chords between keyframes)
    np.testing.assert_allclose(height, 0.8 - move_down * ramp, rtol=0.04, atol=0.01)
    for c in cams:
        to_target = (TARGET - c.center) / np.linalg.norm(TARGET - c.center)
        assert np.degrees(np.arccos(np.clip(to_target @ c.forward, -1, 1))) < 1.5
        assert c.world_from_cam[:3, 1] @ UP < 0               # up kept


def test_spiral_of_a_narrow_capture_straddling_the_wrap_keeps_to_its_arc():
    az = np.r_[np.linspace(130.0, 179.0, 6), np.linspace(-178.0, -130.0, 6)]
    _, cams = orbit_centers(ring_capture(RNG.permutation(az)), preset="spiral")
    off = off_deg(azimuth_deg(np.stack([c.center for c in cams])), 180.0)
    assert 50.0 <= off.max() <= 50.0 + ARC_MARGIN_DEG + 1.0


@pytest.mark.parametrize("azimuths", [np.arange(0.0, 360.0, 15.0), np.linspace(20.0, 330.0, 20)],
                         ids=["360", "310-deg"])
def test_spiral_of_a_capture_all_round_keeps_its_full_turns(azimuths):
    caps = ring_capture(azimuths)
    summary = summarize_scene(subject_points(), caps, 50.0)
    assert summary.arc.full_circle
    traj = make_preset("spiral", points=subject_points(), captured_world_from_cam=caps, fov_y_deg=50.0)
    ref = spiral(summary.center, summary.radius, 0.6 * summary.radius, 2.0, summary.height_offset,
                 0.25 * summary.height_offset, fov_y_deg=50.0, up=summary.up, start_angle_deg=summary.start_angle_deg)
    np.testing.assert_allclose(np.stack([k.world_from_cam for k in traj.keyframes]),
                               np.stack([k.world_from_cam for k in ref.keyframes]), atol=1e-9)


@pytest.mark.parametrize("order", [1, -1], ids=["first-camera-at-low-end", "first-camera-at-high-end"])
def test_arc_spiral_starts_and_ends_at_the_end_of_the_first_captured_camera(order):
    caps = ring_capture(np.linspace(200.0, 320.0, 12)[::order])
    _, cams = orbit_centers(caps, n=8, preset="spiral")
    first = azimuth_deg(caps[0, :3, 3])[0]
    assert off_deg(azimuth_deg(np.stack([cams[0].center, cams[-1].center])), first).max() < 12.0


def test_arc_spiral_closes_in_by_at_most_one_and_a_half_camera_spacings():
    """Cameras 5 deg apart on a radius-3 ring (0.26 apart): the spiral moves in and down by
    1.5 spacings (0.39), not to 0.6x the radius (1.2 in): the eyes stay near the filmed views."""
    caps = ring_capture(np.arange(200.0, 321.0, 5.0))
    spacing = 3.0 * np.radians(5.0)
    _, cams = orbit_centers(caps, n=49, preset="spiral")
    rel = np.stack([c.center for c in cams]) - TARGET
    height = rel @ UP
    radius = np.linalg.norm(rel - np.outer(height, UP), axis=1)
    np.testing.assert_allclose([3.0 - radius[-1], 0.8 - height[-1]], spiral_move(3.0, 0.8, spacing), rtol=0.01)
    nearest = np.linalg.norm(rel[:, None] + TARGET - caps[None, :, :3, 3], axis=2).min(axis=1)
    assert nearest.max() < 2.0 * spacing
