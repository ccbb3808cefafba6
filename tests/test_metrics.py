"""Tests of engine.metrics: closed-form values, reference twins and skimage reference values."""
import cv2
import numpy as np
import pytest

from engine import metrics
from engine.geometry import se3


def pattern_images():
    """Deterministic test images (no RNG), the inputs of the skimage reference values below."""
    i, j, c = np.meshgrid(np.arange(48.0), np.arange(64.0), np.arange(3.0), indexing="ij")
    a = 0.5 + 0.4 * np.sin(j / 5 + 0.7 * c) * np.cos(i / 7)
    h = np.sin(i * 12.9898 + j * 78.233 + c * 37.719) * 43758.5453
    noise = (h - np.floor(h)) - 0.5
    return a, np.clip(a + 0.2 * noise, 0, 1), 0.8 * a + 0.1, a[:, ::-1].copy()


# ----------------------------------------------------------------------------- PSNR

def test_psnr_identical_is_inf():
    a = np.random.default_rng(0).random((8, 9, 3))
    assert metrics.psnr(a, a) == float("inf")


def test_psnr_constant_offset_known_value():
    a = np.full((10, 12, 3), 0.5)
    assert np.isclose(metrics.psnr(a, a + 0.1), 20.0)  # MSE 0.01 -> 10 log10(1 / 0.01)
    assert np.isclose(metrics.psnr(a * 255, a * 255 + 25.5, max_val=255.0), 20.0)


def test_psnr_mask_ignores_pixels_outside():
    a = np.zeros((4, 4, 3))
    b = a.copy()
    b[:2] = 0.1
    b[2:] = 0.9  # a wild error outside the mask
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    assert np.isclose(metrics.psnr(a, b, mask=mask), 20.0)
    with pytest.raises(ValueError):
        metrics.psnr(a, b, mask=np.zeros((4, 4), bool))


# ----------------------------------------------------------------------------- SSIM

