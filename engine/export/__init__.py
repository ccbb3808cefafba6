"""Exports: one module per family of formats, one registry, one entry point.

``EXPORTERS`` maps the ``--format`` names to :class:`Exporter` records; ``export()`` is what
the CLI (``anyrecon export``) and the studio's export dialog call. Every writer has a reader
next to it (used by the tests); every file lands through a temporary name and a rename, so a
failed export leaves nothing behind (see :mod:`engine.export.common`).

World frames: files that belong to the reconstruction (points / mesh PLY, splats, COLMAP,
transforms.json, camera_path.json) keep the project world; files whose format fixes an up
axis (GLB, OBJ, Nuke .chan) are converted to +Y up through engine.geometry.conventions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.export import formats as _f
from engine.export.common import ExportError
from engine.export.options import ExportOptions, ExportResult


@dataclass(frozen=True)
class Exporter:
    """name: the --format value; output: "file" or "folder"; suffix: default file suffix
    (added when --out has none); run(project, out, options) -> ExportResult."""

    name: str
    description: str
    output: str
    suffix: str
    run: Callable[..., ExportResult]


EXPORTERS: dict[str, Exporter] = {e.name: e for e in (
    Exporter("points-ply", "point cloud, binary PLY with normals, confidence, provenance", "file", ".ply", _f.export_points),
    Exporter("mesh-glb", "mesh, glTF 2.0 binary (+Y up, meters), vertex colors", "file", ".glb", _f.export_mesh_glb),
    Exporter("mesh-obj", "mesh, OBJ + MTL + PNG texture atlas (+Y up)", "file", ".obj", _f.export_mesh_obj),
    Exporter("mesh-ply", "mesh, binary PLY with vertex colors (project world)", "file", ".ply", _f.export_mesh_ply),
    Exporter("splat-ply", "Gaussian splats, INRIA 3DGS PLY", "file", ".ply", _f.export_splat_ply),
    Exporter("splat", "Gaussian splats, 32-byte .splat (antimatter15)", "file", ".splat", _f.export_splat),
    Exporter("splat-spz", "Gaussian splats, Niantic SPZ (v4 ZSTD; --spz-version 3 for older readers; RUB axes)", "file", ".spz", _f.export_splat_spz),
    Exporter("splat-sog", "Gaussian splats, PlayCanvas SOG (WebP textures + meta.json, zipped)", "file", ".sog", _f.export_splat_sog),
    Exporter("splat-compressed-ply", "Gaussian splats, PlayCanvas compressed.ply", "file", ".compressed.ply", _f.export_splat_compressed_ply),
    Exporter("splat-glb", "Gaussian splats, glTF 2.0 binary with KHR_gaussian_splatting (+Y up, COLOR_0 fallback)", "file", ".glb", _f.export_splat_glb),
    Exporter("colmap", "captured cameras + images as a COLMAP model (text + binary)", "folder", "", _f.export_colmap),
    Exporter("transforms", "captured cameras + images as nerfstudio transforms.json", "folder", "", _f.export_transforms),
    Exporter("camera-path", "camera path, nerfstudio camera_path.json", "file", ".json", _f.export_camera_path),
    Exporter("gltf-camera", "animated path camera (+ optional mesh), GLB", "file", ".glb", _f.export_gltf_camera),
    Exporter("chan", "camera path, Nuke .chan", "file", ".chan", _f.export_chan),
    Exporter("video", "path frames, H.264 mp4 (or a PNG sequence into a folder)", "file", ".mp4", _f.export_video),
    Exporter("dataset", "captured + generated frames, COLMAP + transforms.json + masks", "folder", "", _f.export_dataset),
)}


def export(project, format: str, out: str | Path, options: ExportOptions | None = None) -> ExportResult:
    """Export ``project`` as ``format`` to ``out`` (a file or a folder, as the format needs).

    Raises ExportError (a ValueError) with a clear message on bad input or an unwritable
    destination; nothing half-written is left behind.
    """
    try:
        exporter = EXPORTERS[format]
    except KeyError:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(EXPORTERS)}") from None
    out = Path(out)
    if exporter.output == "file" and not out.suffix and format != "video":
        out = out.with_suffix(exporter.suffix)
    if exporter.output == "file" and out.is_dir():
        raise ExportError(f"{out} is a folder; {format} writes a file (e.g. {out / ('export' + exporter.suffix)})")
    return exporter.run(project, out, options or ExportOptions())


__all__ = ["EXPORTERS", "Exporter", "ExportError", "ExportOptions", "ExportResult", "export"]
