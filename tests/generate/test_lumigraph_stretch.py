"""Samples through stretched geometry (engine.generate.stretch.footprint_stretch and
engine.generate.lumigraph.limit_stretch): a reference that sees a surface at a grazing angle
covers many target pixels with each of its pixels; what it shows there is a smear, not
something seen (office's beyond path: horizontal streaks counted as seen, 0.8% of the frame
flagged invented)."""
from __future__ import annotations

import numpy as np
import torch

from engine.generate.lumigraph import Sample, limit_stretch, make_source, target_rays
from engine.generate.stretch import footprint_stretch
from engine.generate.surface import SurfaceGenerator, SurfaceGeneratorOptions
from engine.generate.sweep import SweepOptions
from engine.geometry import Camera, camera_torch, se3
from engine.geometry.camera import intrinsics_from_fov

W, H = 96, 64
PLANE_Z = 2.0


def _look_at(center, target) -> Camera:
    z = np.asarray(target, float) - np.asarray(center, float)
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return Camera(intrinsics_from_fov(50.0, W, H), W, H, se3.make_transform(np.stack([x, np.cross(z, x), z], 1),
                                                                           np.asarray(center, float)))


def _plane_depth(cam: Camera) -> np.ndarray:
    """z-depth [H,W] of the plane z = PLANE_Z seen by ``cam`` (0 where it does not see it)."""
    vv, uu = np.mgrid[0:H, 0:W] + 0.5
    rays = np.stack([uu, vv, np.ones_like(uu)], -1) @ np.linalg.inv(cam.K).T @ cam.world_from_cam[:3, :3].T
    t = (PLANE_Z - cam.world_from_cam[2, 3]) / rays[..., 2]
    return np.where(t > 0, t, 0.0).astype(np.float32)


def _source(cam: Camera, seed: int):
    img = np.random.default_rng(seed).random((H, W, 3)).astype(np.float32)
    return make_source(cam, img, _plane_depth(cam), "cpu")


TARGET = _look_at([0.0, 0.0, 0.0], [0.0, 0.0, 1.0])            # faces the plane
GRAZING = _look_at([-3.0, 0.0, 1.5], [0.0, 0.0, PLANE_Z])        # sees it at ~9.5 degrees
FRONTAL = _look_at([0.15, 0.0, 0.0], [0.15, 0.0, 1.0])          # faces it, beside the target


def _render(options: SurfaceGeneratorOptions, sources):
    gen = SurfaceGenerator(options, device="cpu")
    gen.trace = {}
    frame = gen.render_frame(TARGET, None, sources, None, 0.01, fill=False)
    return frame, gen.trace


OFF = SweepOptions(enabled=False)
OLD = SurfaceGeneratorOptions(max_stretch=0.0, stretch_weight=0.0, sweep=OFF)   # the code of before


