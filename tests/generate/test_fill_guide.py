"""The fill's structure guide (engine/generate/fill.py): PatchMatch guided by the elevation of
each pixel's ray above the scene's horizon keeps a wall's texture above the wall-floor line and
the floor's below it where a wide hole crosses the line; plain PatchMatch mixes them."""
from dataclasses import replace

import numpy as np
import pytest

from engine.generate.fill import FillOptions, elevation_guide, fill_holes, patchmatch_module
from engine.geometry.camera import Camera

needs_pm = pytest.mark.skipif(patchmatch_module() is None, reason="PatchMatch library not available")

H, W, LINE, HOLE_W = 90, 160, 50, 70
# the source rules of test_fill_source.py off but the band: the wall's stripes would count as
# objects on a smooth floor (texture rule) at the guided fill's lower work scale
OPT = FillOptions(texture_max=0.0)


def _wall_floor():
    """A level camera (OpenCV axes, world up = -y) looking at a striped warm wall above row
    ``LINE`` and a noisy cool floor below it; the left ``HOLE_W`` columns are unseen."""
    rng = np.random.default_rng(1)
    c = np.zeros((H, W, 3), np.float32)
    stripes = ((np.arange(W) // 4) % 2)[None, :, None].repeat(LINE, 0)
    c[:LINE] = np.where(stripes, [0.85, 0.55, 0.45], [0.75, 0.45, 0.35])
    c[LINE:] = np.array([0.4, 0.5, 0.7]) + 0.15 * (rng.random((H - LINE, W, 1)) - 0.5)
    holes = np.zeros((H, W), bool)
    holes[:, :HOLE_W] = True
    K = np.array([[100.0, 0, W / 2], [0, 100.0, H / 2], [0, 0, 1]])
    return c, holes, np.full((H, W), 3.0, np.float32), Camera(K, W, H, np.eye(4))


def _kept(out):
    """Share of the hole's pixels above the line (3 rows off it) that are wall-coloured
    (warm), and below it floor-coloured (cool)."""
    warm = out[..., 0] > out[..., 2]
    return float(warm[:LINE - 3, :HOLE_W].mean()), float((~warm[LINE + 3:, :HOLE_W]).mean())


@needs_pm
def test_guided_fill_keeps_wall_above_and_floor_below_the_line():
    color, holes, depth, cam = _wall_floor()
    wall, floor = _kept(fill_holes(color, holes, depth, OPT, camera=cam).color)
    assert wall >= 0.95 and floor >= 0.95, (wall, floor)
    # what the guide is for: unguided, PatchMatch copies the wall's stripes into the floor
    wall0, floor0 = _kept(fill_holes(color, holes, depth, replace(OPT, guide_weight=0.0), camera=cam).color)
    assert floor0 < 0.9 and floor0 < floor - 0.1, (wall0, floor0)


@needs_pm
def test_guide_uses_the_scene_up_not_the_camera_roll():
    """A camera rolled by 90 deg about its axis sees the wall-floor line as a column; with
    the scene's up given, the guide follows it (wall on the left = up)."""
    color, holes, depth, cam = _wall_floor()
    # rotate the image a quarter turn: the wall (up) is now on the left, the floor on the right
    rc = np.ascontiguousarray(np.rot90(color, 1))          # [W,H,3]: row r = old column W-1-r
    rh = np.zeros(rc.shape[:2], bool)
    rh[W - HOLE_W:, :] = True                              # the old left columns = the bottom rows now
    K = np.array([[100.0, 0, H / 2], [0, 100.0, W / 2], [0, 0, 1]])
    # camera rolled: its x axis points world down (-up), its y axis world right
    R = np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])   # world_from_cam rotation (columns: cam axes)
    wfc = np.eye(4)
    wfc[:3, :3] = R
    rolled = Camera(K, H, W, wfc)
    up = np.array([0.0, -1.0, 0.0])
    out = fill_holes(rc, rh, np.full(rh.shape, 3.0, np.float32), OPT, camera=rolled, up=up).color
    back = np.rot90(out, -1)
    wall, floor = _kept(back)
    assert wall >= 0.95 and floor >= 0.95, (wall, floor)


def test_elevation_guide_level_and_pitched_camera():
    K = np.array([[100.0, 0, 80], [0, 100.0, 45], [0, 0, 1]])
    up = np.array([0.0, -1.0, 0.0])
    g = elevation_guide(K, np.eye(4), up, (0, 90, 0, 160), (90, 160), degrees=30.0)
    assert g.shape == (90, 160, 3) and g.dtype == np.float32
    assert np.all(g[..., 1:] == 0)
    col = g[:, 80, 0]
    assert np.all(np.diff(col) < 0)                          # higher rows look higher
    # the horizon through the principal point (row 45's centre is 0.5 px below it)
    assert abs(float(g[45, 80, 0]) - (0.25 - 0.25 * np.degrees(np.arctan(0.5 / 100)) / 30)) < 1e-4
    # row 0 is atan(44.5 / 100) = 24 deg up: 0.25 + 0.25 * 24 / 30
    assert abs(float(g[0, 80, 0]) - (0.25 + 0.25 * np.degrees(np.arctan(44.5 / 100)) / 30)) < 1e-3
    assert g[..., 0].min() >= 0 and g[..., 0].max() <= 0.5
    # pitched 20 deg down: the centre pixel looks 20 deg below the horizon
    a = np.radians(20)
    pitch = np.eye(4)
    pitch[:3, :3] = np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]])
    gp = elevation_guide(K, pitch, up, (0, 90, 0, 160), (90, 160), degrees=30.0)
    assert abs(float(gp[45, 80, 0]) - (0.25 - 0.25 * 20 / 30)) < 3e-3
    # a box at work scale samples the same rays as the full frame
    gb = elevation_guide(K, np.eye(4), up, (10, 50, 20, 100), (20, 40), degrees=30.0)
    assert np.allclose(gb[:, :, 0], g[10:50:2, 20:100:2, 0], atol=0.01)


@needs_pm
def test_guide_off_and_narrow_holes_are_the_plain_fill():
    color, holes, depth, cam = _wall_floor()
    plain = fill_holes(color, holes, depth, FillOptions()).color                 # no camera: unguided
    off = fill_holes(color, holes, depth, FillOptions(guide_weight=0.0), camera=cam).color
    assert np.array_equal(plain, off)
    thin = np.zeros_like(holes)
    thin[20:70, 40:50] = True                                                    # reaches 5 px from the seen pixels
    a = fill_holes(color, thin, depth, FillOptions(), camera=cam).color
    b = fill_holes(color, thin, depth, FillOptions()).color
    assert np.array_equal(a, b)