def test_gaussian_filter_matches_opencv():
    kernel = metrics.gaussian_kernel_1d(1.5)
    assert len(kernel) == 11
    np.testing.assert_allclose(kernel, cv2.getGaussianKernel(11, 1.5)[:, 0], atol=1e-15)
    img = np.random.default_rng(1).random((30, 40))
    ref = cv2.GaussianBlur(img, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(metrics.gaussian_filter_2d(img, kernel), ref, atol=1e-12)


def brute_force_ssim_gray(x, y):
    """Reference twin: explicit 11x11 windows with 2-D Gaussian weights, interior pixels only."""
    k = metrics.gaussian_kernel_1d(1.5)
    w2 = np.outer(k, k)
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for i in range(5, x.shape[0] - 5):
        for j in range(5, x.shape[1] - 5):
            px, py = x[i - 5:i + 6, j - 5:j + 6], y[i - 5:i + 6, j - 5:j + 6]
            mx, my = (w2 * px).sum(), (w2 * py).sum()
            vx, vy = (w2 * (px - mx) ** 2).sum(), (w2 * (py - my) ** 2).sum()
            cxy = (w2 * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_matches_brute_force_twin():
    a, noisy, _, _ = pattern_images()
    x, y = a[:24, :30, 1], noisy[:24, :30, 1]
    assert np.isclose(metrics.ssim(x, y), brute_force_ssim_gray(x, y), atol=1e-12)


def test_ssim_matches_skimage_reference_values():
    # skimage 0.26.0, structural_similarity(a, b, channel_axis=-1, gaussian_weights=True,
    # sigma=1.5, use_sample_covariance=False, data_range=1) and peak_signal_noise_ratio
    # (data_range=1), computed once on pattern_images() (skimage is not installed here).
    a, noisy, affine, flipped = pattern_images()
    assert np.isclose(a.sum(), 4611.00689026726) and np.isclose(noisy.sum(), 4610.881031713427)
    expected = [(noisy, 0.7366104079553897, 24.766519514924532),
                (affine, 0.9734183983524108, 27.66094598631815),
                (flipped, 0.08917481137950634, 10.488765826398932)]
    for b, ssim_ref, psnr_ref in expected:
        assert np.isclose(metrics.ssim(a, b), ssim_ref, atol=1e-10)
        assert np.isclose(metrics.psnr(a, b), psnr_ref, atol=1e-10)
    assert np.isclose(metrics.ssim(a[..., 0], noisy[..., 0]), 0.7367253075978432, atol=1e-10)


def test_ssim_constant_images_closed_form():
    c1 = 0.01**2
    a, b = np.full((16, 16, 3), 0.3), np.full((16, 16, 3), 0.6)
    assert np.isclose(metrics.ssim(a, b), (2 * 0.3 * 0.6 + c1) / (0.3**2 + 0.6**2 + c1))


def test_ssim_identity_symmetry_and_monotone_in_noise():
    a, _, _, _ = pattern_images()
    assert np.isclose(metrics.ssim(a, a), 1.0)
    rng = np.random.default_rng(2)
    n = rng.normal(size=a.shape)
    scores = [metrics.ssim(a, np.clip(a + s * n, 0, 1)) for s in (0.01, 0.05, 0.1, 0.3)]
    assert all(s0 > s1 for s0, s1 in zip(scores, scores[1:]))
    b = np.clip(a + 0.1 * n, 0, 1)
    assert np.isclose(metrics.ssim(a, b), metrics.ssim(b, a))
    with pytest.raises(ValueError):
        metrics.ssim(a[:10, :10], a[:10, :10])


# ----------------------------------------------------------------------------- Sim(3)

def random_sim3(rng):
    q = rng.normal(size=4)
    return float(rng.uniform(0.2, 5.0)), se3.quat_to_matrix(q / np.linalg.norm(q)), rng.normal(size=3) * 4


def test_umeyama_recovers_known_sim3_exactly():
    rng = np.random.default_rng(3)
    for _ in range(5):
        s, rot, t = random_sim3(rng)
        src = rng.normal(size=(20, 3))
        dst = s * src @ rot.T + t
        s2, rot2, t2 = metrics.umeyama_sim3(src, dst)
        assert np.isclose(s2, s)
        np.testing.assert_allclose(rot2, rot, atol=1e-10)
        np.testing.assert_allclose(t2, t, atol=1e-10)


def test_umeyama_never_returns_a_reflection():
    src = np.random.default_rng(4).normal(size=(10, 3))
    dst = src * [1, 1, -1]  # a mirror image: the best proper rotation, not the reflection
    _, rot, _ = metrics.umeyama_sim3(src, dst)
    assert np.isclose(np.linalg.det(rot), 1.0)


def make_poses(rng, n=8):
    eyes = rng.normal(size=(n, 3)) * 3
    return np.stack([se3.look_at(e, rng.normal(size=3) * 0.3) for e in eyes])


def test_pose_errors_zero_for_sim3_transformed_copy():
    rng = np.random.default_rng(5)
    ref = make_poses(rng)
    s, rot, t = random_sim3(rng)
    est = ref.copy()  # est = inverse similarity applied to ref: world_est = (world_ref - t) R / s
    est[:, :3, :3] = rot.T @ ref[:, :3, :3]
    est[:, :3, 3] = (ref[:, :3, 3] - t) @ rot / s
    err = metrics.pose_errors_after_sim3(est, ref)
    assert err.max_rotation_deg < 1e-6 and err.max_center_error < 1e-10
    assert np.isclose(err.sim3_scale, s)
    c = ref[:, :3, 3]
    assert np.isclose(err.scene_extent, np.linalg.norm(c.max(0) - c.min(0)))


def test_pose_errors_known_rotation_perturbation():
    rng = np.random.default_rng(6)
    ref = make_poses(rng)
    est = ref.copy()
    est[3, :3, :3] = ref[3, :3, :3] @ se3.so3_exp([0.0, np.radians(5.0), 0.0])  # 5 deg in the camera
    err = metrics.pose_errors_after_sim3(est, ref)
    np.testing.assert_allclose(err.rotation_deg, np.where(np.arange(8) == 3, 5.0, 0.0), atol=1e-9)
    assert np.isclose(err.max_rotation_deg, 5.0) and np.isclose(err.median_rotation_deg, 0.0)
    assert err.max_center_error < 1e-12


def test_pose_errors_center_offset_relative_to_given_extent():
    rng = np.random.default_rng(7)
    ref = make_poses(rng, 30)
    est = ref.copy()
    est[0, :3, 3] += [0.0, 0.0, 0.5]  # one outlier moves the alignment a little
    err = metrics.pose_errors_after_sim3(est, ref, scene_extent=10.0)
    assert 0.03 < err.max_center_error < 0.05  # about 0.5 / 10, minus what the alignment absorbs
    assert np.argmax(err.center_error) == 0


# ----------------------------------------------------------------------------- depth

def test_depth_errors_known_values():
    ref = np.full((10, 10), 2.0)
    est = ref.copy()
    est[:5] = 2.02  # 1 % off: within 2 %, delta ok
    est[5:] = 3.0  # 50 % off: fails both
    d = metrics.depth_errors(est, ref)
    assert np.isclose(d.abs_rel, 0.5 * 0.01 + 0.5 * 0.5)
    assert np.isclose(d.rmse, np.sqrt(0.5 * 0.02**2 + 0.5 * 1.0**2))
    assert np.isclose(d.delta_1_25, 0.5) and np.isclose(d.within_2pct, 0.5) and d.num_valid == 100


def test_depth_errors_mask_invalid_reference_and_bad_estimates():
    ref = np.array([[1.0, 0.0, np.nan, 4.0]])
    est = np.array([[1.0, 5.0, 5.0, -1.0]])
    d = metrics.depth_errors(est, ref)
    assert d.num_valid == 2  # ref 0 and NaN are ignored
    assert np.isclose(d.delta_1_25, 0.5) and np.isclose(d.within_2pct, 0.5)
    m = metrics.depth_errors(est, ref, mask=np.array([[True, False, False, False]]))
    assert m.num_valid == 1 and m.abs_rel == 0.0 and m.rmse == 0.0 and m.delta_1_25 == 1.0
    empty = metrics.depth_errors(est, ref, mask=np.zeros((1, 4), bool))
    assert empty.num_valid == 0 and np.isnan(empty.abs_rel)


def test_pose_alignment_handles_nearly_coplanar_centers():
    """Forward-facing captures (centers almost in a plane): whole-pose alignment recovers the
    true Sim(3) where a centers-only fit may tilt every camera."""
    from engine.geometry import se3
    from engine.metrics import pose_errors_after_sim3

    rng = np.random.default_rng(5)
    n = 20
    centers = np.c_[rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.normal(0, 1e-3, n)]
    ref = np.stack([se3.make_transform(se3.so3_exp(rng.normal(0, 0.1, 3)), c) for c in centers])
    sim_rot = se3.so3_exp([0.3, -0.2, 0.5])
    est = ref.copy()
    est[:, :3, :3] = sim_rot.T @ ref[:, :3, :3]
    est[:, :3, 3] = (ref[:, :3, 3] - [1.0, 2.0, 3.0]) @ sim_rot / 2.5    # est = Sim(3)^-1 of ref
    est[:, :3, 3] += rng.normal(0, 2e-3, (n, 3))                         # centers slightly noisy
    e = pose_errors_after_sim3(est, ref)
    assert e.median_rotation_deg < 1e-6 and e.median_center_error < 0.01
    assert abs(e.sim3_scale - 2.5) < 0.05
