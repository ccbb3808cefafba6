"""sample_sources (references of one size sampled in one batch) gives exactly the Samples of
sample_source per reference, in order, with mixed sizes, a view without depth, completed
depth and dark border lines of different sides (each reference keeps its own inset) among the
references."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.generate.lumigraph import (
    make_source,
    sample_source,
    sample_sources,
    target_rays,
)
from engine.generate.surface import SurfaceGeneratorOptions
from tests.conftest import shifted_camera as _camera


@pytest.mark.parametrize("target_focal", [None, 30.0])
def test_batched_sampling_equals_per_source(target_focal):
    """... with the stretch measured and penalised (target_focal) or not."""
    rng = np.random.default_rng(0)
    sources = []
    for i, (x, w, h, depth) in enumerate([(-0.2, 48, 32, True), (0.1, 48, 32, True), (0.3, 40, 30, True),
                                          (0.25, 48, 32, False), (-0.1, 48, 32, True)]):
        cam = _camera(x, w, h)
        img = rng.random((h, w, 3)).astype(np.float32)
        if i == 1:
            img[:, :2] *= 0.3                          # two dark columns at the left
        if i == 4:
            img[-1] *= 0.3                             # a dark last row
        d = (2.0 + 0.3 * rng.random((h, w))).astype(np.float32) if depth else None
        if d is not None:
            d[rng.random((h, w)) < 0.2] = 0.0          # holes: completed, not measured
        completed = (rng.random((h, w)) < 0.1) if (depth and i == 4) else None
        sources.append(make_source(cam, img, d, "cpu", completed=completed))
    assert sources[1].inset == (2.5, 0.0, 0.0, 0.0) and sources[4].inset == (0.0, 0.0, 0.0, 1.5)
    target = _camera(0.05, 36, 24)
    rays, eye = target_rays(target, "cpu")
    depth = torch.as_tensor(2.0 + 0.3 * rng.random((24, 36)), dtype=torch.float32)
    x = eye + rays * depth[..., None]
    guessed = torch.as_tensor(rng.random((24, 36)) < 0.3)
    opt = SurfaceGeneratorOptions()
    batched = sample_sources(sources, x, eye, opt, guessed, 0.01, target_focal)
    single = [sample_source(s, x, eye, opt, guessed, 0.01, target_focal) for s in sources]
    assert len(batched) == len(single)
    for b, s in zip(batched, single):
        for name in ("color", "penalty", "factor", "verified", "fallback_penalty"):
            assert torch.equal(getattr(b, name), getattr(s, name)), name
        assert b.invented is None and s.invented is None
        assert (b.stretch is None) == (s.stretch is None) == (target_focal is None)
        if target_focal is not None:
            assert torch.equal(b.stretch, s.stretch)
    assert torch.isfinite(batched[0].penalty).any()
