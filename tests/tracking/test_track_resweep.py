"""Sweeps made with earlier poses are found by their scale against the final sparse points
and swept again (engine.tracking.dense.stale_sweeps; the symmetric orbit's first chunk)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.tracking.dense import (
    DenseState,
    sparse_depth_ratio,
    stale_sweeps,
    sweep_views,
)
from engine.tracking.mvs import MVSOptions, SweepResult
from tests.conftest import make_capture


@pytest.fixture(scope="module")
def exact():
    """Six demo views (160x90) whose "raw sweeps" are the exact depth, view 2's scaled by
    0.985 (as if swept in a gauge 1.5% off), and 2000 surface points."""
    cap = make_capture(n=6, width=160, height=90)
    pts, _ = cap.scene.sample_surface(2000, seed=3)
    state = DenseState(MVSOptions(max_side=160, num_neighbors=3), "cpu")
    for i, (cam, view) in enumerate(zip(cap.cameras, cap.views)):
        state.cameras[i], state.images[i] = cam, view.image
        depth = view.depth.astype(np.float32) * (0.985 if i == 2 else 1.0)
        state.raw[i] = SweepResult(torch.from_numpy(depth), torch.ones_like(torch.from_numpy(depth)))
    return cap, pts, state


def test_scale_off_the_sparse_points_marks_the_sweep_stale(exact):
    _, pts, state = exact
    ratios = {i: sparse_depth_ratio(state, i, pts) for i in state.raw}
    assert abs(ratios[2] - 0.985) < 0.002, ratios
    assert all(abs(r - 1.0) < 0.002 for i, r in ratios.items() if i != 2), ratios
    assert stale_sweeps(state, pts) == [2]
    assert sparse_depth_ratio(state, 0, pts[:5]) is None    # too few points to say


def test_sweeping_again_with_the_current_poses_fixes_it(exact):
    cap, pts, state = exact
    cams = dict(enumerate(cap.cameras))
    imgs = {i: v.image for i, v in enumerate(cap.views)}
    assert list(sweep_views(state, [2], cams, imgs, pts)) == [2]
    assert abs(sparse_depth_ratio(state, 2, pts) - 1.0) < 0.005
    assert 2 not in stale_sweeps(state, pts)
