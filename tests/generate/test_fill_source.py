"""The PatchMatch fill's source: the surface next to the hole at its depth, never a nearer or
textured object (livingroom's beyond path copied the room's chairs and plant into the unseen
border of a camera backed past the capture)."""
import numpy as np
import pytest

from engine.generate.fill import (
    FillOptions,
    fill_holes,
    patchmatch_module,
    source_exclusion,
)

RED = np.array([0.9, 0.1, 0.1], np.float32)
WALL = np.array([0.85, 0.85, 0.8], np.float32)


@pytest.fixture(autouse=True)
def _needs_patchmatch():
    if patchmatch_module() is None:
        pytest.skip("pypatchmatch's native library is not available")


def test_a_hole_inside_a_near_object_fills_from_the_far_wall_beyond_it():
    """A disocclusion surrounded by a near red object, the far wall (the hole's depth) a few
    pixels beyond it: the fill is wall, no red (the old rule gave up excluding nearer pixels
    when they were more than 70% of the box, and PatchMatch copied the object)."""
    h, w = 60, 96
    img = np.tile(RED, (h, w, 1))
    depth = np.full((h, w), 1.0, np.float32)
    img[:, 80:] = WALL
    depth[:, 80:] = 5.0
    holes = np.zeros((h, w), bool)
    holes[15:45, 50:62] = True
    depth[holes] = 5.0
    out = fill_holes(img, holes, depth, FillOptions(method="patchmatch"))
    assert out.method == "patchmatch"
    red = np.abs(out.color[holes] - RED).sum(-1) < 0.3
    assert red.mean() < 0.02
    assert np.abs(out.color[holes] - WALL).max() < 0.1


def _leaves(h, w):
    y, x = np.mgrid[0:h, 0:w]
    g = 0.5 + 0.45 * np.sign(np.sin(x / 1.5) * np.sin(y / 1.7))
    return np.stack([0.1 * g, g, 0.2 * g], -1).astype(np.float32)


def test_a_textured_object_at_the_same_guessed_depth_is_not_copied_into_the_border():
    """An unseen left border next to a plain wall and a textured 'plant' touching the hole,
    all at one guessed depth (depth cannot tell them apart): the border continues the wall,
    no doubled plant."""
    h, w = 72, 128
    img = np.tile(WALL, (h, w, 1))
    img[20:56, 40:60] = _leaves(36, 20)
    holes = np.zeros((h, w), bool)
    holes[:, :40] = True                      # the unseen border, touching the plant
    depth = np.full((h, w), 4.0, np.float32)
    out = fill_holes(img, holes, depth, FillOptions(method="patchmatch"))
    green = (out.color[..., 1] - out.color[..., 0]) > 0.15
    assert green[holes].mean() < 0.01
    assert np.abs(out.color[holes] - WALL).max() < 0.1
    assert np.array_equal(out.color[~holes], img[~holes])


def test_downscaled_fill_has_no_dark_rim():
    """A large box is inpainted at a lower scale: work pixels partly covered by the hole hold
    its black in their average and must count as hole, not as a dark source rim (a narrow seen
    strip in a wide unseen frame: the rim was a third of the source)."""
    h, w = 120, 200
    img = np.tile(WALL, (h, w, 1))
    holes = np.ones((h, w), bool)
    holes[50:54, 100:160] = False
    out = fill_holes(img, holes, np.full((h, w), 3.0, np.float32),
                     FillOptions(method="patchmatch", max_work_pixels=4000))
    assert out.color[holes].min() > WALL.min() - 0.05


