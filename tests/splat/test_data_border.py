"""The splat trainer's loss leaves out a photo's dark border lines (engine.imaging: TUM office's
last row and column): make_view gives those pixels, and those an area-filter resize mixes with
them, weight 0; a clean photo's view keeps no weight at all (every pixel counts, as before)."""
from __future__ import annotations

import numpy as np
import torch

from engine.splat.data import make_view
from engine.splat.losses import photometric_loss
from tests.conftest import shifted_camera

W, H = 64, 48


def _photo(dark: bool) -> np.ndarray:
    img = np.random.default_rng(2).integers(100, 200, (H, W, 3), dtype=np.uint8)
    if dark:
        img[-1] = 10
        img[:, -1] = 10
    return img


def test_dark_border_lines_are_out_of_the_loss():
    view = make_view(shifted_camera(0.0, W, H), _photo(True), "cpu")
    wt = view.weight.numpy()
    assert wt.shape == (H, W) and not wt[-1].any() and not wt[:, -1].any() and (wt[:-1, :-1] == 1).all()
    # a prediction that misses only the dark lines has no loss left
    pred = view.image.clone()
    pred[-1] = pred[-2]
    pred[:, -1] = pred[:, -2]
    assert float(photometric_loss(pred, view.image, view.weight, ssim_lambda=0.0)) == 0.0
    half = make_view(shifted_camera(0.0, W, H), _photo(True), "cpu", scale=0.5)
    wt = half.weight.numpy()
    assert wt.shape == (H // 2, W // 2) and not wt[-1].any() and not wt[:, -1].any() and (wt[:-1, :-1] == 1).all()


def test_a_generated_frames_weight_is_kept_and_masked():
    given = np.full((H, W), 0.5, np.float32)
    view = make_view(shifted_camera(0.0, W, H), _photo(True).astype(np.float32) / 255, "cpu", weight=given,
                     source="generated")
    wt = view.weight.numpy()
    assert not wt[-1].any() and np.allclose(wt[:-1, :-1], 0.5)


def test_a_clean_photo_keeps_every_pixel_in_the_loss():
    view = make_view(shifted_camera(0.0, W, H), _photo(False), "cpu")
    assert view.weight is None
    assert torch.equal(view.image, torch.as_tensor(_photo(False).astype(np.float32) / 255.0))
