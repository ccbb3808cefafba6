"""SPZ, SOG, compressed.ply and KHR_gaussian_splatting GLB exports, read back by third-party
readers (PlayCanvas splat-transform; the Khronos glTF-Validator): counts, SH degree, and
positions / colours / shapes within each format's quantisation."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.export import ExportError, ExportOptions, export
from engine.export.splat_gltf import attribute_names, read_splat_glb, splat_glb_bytes
from engine.project import Project
from engine.splat.checkpoint import SPLAT_PLY
from engine.splat.files import read_splat_ply, write_splat_ply
from engine.splat.model import GaussianSplats
from tests.export.js_readers import gltf_validator_report, splat_transform_to_ply

pytest.importorskip("gaussforge")


def make_splats(n=700, degree=3, seed=1) -> GaussianSplats:
    """Gaussians inside the ranges every format stores (SPZ SH in [-1, 1])."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    sh = rng.uniform(-0.9, 0.9, (n, (degree + 1) ** 2, 3))
    sh[:, 0] = rng.uniform(-1.6, 1.6, (n, 3))
    return GaussianSplats(rng.uniform(-1.5, 1.5, (n, 3)), rng.uniform(-5, -1, (n, 3)),
                          q / np.linalg.norm(q, axis=1, keepdims=True), rng.uniform(-4, 4, n), sh)


@pytest.fixture()
def trained_project(project_dir, tmp_path):
    """The export fixture with trained splats (the exporters' first choice) in splats/splats.ply."""
    root = tmp_path / "proj"
    shutil.copytree(project_dir, root)
    splats = make_splats()
    write_splat_ply(root / SPLAT_PLY, splats)
    return Project.load(root, device="cpu"), splats


