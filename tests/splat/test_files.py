"""Splat files (engine.splat.files): INRIA 3DGS PLY and .splat, header property by property,
values and SH order decode back; and the neighbour spacing that sets the initial scales."""
import struct

import numpy as np
import pytest
import torch

from engine.splat.files import (SPLAT_DTYPE, SplatFileError, read_splat, read_splat_ply, write_splat,
                                write_splat_ply)
from engine.splat.model import SH_C0, GaussianSplats, neighbour_spacing


def random_splats(n=50, degree=3, seed=0):
    rng = np.random.default_rng(seed)
    k = (degree + 1) ** 2
    sh = np.zeros((n, k, 3), np.float32)
    # every coefficient carries its own (band index j, channel c) signature
    for j in range(k):
        for c in range(3):
            sh[:, j, c] = 100 * c + j + 0.001 * np.arange(n)
    return GaussianSplats(rng.normal(size=(n, 3)), rng.normal(-3, 0.5, (n, 3)), rng.normal(size=(n, 4)),
                          rng.normal(size=n), sh)


def _raw_vertex_floats(path, ncols):
    raw = path.read_bytes()
    body = raw[raw.index(b"end_header\n") + len(b"end_header\n"):]
    return np.frombuffer(body, "<f4").reshape(-1, ncols)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_inria_header_and_values(tmp_path, degree):
    s = random_splats(degree=degree)
    out = write_splat_ply(tmp_path / "s.ply", s)
    header = out.read_bytes().split(b"end_header\n")[0].decode().splitlines()
    rest = 3 * ((degree + 1) ** 2 - 1)
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                + [f"f_rest_{i}" for i in range(rest)]
                + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    assert header[:3] == ["ply", "format binary_little_endian 1.0", f"element vertex {len(s)}"]
    assert header[3:] == [f"property float {p}" for p in expected]

    cols = _raw_vertex_floats(out, len(expected))
    col = {p: cols[:, i] for i, p in enumerate(expected)}
    np.testing.assert_array_equal(np.stack([col["x"], col["y"], col["z"]], 1), s.means)
    np.testing.assert_array_equal(col["nx"], 0)
    np.testing.assert_array_equal(col["opacity"], s.opacity_logits)
    np.testing.assert_array_equal(np.stack([col[f"scale_{i}"] for i in range(3)], 1), s.log_scales)
    np.testing.assert_array_equal(np.stack([col[f"rot_{i}"] for i in range(4)], 1), s.quats)  # w x y z
    for c in range(3):
        np.testing.assert_array_equal(col[f"f_dc_{c}"], s.sh[:, 0, c])
    k1 = (degree + 1) ** 2 - 1
    for c in range(3):            # channel-major: all R rest coefficients, then G, then B
        for j in range(k1):
            np.testing.assert_array_equal(col[f"f_rest_{c * k1 + j}"], s.sh[:, 1 + j, c])

    back = read_splat_ply(out)
    assert back.sh_degree == degree
    for f in ("means", "log_scales", "quats", "opacity_logits", "sh"):
        np.testing.assert_array_equal(getattr(back, f), getattr(s, f))


def test_splat_file_layout_sorting_and_decoding(tmp_path):
    s = random_splats(n=200, degree=1, seed=3)
    s = GaussianSplats(s.means, s.log_scales, s.quats, s.opacity_logits,
                       np.clip(s.sh, -1.5, 1.5))  # colors inside [0, 1]
    out = write_splat(tmp_path / "s.splat", s)
    raw = out.read_bytes()
    assert len(raw) == 32 * len(s) and SPLAT_DTYPE.itemsize == 32
    # independent decode of the first row with struct
    px, py, pz, sx, sy, sz = struct.unpack_from("<6f", raw, 0)
    r, g, b, a, q0, q1, q2, q3 = struct.unpack_from("<8B", raw, 24)
    importance = np.exp(s.log_scales.astype(np.float64).sum(1)) / (1 + np.exp(-s.opacity_logits.astype(np.float64)))
    first = int(np.argmax(importance))
    np.testing.assert_allclose([px, py, pz], s.means[first], rtol=0, atol=0)
    np.testing.assert_allclose([sx, sy, sz], np.exp(s.log_scales[first]), rtol=1e-6)
    rows = read_splat(out)
    order = np.argsort(-importance, kind="stable")
    np.testing.assert_array_equal(rows.position, s.means[order])
    assert np.all(np.diff(importance[order]) <= 0)
    color = 0.5 + SH_C0 * s.sh[order, 0]
    assert np.abs(rows.rgba[:, :3].astype(float) - color * 255).max() < 1.0 + 1e-4
    assert np.abs(rows.rgba[:, 3] - s.opacities[order] * 255).max() < 1.0 + 1e-4
    q = s.quats[order] / np.linalg.norm(s.quats[order], axis=1, keepdims=True)
    assert np.abs(rows.quat - q).max() <= 1.0 / 128 + 1e-6      # w x y z order


def test_neighbour_spacing_matches_brute_force_where_exact():
    rng = np.random.default_rng(1)
    v = 0.1
    cells = np.unique(rng.integers(0, 10, (1500, 3)), axis=0)
    pts = torch.tensor((cells + rng.uniform(0.05, 0.95, cells.shape)) * v, dtype=torch.float32)
    got = neighbour_spacing(pts, v, k=3).numpy()
    x = pts.numpy().astype(np.float64)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    near = np.sort(d, axis=1)[:, :3]
    exact = near[:, 2] < v          # all 3 nearest within one voxel: the 26-cell search is exact
    assert exact.sum() > 50
    ref = np.sqrt((near[exact] ** 2).mean(1))
    np.testing.assert_allclose(got[exact], ref, rtol=1e-4)  # float32 distances


def test_bad_splat_files_are_clear_errors(tmp_path):
    empty = random_splats(n=0, degree=0)
    with pytest.raises(SplatFileError, match="no Gaussians"):
        write_splat_ply(tmp_path / "e.ply", empty)
    with pytest.raises(SplatFileError, match="no Gaussians"):
        write_splat(tmp_path / "e.splat", empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    (tmp_path / "odd.splat").write_bytes(b"\0" * 33)
    with pytest.raises(SplatFileError, match="32-byte"):
        read_splat(tmp_path / "odd.splat")
