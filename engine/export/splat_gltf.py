"""Gaussian splats as glTF 2.0 binary with ``KHR_gaussian_splatting`` (Khronos, 2025-2026).

One mesh with one primitive of ``mode`` POINTS (0) whose attributes are, per Gaussian:

=========================================  ======  ==========================================
attribute                                  type    value
=========================================  ======  ==========================================
POSITION                                   VEC3    mean, glTF world (+Y up, meters)
KHR_gaussian_splatting:ROTATION            VEC4    unit quaternion xyzw, local -> world
KHR_gaussian_splatting:SCALE               VEC3    log of the standard deviations
KHR_gaussian_splatting:OPACITY             SCALAR  sigmoid(logit), in [0, 1]
KHR_gaussian_splatting:SH_DEGREE_l_COEF_n  VEC3    SH coefficient (r, g, b), l = 0..degree
COLOR_0                                    VEC4    fallback for point-cloud viewers:
                                                   0.5 + C0 * DC clipped to [0, 1], alpha =
                                                   opacity (unsigned byte, normalized)
=========================================  ======  ==========================================

all float32 except COLOR_0; the primitive's extension object is ``{"kernel": "ellipse",
"colorSpace": "srgb_rec709_display", "projection": "perspective", "sortingMethod":
"cameraDistance"}`` and the extension is listed in ``extensionsUsed`` (not required:
viewers without it show the coloured points). The world is turned to +Y up exactly like
every other glTF export (:func:`engine.geometry.conventions.gltf_gaussians_from_world`),
so splats, the mesh GLB and the camera GLB line up.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.export.common import ExportError
from engine.export.gltf import ARRAY_BUFFER, UNSIGNED_BYTE, GltfBuilder, read_glb
from engine.geometry.conventions import gltf_gaussians_from_world, world_gaussians_from_gltf
from engine.splat.model import SH_C0, GaussianSplats

EXT = "KHR_gaussian_splatting"
POINTS = 0
EXTENSION_OBJECT = {"kernel": "ellipse", "colorSpace": "srgb_rec709_display",
                    "projection": "perspective", "sortingMethod": "cameraDistance"}


def sh_attribute_names(degree: int) -> list[str]:
    """The SH attribute semantics for ``degree`` 0..3, in coefficient order."""
    return [f"{EXT}:SH_DEGREE_{l}_COEF_{n}" for l in range(degree + 1) for n in range(2 * l + 1)]


def attribute_names(degree: int) -> list[str]:
    """Every attribute semantic the writer emits (what a validator must be told to allow)."""
    return ["POSITION", "COLOR_0", f"{EXT}:ROTATION", f"{EXT}:SCALE", f"{EXT}:OPACITY"] + sh_attribute_names(degree)


def splat_glb_bytes(splats: GaussianSplats, name: str = "splats") -> bytes:
    """The GLB bytes (see the module docstring)."""
    if len(splats) == 0:
        raise ExportError("no Gaussians to export")
    means, quats, sh = gltf_gaussians_from_world(splats.means, splats.quats, splats.sh)
    q = quats / np.linalg.norm(quats, axis=1, keepdims=True)
    opacity = splats.opacities.astype(np.float32)
    color = np.concatenate([np.clip(0.5 + SH_C0 * splats.sh[:, 0], 0, 1), opacity[:, None]], axis=1)
    b = GltfBuilder()
    attrs = {"POSITION": b.accessor(means, target=ARRAY_BUFFER, min_max=True),
             "COLOR_0": b.accessor(np.round(color * 255), UNSIGNED_BYTE, ARRAY_BUFFER, normalized=True),
             f"{EXT}:ROTATION": b.accessor(q[:, [1, 2, 3, 0]], target=ARRAY_BUFFER),
             f"{EXT}:SCALE": b.accessor(splats.log_scales, target=ARRAY_BUFFER),
             f"{EXT}:OPACITY": b.accessor(opacity, target=ARRAY_BUFFER)}
    for i, semantic in enumerate(sh_attribute_names(splats.sh_degree)):
        attrs[semantic] = b.accessor(sh[:, i, :], target=ARRAY_BUFFER)
    b.use_extension(EXT)
    mesh = b.add("meshes", {"name": name, "primitives": [{"attributes": attrs, "mode": POINTS,
                                                          "extensions": {EXT: dict(EXTENSION_OBJECT)}}]})
    b.add_root_node({"name": name, "mesh": mesh})
    return b.glb_bytes()


@dataclass(frozen=True)
class GltfSplats:
    """What :func:`read_splat_glb` found: the splats back in the project world and the raw
    COLOR_0 fallback [N,4] uint8."""

    splats: GaussianSplats
    color_0: np.ndarray


def read_splat_glb(path: str | Path) -> GltfSplats:
    """Read a GLB written by :func:`splat_glb_bytes` (any primitive carrying the extension)."""
    g = read_glb(path)
    prims = [p for m in g.doc.get("meshes", []) for p in m["primitives"] if EXT in p.get("extensions", {})]
    if not prims:
        raise ExportError(f"{path}: no primitive uses {EXT}")
    a = prims[0]["attributes"]
    k = sum(1 for s in a if s.startswith(f"{EXT}:SH_DEGREE_"))
    sh = np.stack([g.accessor(a[s]) for s in sh_attribute_names(int(round(np.sqrt(k))) - 1)], axis=1)
    q = g.accessor(a[f"{EXT}:ROTATION"])[:, [3, 0, 1, 2]]
    means, quats, sh = world_gaussians_from_gltf(g.accessor(a["POSITION"]), q, sh)
    op = np.clip(g.accessor(a[f"{EXT}:OPACITY"]).astype(np.float64), 1e-7, 1 - 1e-7)
    splats = GaussianSplats(means, g.accessor(a[f"{EXT}:SCALE"]), quats, np.log(op / (1 - op)), sh)
    return GltfSplats(splats, g.accessor(a["COLOR_0"]))
