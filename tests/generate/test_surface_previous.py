"""The previous frame's depth carried along a path (issue 13; livingroom's beyond path, frames
4-7): carried over as known depth (never swept again), a near blob of one frame's guessed depth
travelled to the next frames and sampled the photos somewhere else (white checker speckles).
It is kept only where it is not in front of the memory's surface and not a near blob among the
guessed depth around it (see benchmarks/RESULTS.md)."""
import numpy as np
import torch

from engine.generate.lumigraph import make_source
from engine.generate.protocol import GeneratedFrame
from engine.generate.surface import SurfaceGenerator, SurfaceGeneratorOptions
from engine.geometry import Camera, se3
from engine.geometry.camera import intrinsics_from_fov
from engine.render.surface import SurfaceRender

H, W = 64, 96
WALL = 3.0
K = intrinsics_from_fov(50.0, W, H)
OLD = SurfaceGeneratorOptions(previous_front_tolerance=0.0, previous_speck_window=0)


def _cam(x: float) -> Camera:
    return Camera(K, W, H, se3.make_transform(np.eye(3), np.array([x, 0.0, 0.0])))


def _wall_image(x: float) -> np.ndarray:
    """[H,W,3] float32: what a camera at (x, 0, 0) looking down +z sees of a textured wall at
    z = WALL (stripes in world x and y, so that a wrong depth samples another color)."""
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    wx = x + (u - K[0, 2]) * WALL / K[0, 0]
    wy = (v - K[1, 2]) * WALL / K[1, 1]
    img = np.stack([0.5 + 0.4 * np.sin(2 * np.pi * wx / 0.75), 0.5 + 0.4 * np.cos(2 * np.pi * wy / 0.29),
                    0.5 + 0.4 * np.sin(2 * np.pi * (wx + wy) / 1.1)], axis=-1)
    return img.astype(np.float32)


def _memory(mask: torch.Tensor) -> SurfaceRender:
    """A captured memory surface render of the wall (segment -1) under ``mask`` [H,W]: with
    the default ``known_confidence`` a hint (the guess's start), not known depth."""
    def full(v, dt):
        return torch.full((H, W), v, dtype=dt)

    depth = torch.where(mask, torch.full((H, W), WALL), torch.zeros(H, W))
    return SurfaceRender(torch.full((H, W, 3), 0.5), depth, mask, full(3, torch.int32), full(0, torch.int64),
                         full(1.0, torch.float32), full(-1, torch.int32), torch.zeros(H, W, dtype=torch.bool))


def _previous(blob: tuple[slice, slice], z: float) -> GeneratedFrame:
    """The previous frame (the target's own camera) with the wall's depth and a near blob at
    depth ``z`` over ``blob``: a guess of that frame (a wrong sweep plane, a fused guess)."""
    depth = np.full((H, W), WALL, np.float32)
    depth[blob] = z
    return GeneratedFrame(_cam(0.0), _wall_image(0.0), depth, np.full((H, W), 0.5, np.float32),
                          np.zeros((H, W), bool))


def _references():
    """Two photos of the wall from 0.4 m left and right, without depth (they see the wall,
    but their measured depth does not cover it: the target's depth is the memory's / the
    previous frame's)."""
    return [make_source(_cam(x), _wall_image(x), None, "cpu") for x in (-0.4, 0.4)]


BLOB = (slice(26, 38), slice(40, 52))   # 12 x 12 px: kept by warp_depth's own 5-px speck test


def test_a_near_blob_of_the_previous_frame_does_not_travel_over_the_memory_surface():
    """The memory holds the wall everywhere; the previous frame's depth has a blob at half the
    wall's depth. The old carry made it known depth and the photos were sampled on it (the
    wrong colors of the speckles); now the memory's wall is held there, not swept."""
    cam, guide, prev = _cam(0.0), _memory(torch.ones(H, W, dtype=torch.bool)), _previous(BLOB, 1.5)
    want = torch.from_numpy(_wall_image(0.0))
    inner = (slice(29, 35), slice(43, 49))
    for opts, bad in ((OLD, True), (SurfaceGeneratorOptions(), False)):
        gen = SurfaceGenerator(opts, device="cpu")
        depth, known, _, hint, _gap, held = gen._surface_depth(cam, guide, [], prev, 0.01)
        assert bool(known[inner].all()) == bad                  # the old carry: known depth
        assert (float(depth[inner].max()) < 1.6) == bad
        if not bad:
            assert bool(held[inner].all()) and not bool(hint[inner].any())
            assert float((depth[inner] - WALL).abs().max()) < 1e-4
            # the rest is carried (the blob's rim, blended by the warp, within the tolerance)
            assert float((depth[known] - WALL).abs().max()) <= 0.1 * WALL + 1e-4
        frame = gen.render_frame(cam, guide, _references(), prev, 0.01)
        err = float((torch.from_numpy(frame.color[inner]) - want[inner]).abs().mean())
        assert (err > 0.1) == bad, err                     # the photos sampled elsewhere / right
        assert (abs(float(frame.depth[inner].mean()) - WALL) < 0.05) == (not bad)


def test_a_near_blob_where_the_memory_has_no_surface_takes_the_surface_around_it():
    """No memory surface in the middle (a hole of the render); the previous frame's depth there
    has a small near blob and, elsewhere, a large near surface. The blob takes the completed
    wall around it; the large surface (more than a speck in its square) is carried as before."""
    mask = torch.ones(H, W, dtype=torch.bool)
    mask[8:60, 8:90] = False
    cam, guide = _cam(0.0), _memory(mask)
    prev = _previous(BLOB, 1.5)
    prev.depth[10:58, 62:88] = 2.0                          # a large near surface (26 x 48 px)
    for opts, bad in ((OLD, True), (SurfaceGeneratorOptions(), False)):
        gen = SurfaceGenerator(opts, device="cpu")
        depth, known, _, _hint, _gap, held = gen._surface_depth(cam, guide, [], prev, 0.01)
        inner = (slice(29, 35), slice(43, 49))
        assert bool(known[inner].all()) == bad
        assert bool(known[14:54, 68:84].all())                     # the large surface: carried
        assert float((depth[14:54, 68:84] - 2.0).abs().max()) < 0.05
        frame = gen.render_frame(cam, guide, _references(), prev, 0.01)
        # the old carry: the blob's depth; now the completion of the surface around it (the
        # wall, pulled a little towards the near surface 10 px to its right)
        assert (float(frame.depth[inner].max()) < 1.6) == bad
        assert (float(frame.depth[inner].min()) > 2.5) == (not bad)
        if not bad:
            assert bool(held[inner].all())
