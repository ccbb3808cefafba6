"""The pure-torch rasterizer against closed-form expectations."""
from __future__ import annotations

import math

import numpy as np
import torch

from engine.splat.rasterize_torch import project_gaussians, rasterize_torch
from engine.splat.sh import eval_sh_colors, sh_basis

K = torch.tensor([[50.0, 0, 16], [0, 50.0, 12], [0, 0, 1]])
EYE = torch.eye(4)


def _one(mean, scale, opacity=0.8, rgb=(1.0, 0.0, 0.0), quat=(1.0, 0, 0, 0)):
    sh = torch.zeros(1, 1, 3)
    sh[0, 0] = (torch.tensor(rgb) - 0.5) / 0.28209479177387814
    return (torch.tensor([mean], dtype=torch.float32), torch.tensor([quat], dtype=torch.float32),
            torch.tensor([scale], dtype=torch.float32), torch.tensor([opacity]), sh)


def test_single_gaussian_matches_the_ewa_formula():
    m, q, s, o, sh = _one([0.0, 0.0, 2.0], [0.1, 0.04, 0.1])
    out = rasterize_torch(m, q, s, o, sh, 0, EYE, K, 32, 24)
    var_x, var_y = (0.1 * 50 / 2) ** 2 + 0.3, (0.04 * 50 / 2) ** 2 + 0.3   # px^2, + eps2d
    for (i, j) in [(12, 16), (12, 18), (13, 15), (10, 17)]:
        dx, dy = j + 0.5 - 16, i + 0.5 - 12
        expect = 0.8 * math.exp(-0.5 * (dx * dx / var_x + dy * dy / var_y))
        assert abs(float(out.alpha[i, j]) - expect) < 1e-5
    assert torch.allclose(out.color[12, 16], torch.tensor([1.0, 0, 0]) * out.alpha[12, 16], atol=1e-6)
    assert abs(float(out.depth[12, 16]) - 2.0) < 1e-5


def test_rotation_swaps_the_footprint_axes():
    c = math.cos(math.pi / 4)
    a = project_gaussians(*_one([0.0, 0, 2], [0.1, 0.04, 0.1])[:3], torch.tensor([0.8]), EYE, K, 32, 24)
    m, q, s, o, _ = _one([0.0, 0, 2], [0.1, 0.04, 0.1], quat=(c, 0, 0, c))    # 90 deg about +z
    b = project_gaussians(m, q, s, o, EYE, K, 32, 24)
    # conic (a, b, c) of the rotated Gaussian = (c, b, a) of the original
    assert torch.allclose(b.conics[0], a.conics[0][[2, 1, 0]], atol=1e-5)
    assert b.radii[0, 0] == a.radii[0, 1] and b.radii[0, 1] == a.radii[0, 0]


def test_front_to_back_order_does_not_depend_on_input_order():
    near = _one([0.0, 0, 2], [0.3, 0.3, 0.3], 0.99, (0, 1, 0))
    far = _one([0.0, 0, 4], [0.6, 0.6, 0.6], 0.99, (0, 0, 1))
    cat = lambda a, b: [torch.cat([x, y]) for x, y in zip(a, b)]  # noqa: E731
    one = rasterize_torch(*cat(near, far), 0, EYE, K, 32, 24, background=torch.tensor([1.0, 1, 1]))
    two = rasterize_torch(*cat(far, near), 0, EYE, K, 32, 24, background=torch.tensor([1.0, 1, 1]))
    assert torch.allclose(one.color, two.color, atol=1e-6)
    # centre: the near green one is ~opaque; T after it = 1 - 0.99, blue behind contributes that much
    assert float(one.color[12, 16, 1]) > 0.95 and float(one.color[12, 16, 2]) < 0.02
    # the opaque stack hides the white background at the centre, which shows in the corner
    assert float(one.color[0, 0].min()) > 0.5


def test_transmittance_stops_at_1e_4():
    walls = [_one([0.0, 0, 2 + 0.1 * k], [1.0, 1.0, 0.01], 0.995, (1, 1, 1)) for k in range(4)]
    out = rasterize_torch(*[torch.cat(x) for x in zip(*walls)], 0, EYE, K, 32, 24)
    one = rasterize_torch(*walls[0], 0, EYE, K, 32, 24)
    # after one wall T = 0.005; a second would bring it to 2.5e-5 <= 1e-4: the pixel stops
    # before it (gsplat's exclusive stop), so four walls give the alpha of one
    assert abs(float(out.alpha[12, 16]) - float(one.alpha[12, 16])) < 1e-7
    assert float(out.alpha[12, 16]) < 0.996


def test_sh_basis_is_orthonormal_on_the_sphere():
    n = 40000
    i = torch.arange(n, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * i / n)
    theta = math.pi * (1 + 5 ** 0.5) * i
    dirs = torch.stack([torch.cos(theta) * torch.sin(phi), torch.sin(theta) * torch.sin(phi), torch.cos(phi)], -1)
    b = sh_basis(3, dirs)
    gram = (b.T @ b) * (4 * math.pi / n)
    assert torch.allclose(gram, torch.eye(16, dtype=torch.float64), atol=2e-3)


def test_sh_colors_depend_on_the_view_direction():
    sh = torch.zeros(1, 4, 3)
    sh[0, 3, 0] = 1.0                        # band-1 coefficient on -x (basis 3 = -0.4886 x)
    mean = torch.zeros(1, 3)
    left = eval_sh_colors(sh, 1, mean, torch.tensor([1.0, 0, 0]))     # looking towards -x
    right = eval_sh_colors(sh, 1, mean, torch.tensor([-1.0, 0, 0]))
    assert abs(float(left[0, 0]) - (0.5 + 0.48860251190292)) < 1e-6
    assert abs(float(right[0, 0]) - (0.5 - 0.48860251190292)) < 1e-6
    assert float(eval_sh_colors(sh, 0, mean, torch.tensor([1.0, 0, 0]))[0, 0]) == 0.5


def test_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(1)
    n = 6
    means = (torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.2 + torch.tensor([0, 0, 2.0], dtype=torch.float64))
    quats = torch.randn(n, 4, generator=g, dtype=torch.float64)
    scales = torch.rand(n, 3, generator=g, dtype=torch.float64) * 0.1 + 0.05
    opac = torch.rand(n, generator=g, dtype=torch.float64) * 0.5 + 0.3
    sh = torch.randn(n, 4, 3, generator=g, dtype=torch.float64) * 0.3
    view, Kd = EYE.double(), K.double()
    wts = torch.rand(24, 32, 3, generator=g, dtype=torch.float64)

    def f(m):
        return (rasterize_torch(m, quats, scales, opac, sh, 1, view, Kd, 32, 24).color * wts).sum()

    m = means.clone().requires_grad_(True)
    f(m).backward()
    eps = 1e-6
    for k in range(3):
        d = torch.zeros_like(means)
        d[2, k] = eps
        fd = (f(means + d) - f(means - d)) / (2 * eps)
        assert abs(float(fd) - float(m.grad[2, k])) < 1e-4 * max(1.0, abs(float(fd)))
    assert np.isfinite(m.grad.numpy()).all()
