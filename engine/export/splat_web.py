"""The compressed splat formats web viewers read: SPZ, SOG and compressed.ply, via gaussforge.

`gaussforge` (Apache-2.0, a C++ library with Python bindings) converts an INRIA 3DGS PLY
into each of them; what this module adds is the world convention of each format and a
check of the library's output against the format's own reader (PlayCanvas splat-transform,
in tests/export/test_splat_web.py).

- **SPZ** (Niantic, github.com/nianticlabs/spz): stores Gaussians in RUB axes (right, up,
  back), PLY data being RDF; the writer is told nothing about axes, so the Gaussians are
  turned by :func:`engine.geometry.conventions.spz_gaussians_from_world` first (what spz's
  ``PackOptions.from = RDF`` does). Version 4 (per-attribute ZSTD streams) by default,
  3 (one gzip stream) for older readers. Quantisation: positions 24-bit fixed point
  (12 fractional bits), log scales 8 bit, rotations smallest-three 10 bit, alpha and
  colour 8 bit, SH 8 bit over [-1, 1] (5 significant bits for degree 1, 4 above).
  PlayCanvas's reader decodes SPZ raw (no axis change), so it shows y and z negated.
- **SOG** (PlayCanvas, a zip of WebP textures + meta.json): the PLY's axes, unchanged;
  rows are re-ordered (Morton order), SH through a k-means palette.
- **compressed.ply** (PlayCanvas): the PLY's axes; chunks of 256 Gaussians with min/max
  per chunk, positions and scales 11-10-11 bit, rotations 2-10-10-10, colour/opacity
  8 bit each, SH 8 bit over [-4, 4] in the PLY's ``f_rest`` order (channel-major).
  gaussforge 0.6 writes the SH bytes coefficient-major (channel inner, SPZ's order): the
  input handed to it is permuted so the file comes out in the PLY's order.

All three hold SH degree 0..3 (the splats' own degree is kept).
"""
from __future__ import annotations

import numpy as np

from engine.export.common import ExportError
from engine.geometry.conventions import spz_gaussians_from_world
from engine.splat.files import inria_ply_bytes
from engine.splat.model import GaussianSplats

SPZ_VERSIONS = (2, 3, 4)
DEFAULT_SPZ_VERSION = 4


def _convert(splats: GaussianSplats, fmt: str, **kwargs) -> bytes:
    try:
        import gaussforge
    except ImportError:
        raise ExportError(f"writing {fmt} needs the 'gaussforge' package (pip install gaussforge)") from None
    if len(splats) == 0:
        raise ExportError("no Gaussians to export")
    result = gaussforge.GaussForge().convert(inria_ply_bytes(splats), "ply", fmt, **kwargs)
    if "error" in result:
        raise ExportError(f"gaussforge could not write {fmt}: {result['error']}")
    data = bytes(result["data"])
    if not data:
        raise ExportError(f"gaussforge wrote an empty {fmt} file")
    return data


def spz_bytes(splats: GaussianSplats, version: int = DEFAULT_SPZ_VERSION) -> bytes:
    """SPZ bytes (see the module docstring), RUB axes, ``version`` 2, 3 or 4."""
    if version not in SPZ_VERSIONS:
        raise ExportError(f"SPZ version must be one of {SPZ_VERSIONS}, got {version}")
    means, quats, sh = spz_gaussians_from_world(splats.means, splats.quats, splats.sh)
    rub = GaussianSplats(means, splats.log_scales, quats, splats.opacity_logits, sh)
    return _convert(rub, "spz", spz_version=int(version))


def sog_bytes(splats: GaussianSplats) -> bytes:
    """A bundled ``.sog`` (zip: meta.json + WebP textures) in the PLY's axes."""
    return _convert(splats, "sog")


def _sh_for_gaussforge_compressed_ply(sh: np.ndarray) -> np.ndarray:
    """SH [N,K,3] arranged so that gaussforge's coefficient-major dump of them reads as the
    PLY's channel-major ``f_rest`` order (see the module docstring)."""
    n, k = sh.shape[0], sh.shape[1]
    if k == 1:
        return sh
    want = sh[:, 1:].transpose(0, 2, 1).reshape(n, 3 * (k - 1))      # channel-major bytes wanted
    out = sh.copy()
    out[:, 1:] = want.reshape(n, k - 1, 3)                             # what gaussforge dumps in order
    return out


def compressed_ply_bytes(splats: GaussianSplats) -> bytes:
    """PlayCanvas ``.compressed.ply`` bytes in the PLY's axes."""
    fixed = GaussianSplats(splats.means, splats.log_scales, splats.quats, splats.opacity_logits,
                           _sh_for_gaussforge_compressed_ply(splats.sh))
    return _convert(fixed, "compressed.ply")
