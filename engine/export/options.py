"""The options every exporter accepts and the result every exporter returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.export.mesh import MeshOptions
from engine.splat.model import SplatInitOptions


@dataclass(frozen=True)
class ExportOptions:
    """Options of ``export()``; each format reads the ones it needs.

    subset        points-ply, splats, COLMAP / transforms / dataset points: all | captured | generated
    trajectory    path formats: which camera path (None = the first)
    num_frames    path formats: frames to sample (None = the path's own count, duration * fps)
    mesh          mesh build options (method, target_faces, ...); used by mesh-* and gltf-camera
    texture       mesh-glb: embed the texture atlas baked from the captured views
    sh_degree     splat-ply: SH bands 0..3 (higher bands start at zero)
    splat         how Gaussians are initialised from the memory
    with_mesh     gltf-camera: include the mesh
    video_source  video: auto | generated | render;  fps: None = the path's;  crf: x264 quality
    png_sequence  video: also write OUT_frames/ next to the mp4
    first_frame   chan: number of the first frame (Nuke starts at 1)
    spz_version   splat-spz: 4 (ZSTD, the current default) or 3 / 2 for older readers
    crop_to_roi   points, meshes, splats: keep what lies in the scene frame's region of interest;
                  None = when the project has one (see engine.export.roi)
    """

    subset: str = "all"
    trajectory: str | None = None
    num_frames: int | None = None
    mesh: MeshOptions = field(default_factory=MeshOptions)
    texture: bool = False
    sh_degree: int = 0
    splat: SplatInitOptions = field(default_factory=SplatInitOptions)
    with_mesh: bool = False
    video_source: str = "auto"
    fps: float | None = None
    crf: int = 18
    png_sequence: bool = False
    first_frame: int = 1
    spz_version: int = 4
    crop_to_roi: bool | None = None


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote. out: the requested destination; files: every file written;
    count: how many ``count_label`` (points, faces, gaussians, cameras, frames)."""

    format: str
    out: Path
    files: tuple[Path, ...]
    count: int
    count_label: str
    notes: tuple[str, ...] = ()

    def summary(self) -> dict:
        return {"format": self.format, "out": str(self.out), "files": len(self.files),
                self.count_label: self.count, "notes": list(self.notes)}
