"""The CPU speed-ups of the surface generator give the values of the code they replaced:
box_mean = avg_pool2d (exact on masks), the CPU near_specks = the neighbour_counts rule, the
plane sweep in chunks = one plane at a time, sampling on a subset of pixels = sampling the
whole frame there, the fallback blend on a subset = the full blend there, and a frame of the
generator is the same whether its per-guide cache is warm or cold."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import engine.generate.sweep as sweep_mod
from engine.generate.lumigraph import Sample, make_source, near_specks, sample_source, sample_sources, target_rays
from engine.generate.lumigraph import ulr_blend
from engine.generate.surface import (
    SurfaceGenerator,
    SurfaceGeneratorOptions,
    _sample_where,
)
from engine.render.surface import box_mean, neighbour_counts
from tests.conftest import shifted_camera as _camera
from tests.conftest import wavy_color


def _depth(rng, h, w, holes=0.4):
    d = torch.as_tensor(1 + 3 * rng.random((h, w)), dtype=torch.float32)
    d[torch.as_tensor(rng.random((h, w)) < holes)] = 0
    near = torch.as_tensor(rng.random((h, w)) < 0.05)
    d[near] *= 0.5
    return d


@pytest.mark.parametrize("k", [3, 7, 11])
def test_box_mean_is_avg_pool(k):
    rng = np.random.default_rng(k)
    vals = torch.as_tensor(rng.random((1, 3, 37, 53)), dtype=torch.float32)
    mask = (vals > 0.6).float()
    ref = lambda t: F.avg_pool2d(t, k, stride=1, padding=k // 2, count_include_pad=False)  # noqa: E731
    assert torch.equal(box_mean(mask, k), ref(mask))
    assert torch.allclose(box_mean(vals, k), ref(vals), atol=1e-6, rtol=0)


@pytest.mark.parametrize("k", [5, 11])
def test_near_specks_cpu_is_neighbour_rule(k):
    rng = np.random.default_rng(k)
    for _ in range(3):
        d = _depth(rng, 41, 67)
        farther, drawn = neighbour_counts(d, k, lambda nb, c: nb > c * 1.05)
        ref = (d > 0) & (farther.float() > 0.6 * drawn.clamp_min(1).float())
        got = near_specks(d, k)
        assert torch.equal(got, ref)
    assert ref.any() and not ref.all()


def _scene(rng, n=4, w=48, h=32):
    sources = []
    for i in range(n):
        cam = _camera(-0.2 + 0.15 * i, w, h)
        img = rng.random((h, w, 3)).astype(np.float32)
        d = (2.0 + 0.3 * rng.random((h, w))).astype(np.float32)
        d[rng.random((h, w)) < 0.2] = 0.0
        sources.append(make_source(cam, img, d, "cpu"))
    return sources


def _plane_view(x: float, w: int, h: int, z: float = 2.5):
    """A camera at (x, 0, 0) looking at a textured plane at depth z: (camera, image, depth)."""
    cam = _camera(x, w, h)
    f = cam.K[0, 0]
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    wx, wy = x + (u - w / 2) / f * z, (v - h / 2) / f * z
    tex = 0.5 + 0.5 * np.sin(np.stack([9 * wx + 3 * wy, 7 * wy - 5 * wx, 11 * wx * wy + 4 * wx], -1))
    return cam, tex.astype(np.float32), np.full((h, w), z, np.float32)


def test_sweep_chunks_equal_single_planes(monkeypatch):
    sources = [make_source(*_plane_view(x, 64, 48), "cpu") for x in (-0.2, -0.05, 0.1, 0.25)]
    target = _camera(0.05, 64, 40)
    depth = torch.full((40, 64), 2.5)
    depth[:, :10], depth[:, -10:] = 1.5, 3.5        # known depth sets the planes' range
    guessed = torch.zeros(40, 64, dtype=torch.bool)
    guessed[:, 14:50] = True
    depth[guessed] = 2.0                             # a wrong guess the sweep corrects
    opts = sweep_mod.SweepOptions(min_pixels=8)
    monkeypatch.setattr(sweep_mod, "_CHUNK_VALUES", 1)           # one plane per chunk
    d1, s1 = sweep_mod.sweep_guessed_depth(depth, guessed, sources, target, target_rays, opts)
    monkeypatch.setattr(sweep_mod, "_CHUNK_VALUES", 10**9)       # all planes at once
    d2, s2 = sweep_mod.sweep_guessed_depth(depth, guessed, sources, target, target_rays, opts)
    assert torch.equal(d1, d2) and torch.equal(s1, s2)
    assert s1.sum() > 0.5 * guessed.sum()
    assert (d1[s1] - 2.5).abs().max() < 0.2


def test_subset_sampling_and_fallback_blend_equal_full_frame():
    rng = np.random.default_rng(2)
    sources = _scene(rng)
    prev = make_source(_camera(0.0, 48, 32), rng.random((32, 48, 3)).astype(np.float32),
                       (2.0 + 0.3 * rng.random((32, 48))).astype(np.float32), "cpu",
                       invented=rng.random((32, 48)) < 0.3)
    target = _camera(0.05, 36, 24)
    rays, eye = target_rays(target, "cpu")
    depth = torch.as_tensor(2.0 + 0.3 * rng.random((24, 36)), dtype=torch.float32)
    x = eye + rays * depth[..., None]
    guessed = torch.as_tensor(rng.random((24, 36)) < 0.3)
    where = torch.as_tensor(rng.random((24, 36)) < 0.5)
    opt = SurfaceGeneratorOptions()
    full = sample_source(prev, x, eye, opt, guessed)
    sub = _sample_where(prev, x, eye, opt, guessed, where)
    for name in ("color", "penalty", "factor", "verified", "invented", "fallback_penalty"):
        assert torch.equal(getattr(sub, name)[where], getattr(full, name)[where]), name
    samples = sample_sources(sources, x, eye, opt, guessed, 0.01)
    c_full, w_full, _ = ulr_blend(samples, opt.blend_k, fallback=True)
    part = [Sample(s.color[where], s.penalty[where], s.factor[where], s.verified[where], None,
                   s.fallback_penalty[where]) for s in samples]
    c_sub, w_sub, _ = ulr_blend(part, opt.blend_k, fallback=True)
    assert torch.equal(c_sub, c_full[where]) and torch.equal(w_sub, w_full[where])
    assert (w_sub > 0).any()


def test_weak_memory_cache_gives_the_uncached_answer():
    from engine.render.surface import SurfaceRender

    rng = np.random.default_rng(3)
    h, w = 30, 40
    d = _depth(rng, h, w, holes=0.2)
    mask = d > 0
    seg = torch.as_tensor(np.where(rng.random((h, w)) < 0.3, 2, -1))
    guide = SurfaceRender(torch.zeros(h, w, 3), d, mask, torch.zeros(h, w, dtype=torch.int64),
                          torch.zeros(h, w, dtype=torch.int64), torch.as_tensor(rng.random((h, w)), dtype=torch.float32),
                          seg, torch.zeros(h, w, dtype=torch.bool))
    also = torch.as_tensor(rng.random((h, w)) < 0.2)
    warm = SurfaceGenerator(device="cpu")
    warm._weak_memory(guide)
    got = warm._weak_memory(guide, also)
    want = SurfaceGenerator(device="cpu")._weak_memory(guide, also)
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert got[0].any()


def test_kth_smallest_is_sort():
    from engine.generate.lumigraph import _kth_smallest

    rng = np.random.default_rng(4)
    for r in (2, 5, 6, 9):
        pen = torch.as_tensor(np.round(rng.random((r, 17, 23)) * 5, 1), dtype=torch.float32)   # ties
        pen[torch.as_tensor(rng.random((r, 17, 23)) < 0.3)] = float("inf")
        for k in range(r):
            assert torch.equal(_kth_smallest(pen, k), torch.sort(pen, dim=0).values[k]), (r, k)


def test_separate_holes_are_filled_box_by_box():
    """Two small holes at opposite corners: inpainted in their own boxes (not one box over the
    whole frame); every hole pixel filled, every other pixel kept, texture continued."""
    from engine.generate.fill import (
        FillOptions,
        _hole_boxes,
        fill_holes,
        patchmatch_module,
    )

    h, w = 120, 200
    color = wavy_color(h, w)
    holes = np.zeros((h, w), bool)
    holes[5:15, 5:17] = True
    holes[100:112, 180:194] = True
    boxes = _hole_boxes(holes, 24)
    assert len(boxes) == 2 and sum((b[1] - b[0]) * (b[3] - b[2]) for b in boxes) < 0.5 * h * w
    assert len(_hole_boxes(holes, 100)) == 1          # overlapping boxes merge
    scattered = np.zeros((h, w), bool)
    scattered[::20, ::25] = True                      # 48 one-pixel holes: not split
    assert _hole_boxes(scattered, 2, FillOptions().max_split_regions) == [] and len(_hole_boxes(scattered, 2)) == 48
    out = fill_holes(color, holes, None, FillOptions())
    assert np.array_equal(out.color[~holes], color[~holes])
    if patchmatch_module() is not None:
        assert out.method == "patchmatch"
    err = np.abs(out.color[holes] - color[holes]).mean()
    assert err < 0.25
