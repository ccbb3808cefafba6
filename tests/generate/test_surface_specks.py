"""Plus-shaped specks on extrapolated frames (issue 13; fern's beyond path, frame 0): one stray
known depth pixel spread by the guessed depth's background bias, and isolated far planes of
the plane sweep. Both were found per pixel on fern's frame 0 (see benchmarks/RESULTS.md)."""
import numpy as np
import torch

from engine.generate.lumigraph import complete_inverse_depth
from engine.generate.sweep import SweepOptions, _coherent

H, W = 48, 64


def _plane_with_hole(stray: bool):
    """Known plane at z = 2 with a 16-px wide hole (columns 30-45), optionally one stray known
    pixel at z = 8 (a depth outlier) two pixels left of the hole."""
    depth = torch.full((H, W), 2.0)
    known = torch.ones(H, W, dtype=torch.bool)
    known[:, 30:46] = False
    depth[~known] = 0.0
    if stray:
        depth[24, 28] = 8.0
    return depth, known


def test_a_stray_far_pixel_does_not_push_the_holes_around_it_back():
    depth, known = _plane_with_hole(stray=True)
    hole = ~known
    old = complete_inverse_depth(depth, known, reach=9, support=1)   # the max filter of every pixel
    new = complete_inverse_depth(depth, known, reach=9)
    pushed = hole & (old > 2.5)
    # the defect: a patch of the hole (around row 24, next to the stray pixel) went far back
    assert int(pushed.sum()) > 20 and bool(pushed[24, 30:34].all())
    assert not bool(pushed[5].any())                   # ... only there: a speck, not the surface
    # the fix: the plane around it (the push-pull of inverse depth still feels the stray
    # pixel a little: 1/8 among 1/2s)
    assert float((new[hole] - 2.0).abs().max()) < 0.2


def test_a_real_background_still_biases_a_disocclusion():
    """Near plane (z = 2) left of the hole, far wall (z = 6) right of it: the hole's pixels next
    to the wall keep the wall's depth (the bias the support filter must not remove)."""
    depth, known = _plane_with_hole(stray=False)
    depth[:, 46:] = 6.0
    out = complete_inverse_depth(depth, known, reach=9)
    every = complete_inverse_depth(depth, known, reach=9, support=1)
    assert float(out[:, 45].min()) > 4.9                        # the wall's side of the hole
    assert float((every - out)[:, 30:46].max()) < 0.7            # the bias reaches one pixel less
    assert float(out[:, 30].max()) < 2.3                          # the near side stays near


def test_sweep_keeps_region_planes_and_drops_isolated_ones():
    """Support test of the plane sweep (``sweep._coherent``) on a 20x20 sweep grid of guessed
    pixels: a region chose planes 5-6, one pixel inside chose plane 20 (a far plane where the
    references happened to agree), a small 2x2 block chose plane 0."""
    hs, ws = 20, 20
    guessed = torch.ones(hs, ws, dtype=torch.bool)
    idx = torch.arange(hs * ws)
    arg = torch.full((hs, ws), 5)
    arg[:, 10:] = 6
    arg[10, 10] = 20
    arg[3:5, 3:5] = 0
    good = torch.ones(hs * ws, dtype=torch.bool)
    keep = _coherent(good, arg.view(-1), idx, guessed, SweepOptions()).view(hs, ws)
    assert not bool(keep[10, 10]) and not bool(keep[3:5, 3:5].any())
    region = torch.ones(hs, ws, dtype=torch.bool)
    region[10, 10] = False
    region[3:5, 3:5] = False
    assert bool(keep[region].all())
    # too few pixels of the window found a plane at all: no region, nothing kept
    sparse = torch.zeros(hs * ws, dtype=torch.bool)
    sparse[::9] = True
    assert not bool(_coherent(sparse, arg.view(-1), idx, guessed, SweepOptions())[sparse].any())


def test_previous_frame_depth_carries_no_plus_shaped_near_specks():
    """The previous frame's depth, carried into the next frame (``warp_depth``: points drawn
    with footprints at quarter size): one stray near pixel (z = 1 on a wall at z = 4) used to
    come back as a plus of known near depth, 4x magnified (fern beyond frames 1-7)."""
    from engine.generate.lumigraph import make_source, warp_depth
    from engine.geometry import Camera, se3
    from engine.geometry.camera import intrinsics_from_fov

    cam = Camera(intrinsics_from_fov(50.0, 128, 96), 128, 96, se3.make_transform(np.eye(3), np.zeros(3)))
    depth = np.full((96, 128), 4.0, np.float32)
    depth[48, 64] = 1.0
    prev = make_source(cam, np.zeros((96, 128, 3), np.float32), depth, "cpu")
    d = warp_depth(prev, cam, "cpu")
    assert float((d > 0).float().mean()) > 0.95          # the wall comes through
    assert int(((d > 0) & (d < 3.0)).sum()) == 0          # the speck does not
    lone = torch.as_tensor(np.where(np.arange(25).reshape(5, 5) == 12, 1.0, 4.0).astype(np.float32))
    from engine.generate.lumigraph import near_specks
    plus = torch.full((9, 9), 4.0)
    plus[4, 3:6] = 1.0
    plus[3:6, 4] = 1.0
    assert bool(near_specks(plus)[4, 4]) and bool(near_specks(plus)[3, 4])
    edge = torch.full((9, 9), 4.0)
    edge[:, :5] = 1.0                                      # a near surface's edge is no speck
    assert not bool(near_specks(edge).any())
    assert bool(near_specks(lone)[2, 2])


