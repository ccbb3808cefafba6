"""The per-frame paths rewritten with fewer torch ops (ops-s26) give exactly what the code they
replace gave: each test keeps the former implementation as a twin and compares, bit for bit."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.generate import lumigraph
from tests.conftest import shifted_camera
from tests.splat.conftest import tiny_capture, tiny_project  # noqa: F401 (fixtures)


def _depth(h=23, w=31, seed=0):
    rng = np.random.default_rng(seed)
    d = (2.0 + rng.random((h, w))).astype(np.float32)
    d[rng.random((h, w)) < 0.3] = 0.0
    d[:4, :5] = d[4, 5] * 1.03                      # a patch within 5% of a pixel
    return torch.from_numpy(d)


def _same_depth_count_loop(depth, k=3, rel_tol=0.05):
    """The former offset loop of lumigraph._same_depth_count."""
    h, w = depth.shape
    pad = k // 2
    dp = F.pad(depth, (pad, pad, pad, pad))
    count = torch.zeros(h, w, dtype=torch.int32, device=depth.device)
    for dy in range(k):
        for dx in range(k):
            nb = dp[dy:dy + h, dx:dx + w]
            count += (nb > 0) & ((nb - depth).abs() <= rel_tol * depth)
    return torch.where(depth > 0, count, torch.zeros_like(count))


def test_same_depth_count_equals_the_offset_loop():
    for seed in range(3):
        d = _depth(seed=seed)
        for k in (3, 5):
            got = lumigraph._same_depth_count(d, k)
            want = _same_depth_count_loop(d, k)
            assert got.dtype == want.dtype and torch.equal(got, want)


def _target_rays_uncached(camera, device):
    K_inv = torch.as_tensor(np.linalg.inv(camera.K), dtype=torch.float32, device=device)
    wfc = torch.as_tensor(camera.world_from_cam, dtype=torch.float32, device=device)
    u = torch.arange(camera.width, device=device, dtype=torch.float32) + 0.5
    v = torch.arange(camera.height, device=device, dtype=torch.float32) + 0.5
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    pix = torch.stack([uu, vv, torch.ones_like(uu)], dim=-1)
    return pix @ (wfc[:3, :3] @ K_inv).T, wfc[:3, 3]


def test_target_rays_cached_by_value_equal_uncached():
    cams = [shifted_camera(x, w, h) for x, w, h in [(0.0, 40, 30), (0.2, 40, 30), (0.0, 36, 24), (0.0, 40, 30)]]
    for cam in cams * 3:
        rays, eye = lumigraph.target_rays(cam, "cpu")
        want_rays, want_eye = _target_rays_uncached(cam, "cpu")
        assert torch.equal(rays, want_rays) and torch.equal(eye, want_eye)
    # another camera object with the same values: the same (cached) result
    a, b = shifted_camera(0.3, 40, 30), shifted_camera(0.3, 40, 30)
    assert lumigraph.target_rays(a, "cpu")[0] is lumigraph.target_rays(b, "cpu")[0]
    c = shifted_camera(0.3, 40, 30)
    c.world_from_cam[1, 3] = 0.5                      # moved: not the cached rays
    assert torch.equal(lumigraph.target_rays(c, "cpu")[1], _target_rays_uncached(c, "cpu")[1])


def _push_pull_separate(values, weights, min_size=1):
    """The former push_pull: values and weights pooled separately."""
    w = weights.clamp(0, 1)[None, None].float()
    v = values[None].float() * w
    levels = [(v, w)]
    while min(v.shape[-2:]) > min_size:
        v = F.avg_pool2d(v, 2, ceil_mode=True)
        w = F.avg_pool2d(w, 2, ceil_mode=True)
        levels.append((v, w))
    filled = levels[-1][0] / levels[-1][1].clamp_min(1e-8)
    for v, w in reversed(levels[:-1]):
        up = F.interpolate(filled, size=v.shape[-2:], mode="bilinear", align_corners=False)
        known = v / w.clamp_min(1e-8)
        filled = known * w + up * (1 - w)
    return filled[0]


def test_push_pull_pooled_together_equals_separately():
    from engine.generate.pushpull import push_pull

    rng = np.random.default_rng(1)
    for h, w, c in [(23, 31, 1), (40, 17, 3), (1, 5, 2), (64, 64, 5)]:
        vals = torch.from_numpy(rng.random((c, h, w)).astype(np.float32))
        wts = torch.from_numpy((rng.random((h, w)) < 0.4).astype(np.float32))
        for min_size in (1, 4):
            assert torch.equal(push_pull(vals, wts, min_size), _push_pull_separate(vals, wts, min_size))


def _up_repeat_interleave(coarse_vals, coarse_valid, coarse_rep, shape):
    """The former engine.render.surface._up (provenance by two repeat_interleaves)."""
    h, w = shape
    wv = coarse_valid[None, None].float()
    num = F.interpolate(coarse_vals[None] * wv, scale_factor=2, mode="bilinear", align_corners=False)[0]
    den = F.interpolate(wv, scale_factor=2, mode="bilinear", align_corners=False)[0]
    vals = (num / den.clamp_min(1e-6))[:, :h, :w]
    valid = (den[0] > 1e-6)[:h, :w]
    rep = coarse_rep.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w]
    return vals, valid & (rep >= 0), rep


def test_front_push_pull_equals_the_repeat_interleave_pull(monkeypatch):
    from engine.render import surface

    rng = np.random.default_rng(2)
    for h, w in [(23, 31), (32, 48), (17, 9)]:
        depth = torch.from_numpy((1 + rng.random((h, w))).astype(np.float32))
        valid = torch.from_numpy(rng.random((h, w)) < 0.5)
        vals = torch.from_numpy(rng.random((4, h, w)).astype(np.float32))
        got = surface.front_push_pull(vals, depth, valid, 5)
        with monkeypatch.context() as m:
            m.setattr(surface, "_up", _up_repeat_interleave)
            want = surface.front_push_pull(vals, depth, valid, 5)
        for a, b in zip(got, want):
            assert torch.equal(a, b)


def test_batched_projection_equals_per_camera():
    from engine.geometry import camera_torch

    cams = [shifted_camera(x, 40, 30) for x in (-0.2, 0.0, 0.3)]
    cams[1].K[0, 1] = 0.7                               # a skewed one
    cams[2].K[0, 0] *= 1.1
    rng = np.random.default_rng(3)
    x = torch.from_numpy((rng.random((24, 36, 3)) * [2, 2, 3] - [1, 1, 0.5]).astype(np.float32))
    x[0, 0, 2] = 0.0                                    # on the camera plane: z <= near
    u, v, z = lumigraph._project_batch(cams, x)
    for i, c in enumerate(cams):
        uu, vv, zz = camera_torch.project(c, x, near=1e-6)
        assert torch.equal(u[i], uu) and torch.equal(v[i], vv) and torch.equal(z[i], zz)


def test_backproject_rows_by_flat_index_equal_the_masked_rows():
    from engine.geometry import camera_torch
    from engine.memory.backproject import backproject_depth, normals_from_points

    cam = shifted_camera(0.1, 40, 30)
    rng = np.random.default_rng(4)
    depth = (1 + rng.random((30, 40))).astype(np.float32)
    depth[rng.random((30, 40)) < 0.2] = 0.0
    img = rng.random((30, 40, 3)).astype(np.float32)
    conf = rng.random((30, 40)).astype(np.float32)
    mask = rng.random((30, 40)) < 0.7
    pts = backproject_depth(cam, depth, img, conf, mask, 2, "cpu")
    valid = pts.pixels
    assert torch.equal(pts.flat, torch.nonzero(valid.view(-1)).squeeze(1))
    p_cam = camera_torch.depth_to_camera_points(cam, torch.from_numpy(depth))
    rot = torch.as_tensor(cam.world_from_cam[:3, :3], dtype=torch.float32)
    assert torch.equal(pts.xyz, camera_torch.camera_to_world(cam, p_cam[valid]))
    assert torch.equal(pts.normal, normals_from_points(p_cam)[valid] @ rot.T)
    assert torch.equal(pts.rgb, torch.from_numpy(img)[valid][:, :3])
    assert torch.equal(pts.conf, torch.from_numpy(conf)[valid])


def test_stretch_smeared_equals_limit_stretch_mask():
    rng = np.random.default_rng(5)
    h, w = 20, 30
    for trial in range(6):
        samples = []
        for i in range(3):
            pen = torch.from_numpy(rng.random((h, w)).astype(np.float32))
            pen[torch.from_numpy(rng.random((h, w)) < 0.4)] = float("inf")
            fb = torch.where(torch.from_numpy(rng.random((h, w)) < 0.5), pen, torch.rand(h, w))
            fb[torch.from_numpy(rng.random((h, w)) < 0.2)] = float("inf")
            st = None if (trial % 3 == 2 and i == 1) else torch.from_numpy((rng.random((h, w)) * 6).astype(np.float32))
            samples.append(lumigraph.Sample(torch.rand(h, w, 3), pen, torch.ones(h, w), pen < 0.5, None, fb, st))
        for limit in (0.0, 2.0, 4.0):
            # smeared: pixels some sample saw (finite fallback penalty) that none of the
            # samples limit_stretch leaves sees
            limited, mask = lumigraph.limit_stretch(samples, limit)
            before = torch.stack([torch.isfinite(s.fallback_penalty) for s in samples]).any(0)
            after = torch.stack([torch.isfinite(s.fallback_penalty) for s in limited]).any(0)
            want = before & ~after
            assert torch.equal(lumigraph.stretch_smeared(samples, limit), want) and torch.equal(mask, want)
            assert want.any() or limit == 0.0 or trial % 3 == 2


def _ulr_blend_before(samples, k, fallback=False, consensus=0.0):
    """The former lumigraph.ulr_blend."""
    pen = torch.stack([s.fallback_penalty if fallback else s.penalty for s in samples])
    r = pen.shape[0]
    thresh = lumigraph._kth_smallest(pen, k) if r > k else torch.full_like(pen[0], float("inf"))
    worst = torch.where(torch.isfinite(pen), pen, torch.zeros_like(pen)).max(0).values
    thresh = torch.where(torch.isfinite(thresh), thresh, 2.0 * worst + 1.0)
    wts = torch.clamp(1 - pen / thresh, min=0) / pen
    wts = torch.where(torch.isfinite(pen), wts, torch.zeros_like(wts))
    wts = wts * torch.stack([s.factor for s in samples])
    cols = torch.stack([s.color for s in samples])
    total = wts.sum(0)
    color = (cols * wts[..., None]).sum(0) / total.clamp_min(1e-12)[..., None]
    if consensus > 0:
        d2 = ((cols - color) ** 2).sum(-1)
        wts = wts * torch.exp(-d2 / consensus ** 2)
        total = wts.sum(0)
        color = (cols * wts[..., None]).sum(0) / total.clamp_min(1e-12)[..., None]
    ver = (wts * torch.stack([s.verified.float() for s in samples])).sum(0) / total.clamp_min(1e-12)
    return color, total, ver


def test_ulr_blend_equals_the_former_blend():
    rng = np.random.default_rng(6)
    h, w = 18, 25
    for r in (2, 3, 4, 6):
        samples = []
        for i in range(r):
            pen = torch.from_numpy((0.05 + 5 * rng.random((h, w))).astype(np.float32))
            pen[torch.from_numpy(rng.random((h, w)) < 0.3)] = float("inf")
            fb = torch.where(torch.from_numpy(rng.random((h, w)) < 0.5), pen, torch.rand(h, w) + 0.05)
            samples.append(lumigraph.Sample(torch.rand(h, w, 3), pen, torch.rand(h, w), torch.rand(h, w) < 0.5,
                                            None, fb, None))
        for consensus in (0.0, 0.1):
            stacks: dict = {}
            for fallback in (False, True):
                got = lumigraph.ulr_blend(samples, 4, fallback, consensus, stacks=stacks)
                want = _ulr_blend_before(samples, 4, fallback, consensus)
                for a, b in zip(got, want):
                    assert torch.equal(a, b)
            c, t, v = lumigraph.ulr_blend(samples, 4, verified=False)
            assert v is None and torch.equal(c, _ulr_blend_before(samples, 4)[0])


def _aggregate_before(batch, inverse, n):
    """The former engine.memory.store._aggregate (a sum per column)."""
    from engine.memory.rows import PointRows

    w = batch.conf[:, None]
    wsum = torch.zeros(n).index_add_(0, inverse, batch.conf)
    xyz = torch.zeros(n, 3).index_add_(0, inverse, batch.xyz * w) / wsum[:, None]
    rgb = torch.zeros(n, 3).index_add_(0, inverse, batch.rgb * w) / wsum[:, None]
    nsum = torch.zeros(n, 3).index_add_(0, inverse, batch.normal * w)
    nrm = nsum.norm(dim=1, keepdim=True)
    normal = torch.where(nrm > 1e-6, nsum / nrm.clamp_min(1e-6), torch.zeros_like(nsum))
    first = torch.full((n,), batch.xyz.shape[0], dtype=torch.int64)
    first.scatter_reduce_(0, inverse, torch.arange(batch.xyz.shape[0]), "amin")
    return PointRows(xyz, rgb, wsum, normal, batch.view[first], batch.segment[first])


def test_aggregate_in_one_block_equals_per_column():
    from engine.memory.rows import FIELDS, PointRows
    from engine.memory.store import _aggregate

    g = torch.Generator().manual_seed(7)
    n_pts, n = 500, 60
    normal = torch.randn(n_pts, 3, generator=g)
    normal[:5] = 0.0                                   # unknown normals
    batch = PointRows(torch.randn(n_pts, 3, generator=g), torch.rand(n_pts, 3, generator=g),
                      torch.rand(n_pts, generator=g) + 0.01, normal,
                      torch.randint(-2, 5, (n_pts,), generator=g, dtype=torch.int32),
                      torch.randint(-1, 3, (n_pts,), generator=g, dtype=torch.int32))
    inverse = torch.randint(0, n, (n_pts,), generator=g)
    inverse[:n] = torch.arange(n)                      # every voxel hit
    got, want = _aggregate(batch, inverse, n), _aggregate_before(batch, inverse, n)
    for f in FIELDS:
        assert torch.equal(getattr(got, f), getattr(want, f)), f


def test_reference_stacks_are_made_once_per_set_of_sources():
    rng = np.random.default_rng(8)
    srcs = [lumigraph.make_source(shifted_camera(x, 20, 16), rng.random((16, 20, 3)).astype(np.float32),
                                  (1 + rng.random((16, 20))).astype(np.float32), "cpu") for x in (-0.1, 0.0, 0.2)]
    a = lumigraph._stacked(srcs)
    assert lumigraph._stacked(list(srcs)) is a                     # the same sources: kept
    assert torch.equal(a[0], torch.stack([s.image for s in srcs])) and torch.equal(a[3][2], srcs[2].center)
    other = lumigraph._stacked(srcs[:2])
    assert other is not a and other[1].shape[0] == 2


def _footprint_stretch_before(u, v, scale=1.0, window=9, max_step=4.0, stride=2):
    """The former stretch.footprint_stretch (u and v apart)."""
    from engine.render.surface import box_mean

    h, w = u.shape[-2:]
    s = max(1, int(stride))
    if s > 1:
        u, v = u[..., s // 2::s, s // 2::s].contiguous(), v[..., s // 2::s, s // 2::s].contiguous()
    if u.shape[-1] < 3 or u.shape[-2] < 3:
        one = torch.ones(*u.shape[:-2], h, w, dtype=u.dtype, device=u.device)
        return one, one

    def central(a, dim):
        n = a.shape[dim]
        d = (a.narrow(dim, 2, n - 2) - a.narrow(dim, 0, n - 2)) * (0.5 / s)
        return torch.cat([d.narrow(dim, 0, 1), d, d.narrow(dim, n - 3, 1)], dim).clamp(-max_step, max_step)

    jac = torch.stack([central(u, -1), central(u, -2), central(v, -1), central(v, -2)])
    a, b, c, d = box_mean(jac.contiguous(), max(3, round(window / s) | 1)).unbind(0)
    s1 = a * a + b * b + c * c + d * d
    det = (a * d - b * c).abs()
    smax = torch.sqrt(0.5 * s1 + torch.sqrt((0.25 * s1 * s1 - det * det).clamp_min(0)))
    worst = torch.where(det > 0, scale * smax / det.clamp_min(1e-30), torch.full_like(det, float("inf")))
    best = scale / smax.clamp_min(1e-30)
    both = torch.stack([worst, best])
    if s > 1:
        both = F.interpolate(both.reshape(-1, 1, *both.shape[-2:]), size=(h, w),
                             mode="nearest").view(*both.shape[:-2], h, w)
    return both[0], both[1]


def test_footprint_stretch_equals_the_former():
    from engine.generate.stretch import footprint_stretch

    g = torch.Generator().manual_seed(9)
    for shape in [(3, 24, 40), (30, 20), (2, 5, 4)]:
        yy, xx = torch.meshgrid(torch.arange(shape[-2]).float(), torch.arange(shape[-1]).float(), indexing="ij")
        u = xx * 1.7 + torch.rand(shape, generator=g) * 3
        v = yy * 0.4 + xx * 0.2 + torch.rand(shape, generator=g)
        v[..., 0, 0] = u[..., 0, 0] * 0.4                # a degenerate spot
        for stride in (1, 2):
            got = footprint_stretch(u, v, 1.3, 9, 4.0, stride)
            want = _footprint_stretch_before(u, v, 1.3, 9, 4.0, stride)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_a_path_leaves_no_cached_rays_or_stacks(tiny_project):  # noqa: F811
    """The rays and the references' stacked tensors cached for a segment's frames are
    dropped when the path ends (no project's device tensors outlive its job)."""
    from engine.events import FrameGenerated
    from engine.generate import make_generator
    from engine.generate.loop import LoopOptions, generate_path
    from tests.conftest import between_poses

    targets = between_poses(tiny_project.views.cameras[2:5], lift=(0.0, -0.05, 0.1))[:2]
    gen = make_generator("surface", device="cpu")
    seen = []
    for e in generate_path(tiny_project.memory, tiny_project.views, targets, gen,
                           LoopOptions(segment_length=2, fuse_generated=False, top_k=3)):
        if isinstance(e, FrameGenerated):
            seen.append(len(lumigraph._RAYS) + len(lumigraph._STACKS))
    assert len(seen) == 2 and max(seen) > 0          # used while the path runs
    assert not lumigraph._RAYS and not lumigraph._STACKS and not lumigraph._GRIDS


def test_split_by_flag_gives_the_rows_nonzero_gives():
    from engine.memory.rows import split_by_flag

    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 500):
        flag = torch.from_numpy(rng.random(n) < 0.4)
        off, on = split_by_flag(flag)
        assert torch.equal(off, torch.nonzero(~flag).squeeze(1)) and torch.equal(on, torch.nonzero(flag).squeeze(1))