def test_source_exclusion_compares_with_the_nearest_hole_pixels_depth():
    """A floor's depth falls down the frame: a source pixel is 'nearer' against the hole
    pixel next to it, not against one depth for the whole box; the band keeps far-away
    pixels out and the constraints give way when nothing would be left."""
    h, w = 40, 40
    img = np.full((h, w, 3), 200, np.uint8)
    hole = np.zeros((h, w), bool)
    hole[:, :10] = True
    depth = np.repeat(np.linspace(10.0, 2.0, h, dtype=np.float32)[:, None], w, 1)   # far top, near bottom
    opts = FillOptions(source_band_px=8, texture_max=0.0, min_source_share=0.0)
    ex = source_exclusion(img, hole, depth, opts)
    assert ex is not None and not ex[hole].any()
    assert not ex[:, 10:18].any()             # the floor next to the hole, at its depth
    assert ex[:, 20:].all()                   # outside the band
    near = depth.copy()
    near[30:, 10:14] = 1.0                    # an object on the floor, nearer than the hole beside it
    ex = source_exclusion(img, hole, near, opts)
    assert ex[30:, 10:14].all() and not ex[:30, 10:18].any()
    everything_near = np.where(hole, 10.0, 1.0).astype(np.float32)
    ex = source_exclusion(img, hole, everything_near, FillOptions(source_band_px=8, texture_max=0.0))
    assert ex is None or not ex[:, 10:18].all()   # never no source at all


def test_a_wide_border_next_to_a_textured_background_continues_its_texture():
    """Where the surface next to the hole is textured itself (fern's planter wall), the fill
    continues that texture, not a smooth smear (the texture rule is only for plain walls
    with objects on them)."""
    h, w = 72, 128
    y, x = np.mgrid[0:h, 0:w]
    bricks = 0.45 + 0.3 * ((x // 6 + y // 4) % 2)
    img = np.stack([bricks, 0.8 * bricks, 0.5 * bricks], -1).astype(np.float32)
    holes = np.zeros((h, w), bool)
    holes[:, :48] = True
    out = fill_holes(img, holes, np.full((h, w), 4.0, np.float32), FillOptions(method="patchmatch"))
    assert out.color[holes][:, 0].std() > 0.6 * img[~holes][:, 0].std()


def test_a_fill_that_copies_pure_black_is_kept_and_unfilled_pixels_are_still_found():
    """With a source exclusion, pixels PatchMatch leaves unfilled are Telea-filled. They used to
    be found as the pixels equal to the (black) input, so a real fill from a black source was
    Telea'd too. The holes now go in as a colour no fill can produce (unfilled_sentinel)."""
    from engine.generate import fill

    pm = patchmatch_module()
    h, w = 64, 96
    img = np.zeros((h, w, 3), np.uint8)                  # a black source (a dark shelf) ...
    img[:, 48:] = (200, 190, 170)                        # ... beside a light wall
    img[::8, 48:] = (120, 110, 100)                      # the wall's grain
    hole = np.zeros((h, w), bool)
    hole[20:44, 36:60] = True                            # across the black / wall line
    exclude = np.zeros((h, w), bool)
    exclude[:, 90:] = True                               # a nearer object at the far right
    options = FillOptions()
    pm.set_random_seed(0)
    out = fill._pm_call(pm, img, hole, exclude, options)
    pm.set_random_seed(0)
    own = pm.inpaint(img, hole.astype(np.uint8), global_mask=exclude.astype(np.uint8), patch_size=options.patch_size)
    assert (own[20:44, 36:48] == 0).all(-1).all()       # PatchMatch continues the black part ...
    assert np.array_equal(out, own)                      # ... and it is kept (old: 62% Telea'd grey)
    # PatchMatch's result does not depend on the holes' input colour: the sentinel changes nothing
    a, b = img.copy(), img.copy()
    b[hole] = (255, 0, 255)
    pm.set_random_seed(0)
    ra = pm.inpaint(a, hole.astype(np.uint8), global_mask=exclude.astype(np.uint8), patch_size=options.patch_size)
    pm.set_random_seed(0)
    rb = pm.inpaint(b, hole.astype(np.uint8), global_mask=exclude.astype(np.uint8), patch_size=options.patch_size)
    assert np.array_equal(ra[hole], rb[hole])
    # the sentinel is the cube corner farthest from every source colour, None when all are near
    src = ~hole & ~exclude
    s = fill.unfilled_sentinel(img, src)
    assert s is not None and np.abs(img[src].astype(int) - s.astype(int)).sum(-1).min() >= 3
    corners = np.array([[r, g, bb] for r in (0, 255) for g in (0, 255) for bb in (0, 255)], np.uint8)
    assert fill.unfilled_sentinel(np.tile(corners, (4, 1, 1)), np.ones((4, 8), bool)) is None