def test_footprint_stretch_of_a_plane_matches_its_geometry():
    """Fronto-parallel plane, reference at the same distance: the focal ratio along both axes
    (f_ref / f_target cancels it); the grazing reference: the plane's foreshortening, several
    target pixels per reference pixel along one axis, ~1.5 along the other."""
    rays, eye = target_rays(TARGET, "cpu")
    x = eye + rays * PLANE_Z

    half = Camera(TARGET.K * np.array([[0.5], [0.5], [1.0]]), W // 2, H // 2, FRONTAL.world_from_cam)
    u, v, _ = camera_torch.project(half, x)
    for t in footprint_stretch(u, v):
        assert np.allclose(t.numpy(), 2.0, rtol=1e-3)                       # its pixels are 2x larger
    for t in footprint_stretch(u, v, scale=0.5):
        assert np.allclose(t.numpy(), 1.0, rtol=1e-3)                       # geometric: 1
    u, v, _ = camera_torch.project(GRAZING, x)
    worst, best = (t.numpy() for t in footprint_stretch(u, v))
    # the exact Jacobian of the plane's mapping (target pixel -> grazing reference pixel) by
    # projecting points 1e-3 target pixels apart
    eps = 1e-3
    K_inv = np.linalg.inv(TARGET.K)
    c, r = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)

    def ref_px(dc, dr):
        p = np.stack([c + dc, r + dr, np.ones_like(c)], -1) @ K_inv.T * PLANE_Z
        q = (p @ GRAZING.cam_from_world[:3, :3].T + GRAZING.cam_from_world[:3, 3]) @ GRAZING.K.T
        return q[..., :2] / q[..., 2:]
    jac = np.stack([(ref_px(eps, 0) - ref_px(-eps, 0)), (ref_px(0, eps) - ref_px(0, -eps))], -1) / (2 * eps)
    sv = np.linalg.svd(jac, compute_uv=False)
    inner = (slice(8, H - 8), slice(8, W - 8))
    assert np.allclose(worst[inner], 1.0 / sv[..., -1][inner], rtol=0.05)
    assert np.allclose(best[inner], 1.0 / sv[..., 0][inner], rtol=0.05)
    aniso = sv[..., 0] / sv[..., -1]
    assert aniso[inner].min() > 2.0 and np.median(aniso) > 4.0      # grazing: a streak, not a blur


def test_a_grazing_reference_alone_is_no_observation():
    """The target faces a plane that its only reference sees at a grazing angle: the old code
    drew the smear as seen (no pixel invented); now the pixels are invented, low confidence."""
    src = [_source(GRAZING, 0)]
    old, _ = _render(OLD, src)
    new, trace = _render(SurfaceGeneratorOptions(sweep=OFF), src)
    plane = np.abs(new.depth - PLANE_Z) < 0.05 * PLANE_Z
    assert plane.mean() > 0.9                         # the surface itself is right
    assert old.invented[plane].mean() < 0.05          # the defect: the smear counted as seen
    assert new.invented[plane].mean() > 0.9
    assert new.confidence[plane & new.invented].max() <= 0.1 + 1e-6
    assert trace["smeared"][plane].mean() > 0.8           # (before the closing of its islands)


def test_a_frontal_reference_sees_what_the_grazing_one_smears():
    """With a reference that faces the plane as well, nothing is invented and the frontal
    reference's colors win the blend (the stretch penalty)."""
    src = [_source(GRAZING, 0), _source(FRONTAL, 1)]
    new, _ = _render(SurfaceGeneratorOptions(sweep=OFF), src)
    alone, _ = _render(SurfaceGeneratorOptions(sweep=OFF), src[1:])
    plane = np.abs(new.depth - PLANE_Z) < 0.05 * PLANE_Z
    seen = plane & ~alone.invented
    assert seen.mean() > 0.8 and new.invented[seen].mean() < 0.02
    assert np.abs(new.color[seen] - alone.color[seen]).mean() < 0.02


def test_limit_stretch_drops_only_where_no_sample_is_within():
    """Per pixel: samples beyond the limit are dropped only where no visible sample is within
    it; ``smeared`` marks the pixels that lost every sample."""
    inf = float("inf")

    def smp(pen, st):   # one row of three pixels
        p = torch.tensor([pen])
        return Sample(torch.ones(1, 3, 3), p, torch.ones(1, 3), torch.isfinite(p), None, p.clone(), torch.tensor([st]))

    # pixel 0: both visible, one within; pixel 1: only a stretched one visible; pixel 2: none
    a = smp([1.0, 1.0, inf], [1.0, 9.0, 9.0])
    b = smp([2.0, inf, inf], [9.0, 9.0, 9.0])
    out, smeared = limit_stretch([a, b], 3.0)
    assert torch.isfinite(out[1].penalty[0, 0])           # kept: sample a is within at pixel 0
    assert not torch.isfinite(out[0].penalty[0, 1])       # dropped: nothing within at pixel 1
    assert smeared[0].tolist() == [False, True, False]
