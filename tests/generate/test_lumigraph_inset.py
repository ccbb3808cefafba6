"""Dark lines at a reference's border are never sampled (engine.generate.lumigraph.
dark_border_inset, found per side by engine.imaging): TUM's office photos carry a dark last row
and column (the tracker's undistortion adds up to two dark lines on every side), which the
surface generator drew as thin dark polygon outlines wherever a reference's border crossed the
frame. The clean sides of such a photo are sampled to the edge."""
from __future__ import annotations

import numpy as np
import torch

from engine.generate.lumigraph import (
    dark_border_inset,
    make_source,
    sample_source,
    target_rays,
)
from engine.generate.surface import SurfaceGeneratorOptions
from engine.geometry import Camera, se3
from engine.geometry.camera import intrinsics_from_fov

W, H = 64, 48


def _camera(x: float) -> Camera:
    return Camera(intrinsics_from_fov(50.0, W, H), W, H, se3.make_transform(np.eye(3), np.array([x, 0.0, 0.0])))


def _grey(dark_border: bool) -> np.ndarray:
    img = np.full((H, W, 3), 153, np.uint8)
    if dark_border:
        img[-1, :] = 0
        img[:, -1] = 0
    return img


def _darkest_sample(image: np.ndarray) -> float:
    """The darkest color a target shifted right (the reference's right border crosses it)
    samples from ``image`` on the plane z = 2."""
    src = make_source(_camera(0.0), image, np.full((H, W), 2.0, np.float32), "cpu")
    target = _camera(0.3)
    rays, eye = target_rays(target, "cpu")
    s = sample_source(src, eye + rays * 2.0, eye, SurfaceGeneratorOptions(), torch.zeros(H, W, dtype=torch.bool))
    seen = torch.isfinite(s.penalty)
    assert bool(seen.any())
    return float(s.color[seen].mean(-1).min())


def test_a_dark_border_line_is_not_sampled():
    assert dark_border_inset(_grey(True)) == (0.0, 0.0, 1.5, 1.5)      # right and bottom: one dark line each
    assert dark_border_inset(_grey(False)) == (0.0, 0.0, 0.0, 0.0)
    assert _darkest_sample(_grey(True)) > 0.55          # grey: the black last column is not sampled
    assert _darkest_sample(_grey(False)) > 0.55


def test_a_clean_border_is_sampled_to_the_edge():
    """Without a dark line the reference's outermost pixels count (no coverage lost)."""
    src = make_source(_camera(0.0), _grey(False), np.full((H, W), 2.0, np.float32), "cpu")
    assert src.inset == (0.0, 0.0, 0.0, 0.0)
    wide = make_source(_camera(0.0), _grey(True), np.full((H, W), 2.0, np.float32), "cpu")
    rays, eye = target_rays(_camera(0.0), "cpu")
    x = eye + rays * 2.0
    guessed = torch.zeros(H, W, dtype=torch.bool)
    opt = SurfaceGeneratorOptions()
    clean_seen = torch.isfinite(sample_source(src, x, eye, opt, guessed).penalty)
    dark_seen = torch.isfinite(sample_source(wide, x, eye, opt, guessed).penalty)
    assert bool(clean_seen.all()) and not bool(dark_seen[:, -1].any()) and bool(dark_seen[2:-2, 2:-2].all())


def test_only_the_dark_sides_are_kept_off_and_wider_borders_too():
    """Three dark columns at the left: none of them sampled; the clean right, top and bottom
    sides are sampled up to the outermost pixel (the old single inset kept every side off)."""
    img = _grey(False)
    img[:, :3] = 0
    src = make_source(_camera(0.0), img, np.full((H, W), 2.0, np.float32), "cpu")
    assert src.inset == (3.5, 0.0, 0.0, 0.0)
    rays, eye = target_rays(_camera(0.0), "cpu")
    seen = torch.isfinite(sample_source(src, eye + rays * 2.0, eye, SurfaceGeneratorOptions(),
                                        torch.zeros(H, W, dtype=torch.bool)).penalty)
    assert not bool(seen[:, :3].any()) and bool(seen[:, 4:].all())
    target = _camera(-0.3)                  # the reference's left border crosses this frame
    rays, eye = target_rays(target, "cpu")
    s = sample_source(src, eye + rays * 2.0, eye, SurfaceGeneratorOptions(), torch.zeros(H, W, dtype=torch.bool))
    seen = torch.isfinite(s.penalty)
    assert bool(seen.any()) and float(s.color[seen].mean(-1).min()) > 0.55
