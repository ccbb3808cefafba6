"""Image datasets other trainers read: COLMAP and / or nerfstudio layouts of captured and
generated frames, with masks of the generated pixels.

Folder layout (every part optional but images):

```
OUT/images/NAME.png              captured views (their names) and generated frames
                                 (gen_SSSS_FFFFFF = segment, trajectory frame index)
OUT/masks_generated/NAME.png     uint8: 255 where the pixel was invented by the generator
                                 (no captured observation backs it), 0 elsewhere; all 0 for
                                 captured views
OUT/sparse/0/*.bin + *.txt       COLMAP model (PINHOLE), image names relative to images/
OUT/transforms.json              nerfstudio: file_path images/NAME.png, per-frame extras
                                 anyrecon_generated (bool), anyrecon_mask_path
OUT/sparse_pc.ply                the memory points (nerfstudio ``ply_file_path``)
```
The masks are *not* nerfstudio's ``mask_path`` (there 0 means "ignore"): trainers that want
to down-weight invented pixels can read ``anyrecon_mask_path``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.export.colmap import write_colmap_model
from engine.export.common import ExportError, staged_folder, write_file_atomic
from engine.export.points import PointCloud, point_records
from engine.ply import ply_bytes
from engine.export.transforms import write_transforms
from engine.geometry import Camera
from engine.safepath import ensure_inside, unique_stems


@dataclass(frozen=True, eq=False)
class DatasetFrame:
    """camera; image RGB uint8 [H,W,3] (or the PNG path it is copied from); generated mask
    [H,W] bool (True = invented pixel) or None for none; name without extension."""

    camera: Camera
    image: np.ndarray | Path
    generated_mask: np.ndarray | None
    name: str
    generated: bool = False


def captured_frames(project) -> list[DatasetFrame]:
    return [DatasetFrame(v.camera, v.image, None, v.name or f"view_{i:06d}") for i, v in enumerate(project.views)]


def _safe_names(frames: list[DatasetFrame]) -> list[DatasetFrame]:
    """Frame names as safe, distinct file names (a camera named ``../../x`` or ``/etc/x``
    becomes ``x``-like; nothing is written outside the dataset folder)."""
    import dataclasses

    stems = unique_stems([f.name for f in frames], "frame")
    return [f if f.name == s else dataclasses.replace(f, name=s) for f, s in zip(frames, stems)]


def generated_frames(project) -> list[DatasetFrame]:
    out = []
    for segment_id, index, png in sorted(project.generated_frames()):
        try:
            with np.load(png.with_suffix(".npz"), allow_pickle=False) as z:
                invented = z["invented"].astype(bool)
                name = f"gen_{segment_id:04d}_{index:06d}"
                cam = Camera(z["K"], invented.shape[1], invented.shape[0], z["world_from_cam"], name)
        except Exception as exc:   # BadZipFile, zlib.error, KeyError, ValueError...
            raise ExportError(f"{png.with_suffix('.npz')}: damaged generated frame ({type(exc).__name__}: {exc})") \
                from exc
        out.append(DatasetFrame(cam, png, invented, name, True))
    return out


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)
    if not ok:
        raise ExportError("could not encode an image as PNG")
    return buf.tobytes()


def _write_images(root: Path, frames: list[DatasetFrame], masks: bool) -> None:
    for fr in frames:
        data = fr.image.read_bytes() if isinstance(fr.image, Path) else _png(fr.image)
        target = root / "images" / f"{fr.name}.png"
        ensure_inside(root, target, "dataset export")
        write_file_atomic(target, data)
        if masks:
            h, w = fr.camera.height, fr.camera.width
            m = np.zeros((h, w), bool) if fr.generated_mask is None else fr.generated_mask
            write_file_atomic(root / "masks_generated" / f"{fr.name}.png", _png(m.astype(np.uint8) * 255))


def write_dataset(folder: str | Path, frames: list[DatasetFrame], points: PointCloud | None = None,
                  colmap: bool = True, transforms: bool = True, masks: bool = True) -> list[Path]:
    """Write the dataset folder (see the module docstring); returns every file written."""
    if not frames:
        raise ExportError("no frames to export")
    frames = _safe_names(frames)
    names = [f.name for f in frames]
    if len(set(names)) != len(names):
        raise ExportError("frame names are not unique")
    folder = Path(folder)
    with staged_folder(folder) as tmp:
        _write_images(tmp, frames, masks)
        cams = [f.camera for f in frames]
        if colmap:
            rgb = None if points is None else (np.clip(points.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
            write_colmap_model(tmp / "sparse" / "0", cams, [f"{n}.png" for n in names],
                               None if points is None else points.xyz, rgb)
        if transforms:
            ply = None
            if points is not None:
                write_file_atomic(tmp / "sparse_pc.ply", ply_bytes(point_records(points)))
                ply = "sparse_pc.ply"
            extras = [{"anyrecon_generated": f.generated,
                       **({"anyrecon_mask_path": f"masks_generated/{f.name}.png"} if masks else {})} for f in frames]
            write_transforms(tmp / "transforms.json", cams, [f"images/{n}.png" for n in names], extras, ply)
    return sorted(p for p in folder.rglob("*") if p.is_file())
