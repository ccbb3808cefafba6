"""The axis changes of Gaussian splats (engine.geometry.conventions): exact, invertible, and
they move the rendered Gaussian (mean, covariance, view-dependent colour) with the world."""
import numpy as np
import pytest
import torch

from engine.geometry import se3
from engine.geometry.conventions import (gaussians_in_flipped_world, gltf_gaussians_from_world,
                                         gltf_world_from_world, spz_gaussians_from_world,
                                         world_gaussians_from_gltf, world_gaussians_from_spz)
from engine.splat.sh import sh_basis


def _gaussians(n=64, degree=3, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    return (rng.normal(size=(n, 3)).astype(np.float32), (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32),
            rng.normal(0, 0.5, (n, (degree + 1) ** 2, 3)).astype(np.float32))


@pytest.mark.parametrize("fwd, inv", [(gltf_gaussians_from_world, world_gaussians_from_gltf),
                                      (spz_gaussians_from_world, world_gaussians_from_spz)])
def test_round_trip_is_exact(fwd, inv):
    m, q, sh = _gaussians()
    for a, b in zip(inv(*fwd(m, q, sh)), (m, q, sh)):
        np.testing.assert_array_equal(a, b)


def test_turn_moves_mean_covariance_and_view_dependent_colour():
    m, q, sh = _gaussians()
    m2, q2, sh2 = gltf_gaussians_from_world(m, q, sh)
    d = gltf_world_from_world[:3, :3]
    np.testing.assert_allclose(m2, m @ d.T, atol=1e-6)
    np.testing.assert_allclose(m2[:, 1:], -m[:, 1:], atol=1e-6)                     # +Y up from y-down
    s = np.diag([0.3, 0.1, 0.02])
    r, r2 = se3.quat_to_matrix(q.astype(np.float64)), se3.quat_to_matrix(q2.astype(np.float64))
    np.testing.assert_allclose(r2 @ s @ s @ r2.transpose(0, 2, 1), d @ (r @ s @ s @ r.transpose(0, 2, 1)) @ d.T, atol=1e-6)
    dirs = torch.nn.functional.normalize(torch.randn(len(m), 3, dtype=torch.float64), dim=1)
    col = (sh_basis(3, dirs)[:, :, None] * torch.from_numpy(sh).double()).sum(1)
    dirs2 = dirs @ torch.from_numpy(np.array(d)).T
    col2 = (sh_basis(3, dirs2)[:, :, None] * torch.from_numpy(sh2).double()).sum(1)
    torch.testing.assert_close(col2, col, atol=1e-5, rtol=0)


def test_only_proper_axis_flips():
    m, q, sh = _gaussians(4)
    with pytest.raises(ValueError, match="proper axis flip"):
        gaussians_in_flipped_world(np.diag([1.0, 1.0, -1.0, 1.0]), m, q, sh)       # a mirror
    with pytest.raises(ValueError, match="proper axis flip"):
        gaussians_in_flipped_world(se3.make_transform(se3.quat_to_matrix(np.array([0.9, 0.1, 0, 0])), np.zeros(3)), m, q, sh)
