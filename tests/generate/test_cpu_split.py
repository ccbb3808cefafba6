"""engine.cpu_split: jobs run on two threads give their results in order, errors surface, a
worker never splits again, CUDA work stays in line; and every piece of the surface generator
split that way (plane-sweep chunks, reference batches, box means over planes, neighbour counts,
PatchMatch boxes, the references' depth warp started ahead) gives exactly the values it
gives in line (ANYRECON_CPU_SPLIT=1)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import engine.generate.sweep as sweep_mod
from engine import cpu_split
from engine.generate import lumigraph
from engine.generate.lumigraph import (
    make_source,
    prefetch_reference_depth,
    sample_sources,
    target_rays,
    warp_reference_depth,
)
from engine.generate.surface import SurfaceGeneratorOptions
from engine.render.surface import box_mean, see_through_fast
from tests.conftest import shifted_camera as _camera
from tests.conftest import wavy_color
from tests.generate.test_surface_cpu_speed import _plane_view


def _both(monkeypatch, fn):
    """fn() in line and split across two threads."""
    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "1")
    a = fn()
    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "2")
    return a, fn()


def test_run_all_keeps_order_raises_and_does_not_nest(monkeypatch):
    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "2")
    names = cpu_split.run_all([lambda i=i: (i, threading.current_thread().name) for i in range(5)], 2)
    assert [n[0] for n in names] == list(range(5))
    assert cpu_split.splits("cpu") == 2
    assert cpu_split.submit(lambda: cpu_split.splits("cpu")).result() == 1   # a worker does not split

    def boom():
        raise ValueError("job failed")
    with pytest.raises(ValueError, match="job failed"):
        cpu_split.run_all([lambda: 1, boom, lambda: 2], 2)
    assert cpu_split.splits(torch.device("cuda")) == 1
    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "1")
    assert cpu_split.splits("cpu") == 1
    assert [len(p) for p in cpu_split.parts(list(range(7)), 2)] == [4, 3]


def test_split_sweep_and_sampling_equal_in_line(monkeypatch):
    sources = [make_source(*_plane_view(x, 64, 48), "cpu") for x in (-0.2, -0.05, 0.1, 0.25, 0.3)]
    target = _camera(0.05, 64, 40)
    depth = torch.full((40, 64), 2.5)
    depth[:, :10], depth[:, -10:] = 1.5, 3.5
    guessed = torch.zeros(40, 64, dtype=torch.bool)
    guessed[:, 14:50] = True
    depth[guessed] = 2.0
    opts = sweep_mod.SweepOptions(min_pixels=8)
    (d1, s1), (d2, s2) = _both(monkeypatch, lambda: sweep_mod.sweep_guessed_depth(
        depth, guessed, sources, target, target_rays, opts))
    assert torch.equal(d1, d2) and torch.equal(s1, s2) and s1.sum() > 0.5 * guessed.sum()

    rays, eye = target_rays(target, "cpu")
    x = eye + rays * d1[..., None]
    one, two = _both(monkeypatch, lambda: sample_sources(sources, x, eye, SurfaceGeneratorOptions(), guessed, 0.01))
    for a, b in zip(one, two):
        for name in ("color", "penalty", "factor", "verified", "fallback_penalty"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_split_box_mean_and_neighbour_counts_equal_in_line(monkeypatch):
    rng = np.random.default_rng(1)
    planes = torch.as_tensor(rng.random((1, 6, 50, 70)), dtype=torch.float32)
    a, b = _both(monkeypatch, lambda: box_mean(planes, 9))
    assert torch.equal(a, b)
    d = torch.as_tensor(1 + 3 * rng.random((240, 300)), dtype=torch.float32)   # >= 50k pixels: split
    d[torch.as_tensor(rng.random((240, 300)) < 0.3)] = 0
    mask = d > 0
    a, b = _both(monkeypatch, lambda: see_through_fast(d, mask, abs_tol=0.01))
    assert torch.equal(a, b) and bool(a.any())


def test_split_patchmatch_boxes_equal_in_line(monkeypatch):
    from engine.generate.fill import FillOptions, fill_holes, patchmatch_module

    if patchmatch_module() is None:
        pytest.skip("PatchMatch library not available")
    h, w = 120, 200
    color = wavy_color(h, w)
    holes = np.zeros((h, w), bool)
    holes[5:15, 5:17] = True
    holes[100:112, 180:194] = True
    holes[60:66, 2:9] = True
    a, b = _both(monkeypatch, lambda: fill_holes(color, holes, None, FillOptions()).color)
    assert np.array_equal(a, b)


def test_prefetched_reference_depth_is_the_warp(monkeypatch):
    """The warp started ahead into a generator's slot is the warp, taken by that slot's next call
    of the very same objects only (another generator's slot computes its own)."""
    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "2")
    sources = [make_source(*_plane_view(x, 64, 48), "cpu") for x in (-0.2, 0.1)]
    target = _camera(0.05, 64, 40)
    d0, c0 = warp_reference_depth(sources, target, 0.01)
    mine, other = lumigraph.PrefetchSlot(), lumigraph.PrefetchSlot()
    prefetch_reference_depth(sources, target, 0.01, mine)
    assert mine.pending and not other.pending
    d2, _ = warp_reference_depth(sources, target, 0.01, other)    # not its warp: computed, slot untouched
    assert mine.pending
    assert warp_reference_depth(sources, _camera(0.05, 64, 40), 0.01, mine) is not None and mine.pending  # other target
    d1, c1 = warp_reference_depth(sources, target, 0.01, mine)
    assert not mine.pending                                        # taken by the call with the same objects
    assert torch.equal(d0, d1) and torch.equal(c0, c1) and torch.equal(d0, d2) and bool(c0.any())


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_splits_with_a_pool_of_its_own(monkeypatch):
    """A child forked after the pool's threads started (tests/test_issue12_cases.py forks its
    xdist worker) inherited a pool whose dead threads still counted: its splits waited forever."""
    import os
    import time

    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "2")
    assert cpu_split.submit(lambda: 7).result() == 7          # the parent's pool has a live thread
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = cpu_split.submit(lambda: 3).result() == 3 and cpu_split.run_all([lambda: 1, lambda: 2], 2) == [1, 2]
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30.0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not done:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert done and status == 0
