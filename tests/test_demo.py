"""The demo's path is the app's Orbit preset on the demo capture (engine.demo.demo_path): what
``anyrecon generate --preset orbit`` (and the studio's Orbit button) places on it, retimed to
the demo's frames; the capture is a 120-deg arc, so the path sweeps that arc instead of
circling the objects' unseen back; ``path_preset="orbit-360"`` still goes all the way round."""
from dataclasses import replace

import numpy as np
import pytest

from engine.demo import DemoOptions, demo_path
from engine.session import run_job
from engine.synthetic import make_demo_scene
from engine.workflows import Workspace, demo_job
from engine.workflows.generate import path_in_project

OPTS = DemoOptions(num_views=8, width=96, height=54, stride=2, path_frames=40, path_fps=10.0)


@pytest.fixture(scope="module")
def demo_ws():
    ws = Workspace()
    run_job(demo_job(OPTS), ws)
    return ws


def _azimuths_deg(centers, about):
    """Azimuths [N] deg about the demo's up (-y) of centers [N,3] around ``about`` [3]."""
    rel = np.atleast_2d(centers) - about
    return np.degrees(np.arctan2(rel[:, 2], rel[:, 0]))


def _off_deg(az, middle):
    return np.abs((np.asarray(az) - middle + 180.0) % 360.0 - 180.0)


def test_demo_path_is_the_orbit_preset_retimed(demo_ws):
    traj = demo_ws.project.trajectories["orbit"]
    preset = path_in_project(demo_ws.project, "orbit")
    assert traj.loop and preset.loop
    assert len(traj.sample()) == OPTS.path_frames and traj.fps == OPTS.path_fps
    np.testing.assert_allclose(np.stack([k.world_from_cam for k in traj.keyframes]),
                               np.stack([k.world_from_cam for k in preset.keyframes]), atol=1e-9)
    np.testing.assert_allclose(traj.times / traj.resolved_duration, preset.times / preset.resolved_duration)
    assert (traj.width, traj.height) == (OPTS.width, OPTS.height)


def test_demo_path_stays_over_the_filmed_arc_and_orbit_360_goes_round(demo_ws):
    captured = np.stack([v.camera.center for v in demo_ws.views])
    target = make_demo_scene(OPTS.seed).center               # what the capture circles (3 m away)
    cam_az = _azimuths_deg(captured, target)
    middle = float(np.degrees(np.angle(np.exp(1j * np.radians(cam_az)).mean())))
    half = _off_deg(cam_az, middle).max()                     # ~60 deg: the 120-deg capture
    path = np.stack([c.center for c in demo_ws.project.trajectories["orbit"].sample()])
    off = _off_deg(_azimuths_deg(path, target), middle)
    assert half - 5.0 < off.max() < half + 15.0               # end to end, a margin past the cameras
    full = demo_path(demo_ws.memory, demo_ws.views, replace(OPTS, path_preset="orbit-360"))
    assert full.loop and len(full.sample()) == OPTS.path_frames
    off360 = _off_deg(_azimuths_deg(np.stack([c.center for c in full.sample()]), target), middle)
    assert off360.max() > 170.0                                # behind the objects too


def test_cached_demo_renders_are_reused_and_each_load_gets_its_own_arrays():
    """demo_views(cache=True) (the demo job's ``cache_renders``, on in the studio tests): the
    same views as a fresh render, rendered once per capture, each call its own arrays."""
    from engine.demo import RENDER_CACHE_SIZE, _cached_views, demo_views

    opts = DemoOptions(num_views=3, width=48, height=27)
    _cached_views.cache_clear()
    fresh = list(demo_views(opts))
    first = list(demo_views(opts, cache=True))
    second = list(demo_views(opts, cache=True))
    assert _cached_views.cache_info().misses == 1 and _cached_views.cache_info().hits == 1
    for (v0, _), (v1, f1), (v2, f2) in zip(fresh, first, second):
        np.testing.assert_array_equal(v0.image, v1.image)
        np.testing.assert_array_equal(v0.depth, v2.depth)
        np.testing.assert_allclose(v0.camera.world_from_cam, v2.camera.world_from_cam)
        assert f1 is f2                                           # the render is shared ...
        assert v1.image is not v2.image and v1.depth is not v2.depth    # ... the views' arrays are not
    first[0][0].image[:] = 0
    assert next(iter(demo_views(opts, cache=True)))[0].image.any()   # a load's changes stay its own
    for n in range(RENDER_CACHE_SIZE + 1):                         # bounded: the oldest capture dropped
        list(demo_views(replace(opts, num_views=2, seed=n + 1), cache=True))
    assert _cached_views.cache_info().currsize == RENDER_CACHE_SIZE
    _cached_views.cache_clear()