def _memory_render(depth: torch.Tensor, mask: torch.Tensor):
    """A captured memory surface render (segment -1) of ``depth`` [H,W] under ``mask``."""
    from engine.render.surface import SurfaceRender

    h, w = depth.shape
    def full(v, dt):
        return torch.full((h, w), v, dtype=dt)

    return SurfaceRender(torch.full((h, w, 3), 0.5), torch.where(mask, depth, torch.zeros_like(depth)), mask,
                         full(3, torch.int32), full(0, torch.int64), full(1.0, torch.float32),
                         full(-1, torch.int32), torch.zeros(h, w, dtype=torch.bool))


def test_memory_hint_keeps_its_depth_where_the_previous_frame_does_not_land():
    """Memory surface where the references have no measured depth is a hint; where the
    previous frame's depth did not land, its depth used to become 0 (every such pixel sampled
    the photos at the camera center: the flat grey patches of livingroom's beyond path)."""
    from engine.generate.protocol import GeneratedFrame
    from engine.generate.surface import SurfaceGenerator
    from engine.geometry import Camera, se3
    from engine.geometry.camera import intrinsics_from_fov

    cam = Camera(intrinsics_from_fov(50.0, 96, 64), 96, 64, se3.make_transform(np.eye(3), np.zeros(3)))
    guide = _memory_render(torch.full((64, 96), 3.0), torch.ones(64, 96, dtype=torch.bool))
    # the previous camera, 2 m to the right, saw the wall (z = 3) on the target's right only
    prev_cam = Camera(cam.K, 96, 64, se3.make_transform(np.eye(3), np.array([2.0, 0.0, 0.0])))
    prev = GeneratedFrame(prev_cam, np.zeros((64, 96, 3), np.float32), np.full((64, 96), 3.0, np.float32),
                          np.ones((64, 96), np.float32), np.zeros((64, 96), bool))
    gen = SurfaceGenerator(device="cpu")
    depth, known, _, hint, _gap, _held = gen._surface_depth(cam, guide, [], prev, 0.01)
    assert bool(known[:, 50:].all()) and bool(hint[:, :40].all())   # previous frame | memory hint
    assert float(depth[:, :40].min()) > 2.9         # the hint at the memory's depth (was 0)
    assert float((depth[known] - 3.0).abs().max()) < 0.1


def test_stray_memory_points_are_no_hint():
    """One stray captured point drawn in front of the memory's wall (a footprint of radius 3 px,
    the surface render's largest, at z = 1 before z = 3) is neither a depth hint nor memory
    color."""
    from engine.generate.surface import SurfaceGenerator

    depth = torch.full((64, 96), 3.0)
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(96), indexing="ij")
    disc = (yy - 33) ** 2 + (xx - 43) ** 2 <= 9
    depth[disc] = 1.0
    guide = _memory_render(depth, torch.ones(64, 96, dtype=torch.bool))
    weak, dense = SurfaceGenerator(device="cpu")._weak_memory(guide)
    assert bool(weak[disc].all()) and not bool(dense[disc].any())
    assert not bool(weak[:, :30].any())            # the wall is memory surface as before


def test_a_stray_far_memory_point_where_the_memory_is_empty_is_no_hint():
    """A 5-px footprint of a captured point far behind, alone in an empty part of the memory
    render (fern beyond frame 0: a white dot on the planter), is no hint and no color."""
    from engine.generate.surface import SurfaceGenerator

    mask = torch.zeros(64, 96, dtype=torch.bool)
    mask[:, 60:] = True                              # the memory's surface on the right
    mask[30, 28:31] = True                           # the stray point's plus-shaped footprint
    mask[29:32, 29] = True
    depth = torch.where(mask, torch.full((64, 96), 3.0), torch.zeros(64, 96))
    depth[29:32, 28:31] = 9.0
    weak, dense = SurfaceGenerator(device="cpu")._weak_memory(_memory_render(depth, mask))
    assert bool(weak[30, 29]) and not bool(dense[29:32, 28:31].any())
    assert not bool(weak[:, 62:].any())
