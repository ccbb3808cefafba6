"""A texture atlas for a mesh: every triangle gets half of a small square cell, filled from
the captured view that sees it best, else from the interpolated vertex colors.

Layout: faces are paired into ``cell`` x ``cell`` texel squares on a G x G grid (G =
ceil(sqrt(F / 2))); face 2c takes the upper-left half of cell c, face 2c+1 the lower-right
half. Every texel of a cell is assigned to the nearer half and gets the color of the
closest point of that triangle (barycentrics clamped), so bilinear filtering never reads
an unfilled texel. Vertices are unshared (3 per face) because each face has its own UVs.

Baking (``views`` given): a texel's 3D point is projected into every captured view; the view
is usable where the point is in the image, faces the camera and agrees with the view's
depth map (within ``depth_tolerance``); the usable view with the largest
``cos(angle) / depth^2`` supplies the color (bilinear).
"""
from __future__ import annotations

import numpy as np

from engine.export.mesh import MeshData


def _cell_layout(cell: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Texel (i, j) grid of one cell, which half each texel is in, and the two triangles'
    UV corners in texel-center coordinates."""
    jj, ii = np.meshgrid(np.arange(cell), np.arange(cell))      # ii row (y), jj column (x)
    upper = (ii + jj) <= cell - 1
    c = cell - 1
    tri_a = np.array([[0.0, 0.0], [c - 1.0, 0.0], [0.0, c - 1.0]])  # (x, y)
    tri_b = np.array([[c, c], [1.0, c], [c, 1.0]])
    return ii, jj, upper, np.stack([tri_a, tri_b])


def _barycentric(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Clamped barycentric weights [..., 3] of 2D points p [..., 2] in triangle tri [3, 2]."""
    v0, v1 = tri[1] - tri[0], tri[2] - tri[0]
    d = p - tri[0]
    den = v0[0] * v1[1] - v1[0] * v0[1]
    b1 = (d[..., 0] * v1[1] - v1[0] * d[..., 1]) / den
    b2 = (v0[0] * d[..., 1] - d[..., 0] * v0[1]) / den
    w = np.clip(np.stack([1.0 - b1 - b2, b1, b2], -1), 0.0, None)
    return w / w.sum(-1, keepdims=True)


def _bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Sample image [H,W,C] at image coords uv [M,2] (pixel centers at +0.5), edge-clamped."""
    h, w = image.shape[:2]
    x = np.clip(uv[:, 0] - 0.5, 0, w - 1)
    y = np.clip(uv[:, 1] - 0.5, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2 if w > 1 else 0)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _bake_views(points: np.ndarray, normals: np.ndarray, views, depth_tolerance: float):
    """Colors [M,3] float32 and a found mask [M] of texel points [M,3] from the views."""
    best = np.zeros(len(points))
    color = np.zeros((len(points), 3), np.float32)
    for v in views:
        cam = v.camera
        uv, z = cam.project(points)
        to_cam = cam.center - points
        dist = np.linalg.norm(to_cam, axis=1) + 1e-12
        cos = np.einsum("ij,ij->i", normals, to_cam) / dist
        ok = (z > 1e-6) & (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
        ok &= cos > 0.05
        if v.depth is not None:
            col = np.clip(uv[:, 0].astype(np.int64), 0, cam.width - 1)
            row = np.clip(uv[:, 1].astype(np.int64), 0, cam.height - 1)
            d = np.where(ok, v.depth[row, col], 0.0)
            ok &= np.abs(d - z) <= depth_tolerance + 0.01 * z
        score = np.where(ok, cos / np.maximum(z, 1e-6) ** 2, 0.0)
        take = score > best
        if take.any():
            color[take] = _bilinear(v.image_float(), uv[take])
            best[take] = score[take]
    return color, best > 0


def build_atlas(mesh: MeshData, views=(), cell: int = 8, depth_tolerance: float = 0.05) -> MeshData:
    """The textured copy of ``mesh`` (unshared vertices, uv, texture [T,T,3] uint8)."""
    f = mesh.faces
    nf = len(f)
    grid = int(np.ceil(np.sqrt(max(1, (nf + 1) // 2))))
    size = grid * cell
    ii, jj, upper, tris = _cell_layout(cell)
    cell_of = np.arange(nf) // 2
    half = np.arange(nf) % 2                                          # 0 upper-left, 1 lower-right
    origin = np.stack([cell_of % grid, cell_of // grid], 1) * cell    # (x, y) texels
    corners = origin[:, None, :] + tris[half]                          # [F,3,2] texel-center coords
    tex = np.zeros((size, size, 3), np.float32)
    for h in (0, 1):
        faces_h = np.flatnonzero(half == h)
        texels = upper if h == 0 else ~upper
        p2d = np.stack([jj[texels], ii[texels]], -1).astype(np.float64)  # (x, y)
        w = _barycentric(p2d, tris[h])                                     # [T,3]
        tri_v = mesh.vertices[f[faces_h]]                                  # [Fh,3,3]
        pts = np.einsum("tk,fkd->ftd", w, tri_v).reshape(-1, 3)
        cols = np.einsum("tk,fkd->ftd", w, mesh.colors[f[faces_h]]).reshape(-1, 3)
        if len(views):
            n = np.cross(tri_v[:, 1] - tri_v[:, 0], tri_v[:, 2] - tri_v[:, 0])
            n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
            baked, found = _bake_views(pts, np.repeat(n, len(w), axis=0), views, depth_tolerance)
            cols = np.where(found[:, None], baked, cols)
        ys = (origin[faces_h, 1][:, None] + ii[texels][None]).ravel()
        xs = (origin[faces_h, 0][:, None] + jj[texels][None]).ravel()
        tex[ys, xs] = cols
    uv = (corners.reshape(-1, 2) + 0.5) / size
    uv[:, 1] = 1.0 - uv[:, 1]                                           # OBJ / OpenGL: v up
    verts = mesh.vertices[f].reshape(-1, 3)
    colors = mesh.colors[f].reshape(-1, 3)
    faces = np.arange(3 * nf, dtype=np.int32).reshape(nf, 3)
    texture = (np.clip(tex, 0, 1) * 255 + 0.5).astype(np.uint8)
    return MeshData(verts, faces, colors, uv, texture)