def _match(decoded: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Index into ``original`` of each decoded row (nearest mean): SOG re-orders rows."""
    d = ((decoded[:, None, :] - original[None, :, :]) ** 2).sum(-1)
    idx = d.argmin(1)
    assert len(np.unique(idx)) == len(idx), "decoded Gaussians do not map one-to-one onto the exported ones"
    return idx


# format: (--format, axes as decoded by splat-transform, position tol, colour tol, SH>0 tol, log-scale tol)
CASES = {
    "spz4": ("splat-spz", np.array([1, -1, -1]), 1.3e-4, 0.005, 0.07, 0.035),   # RUB, 12 fractional bits
    "spz3": ("splat-spz", np.array([1, -1, -1]), 1.3e-4, 0.005, 0.07, 0.035),
    "sog": ("splat-sog", np.array([1, 1, 1]), 1e-3, 0.01, 0.05, 0.05),
    "compressed": ("splat-compressed-ply", np.array([1, 1, 1]), 3.0 / 1023, 0.01, 0.02, 0.02),
}


@pytest.mark.parametrize("case", list(CASES))
def test_web_format_read_back_by_splat_transform(case, trained_project, tmp_path):
    project, splats = trained_project
    fmt, axes, pos_tol, col_tol, sh_tol, scale_tol = CASES[case]
    opts = ExportOptions(spz_version=3 if case == "spz3" else 4)
    res = export(project, fmt, tmp_path / "out" / "scene", opts)
    assert res.count == len(splats) and res.out.exists()
    info = splat_transform_to_ply(res.out, tmp_path / "decoded.ply")
    assert info["numGaussians"] == len(splats) and info["shBands"] == 3
    assert info["format"] == {"splat-spz": "spz", "splat-sog": "sog"}.get(fmt, info["format"])
    if fmt == "splat-spz":
        raw = res.out.read_bytes()
        version = int.from_bytes(raw[4:8], "little") if raw[:4] == b"NGSP" else 3   # v3 is gzipped whole
        assert version == opts.spz_version
    back = read_splat_ply(tmp_path / "decoded.ply")
    assert len(back) == len(splats) and back.sh_degree == 3
    means = back.means * axes                          # splat-transform decodes SPZ raw (RUB)
    idx = _match(means, splats.means)
    ref = GaussianSplats(splats.means[idx], splats.log_scales[idx], splats.quats[idx],
                         splats.opacity_logits[idx], splats.sh[idx])
    assert np.abs(means - ref.means).max() <= pos_tol
    assert np.abs(back.colors - ref.colors).max() <= col_tol
    assert np.abs(back.opacities - ref.opacities).max() <= 0.006
    assert np.abs(back.log_scales - ref.log_scales).max() <= scale_tol
    # SH of degree >= 1 in the reader's axes: for SPZ the odd functions of y, z change sign
    from engine.geometry.conventions import world_gaussians_from_spz
    sh = world_gaussians_from_spz(back.means, back.quats, back.sh)[2] if fmt == "splat-spz" else back.sh
    assert np.abs(sh[:, 1:] - ref.sh[:, 1:]).max() <= sh_tol
    q = back.quats / np.linalg.norm(back.quats, axis=1, keepdims=True)
    if fmt == "splat-spz":
        q = world_gaussians_from_spz(back.means, q, back.sh)[1]
    assert np.abs((q * ref.quats).sum(1)).min() > 0.999


def test_splat_glb_validates_and_reads_back(trained_project, tmp_path):
    project, splats = trained_project
    res = export(project, "splat-glb", tmp_path / "scene")
    assert res.out.suffix == ".glb" and res.count == len(splats)
    g = read_splat_glb(res.out)
    np.testing.assert_allclose(g.splats.means, splats.means, atol=1e-6)
    np.testing.assert_allclose(g.splats.sh, splats.sh, atol=1e-6)
    np.testing.assert_allclose(np.abs((g.splats.quats * splats.quats).sum(1)), 1.0, atol=1e-6)
    np.testing.assert_allclose(g.splats.opacities, splats.opacities, atol=1e-5)
    np.testing.assert_allclose(g.color_0[:, :3] / 255.0, splats.colors, atol=0.5 / 255 + 1e-6)

    report = gltf_validator_report(res.out)
    allowed = {f"/meshes/0/primitives/0/attributes/{a}" for a in attribute_names(3) if ":" in a}
    unexpected = [m for m in report["issues"]["messages"]
                  if not (m["code"] == "MESH_PRIMITIVE_INVALID_ATTRIBUTE" and m["pointer"] in allowed)
                  and not (m["code"] == "UNSUPPORTED_EXTENSION" and "KHR_gaussian_splatting" in m["message"])]
    assert not unexpected, unexpected
    assert report["info"]["totalVertexCount"] == len(splats)
    assert report["issues"]["numErrors"] == len(allowed)        # exactly the extension's names


def test_glb_world_is_y_up_and_round_trips(tmp_path):
    s = make_splats(50, degree=1)
    path = tmp_path / "s.glb"
    path.write_bytes(splat_glb_bytes(s))
    from engine.export.gltf import read_glb
    g = read_glb(path)
    prim = g.doc["meshes"][0]["primitives"][0]
    assert prim["mode"] == 0 and prim["extensions"]["KHR_gaussian_splatting"]["kernel"] == "ellipse"
    np.testing.assert_allclose(g.accessor(prim["attributes"]["POSITION"]), s.means * [1, -1, -1], atol=1e-6)
    assert "KHR_gaussian_splatting:SH_DEGREE_1_COEF_2" in prim["attributes"]
    assert "KHR_gaussian_splatting:SH_DEGREE_2_COEF_0" not in prim["attributes"]
    back = read_splat_glb(path).splats
    np.testing.assert_allclose(back.sh, s.sh, atol=1e-6)
    np.testing.assert_allclose(back.log_scales, s.log_scales)


@pytest.mark.parametrize("bad", ["nan", "degree4"])
def test_bad_trained_splats_are_clear_errors_and_nothing_is_written(bad, trained_project, tmp_path):
    project, splats = trained_project
    path = project.root / SPLAT_PLY
    if bad == "nan":
        means = splats.means.copy()
        means[[5, 9]] = np.nan
        write_splat_ply(path, GaussianSplats(means, splats.log_scales, splats.quats, splats.opacity_logits, splats.sh))
        match = r"2 of 700 Gaussians have NaN.*row 5.*position"
    else:
        from engine.ply import ply_bytes
        names = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(72)] + [
            "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
        rec = np.zeros((4, len(names)), "<f4").view(np.dtype([(p, "<f4") for p in names]))[:, 0]
        path.write_bytes(ply_bytes(rec))
        match = "SH degree 4"
    for fmt in ("splat-spz", "splat-glb", "splat-ply"):
        out = tmp_path / f"out_{fmt}"
        with pytest.raises(ExportError, match=match):
            export(project, fmt, out)
        assert not list(tmp_path.glob("out_*")), "a failed export left a file behind"


def test_spz_version_must_be_known(trained_project, tmp_path):
    project, _ = trained_project
    with pytest.raises(ExportError, match="SPZ version"):
        export(project, "splat-spz", tmp_path / "x.spz", ExportOptions(spz_version=7))
    assert not (tmp_path / "x.spz").exists()
