"""Gaussian-splat files: the INRIA 3DGS PLY and the antimatter15 ``.splat`` file.

The splat package owns these formats (training checkpoints write and read the PLY); the
exporters in :mod:`engine.export` call the byte builders here and write with their own
error handling. Writers here raise ``OSError`` as is; bad content is :class:`SplatFileError`.

INRIA layout (graphdeco-inria/gaussian-splatting, ``GaussianModel.save_ply``): one
``vertex`` element, every property ``float``, binary little endian, in this order:

    x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 f_rest_0 .. f_rest_{3(K-1)-1} opacity
    scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3

normals are zeros; ``f_rest`` is channel-major (all R coefficients of bands >= 1, then G,
then B: ``f_rest_{c*(K-1)+j} = sh[:, 1+j, c]``); opacity is a logit, scales are logs, rot
is the quaternion w x y z (not normalised). K = (degree+1)^2, degree 0..3.

``.splat`` (antimatter15/splat ``convert.py``): 32 bytes per Gaussian, no header,
little endian: position float32 x3, scale float32 x3 (exp of the log scales), color uint8
x4 (R G B from ``0.5 + SH_C0 * f_dc``, A = sigmoid(opacity), each ``(v * 255)`` clipped to
[0, 255] and truncated), rotation uint8 x4 (``q / |q| * 128 + 128`` clipped and truncated,
w x y z). Rows are sorted by ``exp(scale_0 + scale_1 + scale_2) * sigmoid(opacity)``,
largest first. Both keep the project world (the same as the COLMAP export).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic_io import write_atomic
from engine.ply import ply_bytes, read_ply
from engine.splat.model import SH_C0, GaussianSplats


class SplatFileError(ValueError):
    """A splat file that cannot be written (no Gaussians) or read (malformed)."""


def inria_property_names(sh_degree: int) -> list[str]:
    """The vertex property names of an INRIA 3DGS PLY, in file order."""
    rest = 3 * ((sh_degree + 1) ** 2 - 1)
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{i}" for i in range(rest)] + ["opacity", "scale_0", "scale_1", "scale_2"]
            + [f"rot_{i}" for i in range(4)])


def inria_records(splats: GaussianSplats) -> np.ndarray:
    """GaussianSplats -> structured float32 array [N] in INRIA property order."""
    n, k = len(splats), splats.sh.shape[1]
    dc = splats.sh[:, 0, :]                                     # [N,3]
    rest = splats.sh[:, 1:, :].transpose(0, 2, 1).reshape(n, 3 * (k - 1))  # channel-major
    cols = np.concatenate([splats.means, np.zeros((n, 3), np.float32), dc, rest,
                           splats.opacity_logits[:, None], splats.log_scales, splats.quats], axis=1)
    names = inria_property_names(splats.sh_degree)
    return np.ascontiguousarray(cols.astype("<f4")).view(np.dtype([(p, "<f4") for p in names]))[:, 0]


def inria_ply_bytes(splats: GaussianSplats) -> bytes:
    """The bytes of the INRIA 3DGS binary PLY of ``splats`` (see the module docstring)."""
    if len(splats) == 0:
        raise SplatFileError("no Gaussians to write")
    return ply_bytes(inria_records(splats))


def write_splat_ply(path: str | Path, splats: GaussianSplats) -> Path:
    """Write the INRIA 3DGS binary PLY (see the module docstring), atomically."""
    return write_atomic(path, inria_ply_bytes(splats))


def read_splat_ply(path: str | Path) -> GaussianSplats:
    """Read an INRIA 3DGS PLY (any SH degree 0..3) back into GaussianSplats."""
    ply = read_ply(path)
    v = ply.data["vertex"]
    names = v.dtype.names
    rest_n = sum(1 for p in names if p.startswith("f_rest_"))
    k = rest_n // 3 + 1
    if k not in (1, 4, 9, 16) or rest_n % 3:
        raise SplatFileError(f"{path}: {rest_n} f_rest properties do not form SH degree 0..3")

    def cols(keys):
        return np.stack([v[p] for p in keys], axis=1).astype(np.float32)

    sh = np.zeros((len(v), k, 3), np.float32)
    sh[:, 0] = cols(["f_dc_0", "f_dc_1", "f_dc_2"])
    if k > 1:
        rest = cols([f"f_rest_{i}" for i in range(rest_n)]).reshape(len(v), 3, k - 1)
        sh[:, 1:] = rest.transpose(0, 2, 1)
    return GaussianSplats(cols("xyz"), cols(["scale_0", "scale_1", "scale_2"]),
                          cols([f"rot_{i}" for i in range(4)]), v["opacity"].astype(np.float32), sh)


# ------------------------------------------------------------------------------- .splat
SPLAT_DTYPE = np.dtype([("position", "<f4", (3,)), ("scale", "<f4", (3,)), ("rgba", "u1", (4,)),
                        ("rot", "u1", (4,))])
assert SPLAT_DTYPE.itemsize == 32


@dataclass(frozen=True)
class SplatRows:
    """Decoded ``.splat`` rows: position [N,3] world, scale [N,3] (linear, meters),
    rgba [N,4] uint8, quat [N,4] wxyz decoded as (byte - 128) / 128."""

    position: np.ndarray
    scale: np.ndarray
    rgba: np.ndarray
    quat: np.ndarray

    def __len__(self) -> int:
        return int(self.position.shape[0])


def splat_order(splats: GaussianSplats) -> np.ndarray:
    """Row order of the .splat file: size x opacity, largest first (stable on ties)."""
    key = -np.exp(splats.log_scales.astype(np.float64).sum(1)) / (1.0 + np.exp(-splats.opacity_logits.astype(np.float64)))
    return np.argsort(key, kind="stable")


def splat_records(splats: GaussianSplats) -> np.ndarray:
    """GaussianSplats -> sorted structured array [N] of :data:`SPLAT_DTYPE`."""
    order = splat_order(splats)
    rec = np.empty(len(splats), dtype=SPLAT_DTYPE)
    rec["position"] = splats.means[order]
    rec["scale"] = np.exp(splats.log_scales[order])
    color = np.concatenate([0.5 + SH_C0 * splats.sh[order, 0, :], splats.opacities[order, None]], axis=1)
    rec["rgba"] = np.clip(color * 255.0, 0, 255).astype(np.uint8)
    q = splats.quats[order].astype(np.float64)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    rec["rot"] = np.clip(q * 128.0 + 128.0, 0, 255).astype(np.uint8)
    return rec


def splat_bytes(splats: GaussianSplats) -> bytes:
    """The bytes of the 32-byte-per-Gaussian ``.splat`` file (see the module docstring)."""
    if len(splats) == 0:
        raise SplatFileError("no Gaussians to write")
    return splat_records(splats).tobytes()


def write_splat(path: str | Path, splats: GaussianSplats) -> Path:
    """Write the ``.splat`` file, atomically."""
    return write_atomic(path, splat_bytes(splats))


def read_splat(path: str | Path) -> SplatRows:
    """Decode a ``.splat`` file."""
    raw = Path(path).read_bytes()
    if len(raw) % 32:
        raise SplatFileError(f"{path}: {len(raw)} bytes is not a whole number of 32-byte splats")
    rec = np.frombuffer(raw, dtype=SPLAT_DTYPE)
    return SplatRows(rec["position"].copy(), rec["scale"].copy(), rec["rgba"].copy(),
                     (rec["rot"].astype(np.float32) - 128.0) / 128.0)


# ------------------------------------------------------------------------------- checks
def check_finite(splats: GaussianSplats, source: str = "the splats") -> GaussianSplats:
    """``splats`` unchanged, or SplatFileError naming how many Gaussians hold NaN / Inf and where."""
    fields = {"position": splats.means, "scale": splats.log_scales, "rotation": splats.quats,
              "opacity": splats.opacity_logits[:, None], "colour (SH)": splats.sh.reshape(len(splats), -1)}
    bad = {name: ~np.isfinite(v).all(axis=1) for name, v in fields.items()}
    any_bad = np.logical_or.reduce(list(bad.values()))
    if any_bad.any():
        where = ", ".join(f"{name} ({int(m.sum())})" for name, m in bad.items() if m.any())
        raise SplatFileError(f"{source}: {int(any_bad.sum())} of {len(splats)} Gaussians have NaN or infinite "
                             f"values (first at row {int(np.argmax(any_bad))}; in {where}); remove them first "
                             "(e.g. splat-transform --filter-nan) or retrain")
    return splats


def splat_ply_sh_degree(path: str | Path) -> int:
    """The SH degree of an INRIA 3DGS PLY from its header alone; SplatFileError for anything
    this project cannot hold (degree 4 and above, incomplete bands, not a PLY)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        raise SplatFileError(f"{path}: not a PLY file")
    rest_n = sum(1 for line in head[:end].decode("ascii", "replace").splitlines()
                 if line.startswith("property") and line.split()[-1].startswith("f_rest_"))
    k = rest_n // 3 + 1
    degree = int(round(np.sqrt(k))) - 1
    if rest_n % 3 or (degree + 1) ** 2 != k:
        raise SplatFileError(f"{path}: {rest_n} f_rest properties are not whole SH bands")
    if degree > 3:
        raise SplatFileError(f"{path}: SH degree {degree} ({rest_n} f_rest properties); splats here and in "
                             "the web formats carry degree 0..3: drop the higher bands first "
                             "(e.g. splat-transform -H 3)")
    return degree
