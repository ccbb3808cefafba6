"""The memory's colours at fusion never come from a dark line at the photo's border
(engine.imaging.dark_border: TUM office's last row and column): those pixels are still lifted
(their depth is as good as their neighbours'), with the colour of the pixel inside them. A clean
photo's colours are taken as they are."""
from __future__ import annotations

import numpy as np

from engine.memory import GeometryMemory
from engine.memory.backproject import backproject_depth
from tests.conftest import shifted_camera

W, H = 64, 48


def _image(dark: bool) -> np.ndarray:
    rng = np.random.default_rng(1)
    img = rng.integers(120, 200, (H, W, 3), dtype=np.uint8)
    if dark:
        img[-1] = 20
        img[:, -1] = 20
    return img


def test_dark_border_pixels_are_lifted_with_the_colour_inside_them():
    cam = shifted_camera(0.0, W, H)
    depth = np.full((H, W), 2.0, np.float32)
    img = _image(True)
    pts = backproject_depth(cam, depth, img)
    assert pts.xyz.shape[0] == H * W                                   # every pixel lifted
    rgb = (pts.rgb.numpy() * 255).round().astype(np.uint8).reshape(H, W, 3)
    assert rgb.min() >= 120                                            # no dark colour at all
    np.testing.assert_array_equal(rgb[:-1, :-1], img[:-1, :-1])
    np.testing.assert_array_equal(rgb[-1, :-1], img[-2, :-1])
    np.testing.assert_array_equal(rgb[:-1, -1], img[:-1, -2])
    mem = GeometryMemory(0.01, device="cpu")
    mem.insert_depth(cam, depth, img)
    assert mem.snapshot().rgb.min() >= 120 / 255 - 1e-6


def test_a_clean_photo_keeps_every_colour():
    cam = shifted_camera(0.0, W, H)
    img = _image(False)
    pts = backproject_depth(cam, np.full((H, W), 2.0, np.float32), img)
    np.testing.assert_array_equal((pts.rgb.numpy() * 255).round().astype(np.uint8).reshape(H, W, 3), img)
