"""Small gaps of the known surface (engine.generate.surface): the defect seen on real captures
(blocky background pieces printed into objects)."""
import numpy as np

from engine.generate.lumigraph import make_source
from engine.generate.surface import SurfaceGenerator, SurfaceGeneratorOptions
from engine.generate.sweep import SweepOptions
from engine.geometry import Camera, se3
from engine.geometry.camera import intrinsics_from_fov

W, H = 96, 64


def _camera(x: float = 0.0) -> Camera:
    return Camera(intrinsics_from_fov(50.0, W, H), W, H, se3.make_transform(np.eye(3), np.array([x, 0.0, 0.0])))


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((H, W, 3)).astype(np.float32)


def test_gaps_inside_a_near_surface_take_that_surface_not_the_background():
    """Near plane (z = 2) on the left with 3x3 holes (unmatched pixels), far wall (z = 6) on
    the right. Holes near the boundary used to take the far depth (background bias)."""
    depth = np.full((H, W), 6.0, np.float32)
    depth[:, : W // 2] = 2.0
    holes = np.zeros((H, W), bool)
    for r in range(4, H - 4, 8):
        for c in range(W // 2 - 12, W // 2 - 3, 6):
            holes[r:r + 3, c:c + 3] = True
    depth[holes] = 0.0
    cam = _camera()
    src = make_source(cam, _image(), depth, "cpu")
    off = SweepOptions(enabled=False)
    old = SurfaceGenerator(SurfaceGeneratorOptions(gap_px=0, sweep=off), device="cpu")
    new = SurfaceGenerator(SurfaceGeneratorOptions(gap_px=7, sweep=off), device="cpu")
    d_old = old.render_frame(cam, None, [src], None, 0.01).depth
    d_new = new.render_frame(cam, None, [src], None, 0.01).depth
    assert d_old[holes].max() > 3.0                  # the defect: the background pulls them back
    assert np.abs(d_new[holes] - 2.0).max() < 0.1    # the surface around the gaps
