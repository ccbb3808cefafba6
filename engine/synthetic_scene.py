"""Analytic primitives and solid textures behind :mod:`engine.synthetic`.

World frame: OpenCV-like, +y points DOWN; units are meters. A ray is ``o + t * d``
with origins and directions in world coordinates; ``d`` need not be unit length
(camera rays with camera-z = 1 make ``t`` the z-depth). Every intersection routine
is one-sided: it reports only hits on the side its normal faces, so solids are seen
from outside and the room is seen from inside. Misses are ``np.inf``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

T_MIN = 1e-6       # smallest accepted ray parameter (same unit as camera z-depth: m)
EDGE_TOL = 1e-9    # quads are grown by this much (m) so room corners have no cracks


class Rays:
    """Rays in structure-of-arrays form.

    o  tuple of 3 components, each a float (shared origin) or [N], world, m
    d  tuple of 3 components [N], world direction (any length)
    """

    def __init__(self, origins: np.ndarray, directions: np.ndarray) -> None:
        o = np.asarray(origins, dtype=np.float64)
        d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        if o.ndim == 1:
            self.o = tuple(float(v) for v in o[:3])
        else:
            o = np.broadcast_to(o.reshape(-1, 3), d.shape)
            self.o = tuple(np.ascontiguousarray(o[:, k]) for k in range(3))
        self.d = tuple(np.ascontiguousarray(d[:, k]) for k in range(3))
        with np.errstate(divide="ignore"):
            self.inv = tuple(1.0 / c for c in self.d)
        self.n = d.shape[0]


def _unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclass(frozen=True)
class Sphere:
    """Sphere: ``center`` [3] world m, ``radius`` m. Normals point outward."""

    name: str
    center: tuple[float, float, float]
    radius: float

    def intersect(self, r: Rays) -> np.ndarray:
        oc = [o - c for o, c in zip(r.o, self.center)]
        a = r.d[0] * r.d[0] + r.d[1] * r.d[1] + r.d[2] * r.d[2]
        b = r.d[0] * oc[0] + r.d[1] * oc[1] + r.d[2] * oc[2]
        c = oc[0] * oc[0] + oc[1] * oc[1] + oc[2] * oc[2] - self.radius ** 2
        disc = b * b - a * c
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / a
        return np.where((disc >= 0) & (t > T_MIN), t, np.inf)

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        return _unit_rows(p - np.asarray(self.center))

    def contains(self, p: np.ndarray, tol: float) -> np.ndarray:
        return np.linalg.norm(p - np.asarray(self.center), axis=-1) <= self.radius + tol

    def area(self) -> float:
        return 4.0 * np.pi * self.radius ** 2

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        nrm = _unit_rows(rng.normal(size=(n, 3)))
        return np.asarray(self.center) + self.radius * nrm, nrm


@dataclass(frozen=True)
class Box:
    """Axis-aligned box between ``lo`` and ``hi`` [3] world m. Normals point outward."""

    name: str
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    def intersect(self, r: Rays) -> np.ndarray:
        t_near = np.full(r.n, -np.inf)
        t_far = np.full(r.n, np.inf)
        for k in range(3):
            with np.errstate(invalid="ignore"):  # 0 * inf: origin on a slab plane, ray parallel
                t1 = (self.lo[k] - r.o[k]) * r.inv[k]
                t2 = (self.hi[k] - r.o[k]) * r.inv[k]
            t_near = np.fmax(t_near, np.fmin(t1, t2))
            t_far = np.fmin(t_far, np.fmax(t1, t2))
        return np.where((t_near <= t_far) & (t_near > T_MIN), t_near, np.inf)

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        q = (p - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
        axis = np.argmax(np.abs(q), axis=-1)
        out = np.zeros_like(p)
        rows = np.arange(len(p))
        out[rows, axis] = np.sign(q[rows, axis])
        return out

    def contains(self, p: np.ndarray, tol: float) -> np.ndarray:
        return np.all((p >= np.asarray(self.lo) - tol) & (p <= np.asarray(self.hi) + tol), axis=-1)

    def _faces(self) -> list[tuple[int, float, float]]:
        ext = np.asarray(self.hi) - np.asarray(self.lo)
        out = []
        for k in range(3):
            face_area = float(np.prod(np.delete(ext, k)))
            out += [(k, -1.0, face_area), (k, 1.0, face_area)]
        return out

    def area(self) -> float:
        return sum(a for _, _, a in self._faces())

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        faces = self._faces()
        w = np.array([a for _, _, a in faces])
        which = rng.choice(len(faces), size=n, p=w / w.sum())
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        p = lo + rng.random((n, 3)) * (hi - lo)
        nrm = np.zeros((n, 3))
        for f, (k, s, _) in enumerate(faces):
            m = which == f
            p[m, k] = lo[k] if s < 0 else hi[k]
            nrm[m, k] = s
        return p, nrm


@dataclass(frozen=True)
class Cylinder:
    """Vertical (y-axis) capped cylinder: axis at (``x``, ``z``) world m, ``radius`` m,
    spanning ``y_top`` < ``y_bottom`` (y points down). Normals point outward."""

    name: str
    x: float
    z: float
    radius: float
    y_top: float
    y_bottom: float

    def intersect(self, r: Rays) -> np.ndarray:
        ox, oz = r.o[0] - self.x, r.o[2] - self.z
        a = r.d[0] * r.d[0] + r.d[2] * r.d[2]
        b = r.d[0] * ox + r.d[2] * oz
        c = ox * ox + oz * oz - self.radius ** 2
        disc = b * b - a * c
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (-b - np.sqrt(disc)) / a
        y = r.o[1] + t * r.d[1]
        side = np.where((disc >= 0) & (t > T_MIN) & (y >= self.y_top) & (y <= self.y_bottom), t, np.inf)
        best = side
        for y_cap, facing in ((self.y_top, r.d[1] > 0), (self.y_bottom, r.d[1] < 0)):
            with np.errstate(invalid="ignore"):  # 0 * inf for rays parallel to the caps
                tc = (y_cap - r.o[1]) * r.inv[1]
                cx, cz = ox + tc * r.d[0], oz + tc * r.d[2]
                ok = facing & (tc > T_MIN) & (cx * cx + cz * cz <= self.radius ** 2)
            best = np.minimum(best, np.where(ok, tc, np.inf))
        return best

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        rx, rz = p[:, 0] - self.x, p[:, 2] - self.z
        radial = np.hypot(rx, rz)
        y_mid, half_h = 0.5 * (self.y_top + self.y_bottom), 0.5 * (self.y_bottom - self.y_top)
        dy = p[:, 1] - y_mid
        cap = np.abs(dy) / half_h > radial / self.radius
        safe = np.where(radial > 0, radial, 1.0)
        side = np.stack([rx / safe, np.zeros_like(rx), rz / safe], axis=-1)
        cap_n = np.stack([np.zeros_like(rx), np.sign(dy), np.zeros_like(rx)], axis=-1)
        return np.where(cap[:, None], cap_n, side)

    def contains(self, p: np.ndarray, tol: float) -> np.ndarray:
        radial = np.hypot(p[:, 0] - self.x, p[:, 2] - self.z)
        return (radial <= self.radius + tol) & (p[:, 1] >= self.y_top - tol) & (p[:, 1] <= self.y_bottom + tol)

    def area(self) -> float:
        return 2 * np.pi * self.radius * (self.y_bottom - self.y_top) + 2 * np.pi * self.radius ** 2

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        side_area = 2 * np.pi * self.radius * (self.y_bottom - self.y_top)
        part = rng.choice(3, size=n, p=np.array([side_area, np.pi * self.radius ** 2,
                                                 np.pi * self.radius ** 2]) / self.area())
        ang = rng.uniform(0, 2 * np.pi, n)
        rad = np.where(part == 0, self.radius, self.radius * np.sqrt(rng.random(n)))
        y = np.select([part == 0, part == 1], [rng.uniform(self.y_top, self.y_bottom, n),
                                               np.full(n, self.y_top)], self.y_bottom)
        p = np.stack([self.x + rad * np.cos(ang), y, self.z + rad * np.sin(ang)], axis=-1)
        nrm = np.zeros((n, 3))
        nrm[part == 0] = np.stack([np.cos(ang), np.zeros(n), np.sin(ang)], -1)[part == 0]
        nrm[part == 1, 1] = -1.0
        nrm[part == 2, 1] = 1.0
        return p, nrm


@dataclass(frozen=True)
class Quad:
    """Axis-aligned one-sided rectangle: plane x_axis = ``value`` (world m), normal
    ``sign`` * e_axis, extent ``lo``..``hi`` [3] on the two other axes."""

    name: str
    axis: int
    value: float
    sign: float
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    def intersect(self, r: Rays) -> np.ndarray:
        k = self.axis
        with np.errstate(invalid="ignore"):  # 0 * inf for rays parallel to the quad
            t = (self.value - r.o[k]) * r.inv[k]
            ok = (r.d[k] * self.sign < 0) & (t > T_MIN)
            for j in range(3):
                if j != k:
                    c = r.o[j] + t * r.d[j]
                    ok &= (c >= self.lo[j] - EDGE_TOL) & (c <= self.hi[j] + EDGE_TOL)
        return np.where(ok, t, np.inf)

    def normal_at(self, p: np.ndarray) -> np.ndarray:
        out = np.zeros_like(p)
        out[:, self.axis] = self.sign
        return out

    def contains(self, p: np.ndarray, tol: float) -> np.ndarray:
        return np.zeros(len(p), dtype=bool)  # a quad bounds no volume

    def area(self) -> float:
        return float(np.prod(np.delete(np.asarray(self.hi) - np.asarray(self.lo), self.axis)))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        p = lo + rng.random((n, 3)) * (hi - lo)
        p[:, self.axis] = self.value
        return p, self.normal_at(p)


Primitive = Sphere | Box | Cylinder | Quad


def room_quads(lo: np.ndarray, hi: np.ndarray) -> tuple[Quad, ...]:
    """Six inward-facing quads of the room box ``lo``..``hi`` [3] world m (y down)."""
    lo_t, hi_t = tuple(float(v) for v in lo), tuple(float(v) for v in hi)
    names = {(0, -1): "wall_x_min", (0, 1): "wall_x_max", (1, -1): "ceiling",
             (1, 1): "floor", (2, -1): "wall_z_min", (2, 1): "wall_z_max"}
    out = []
    for (axis, side), name in names.items():
        value = lo_t[axis] if side < 0 else hi_t[axis]
        out.append(Quad(name, axis, value, float(-side), lo_t, hi_t))
    return tuple(out)


# --------------------------------------------------------------------------- textures

_PRIMES = (np.uint32(0x8DA6B343), np.uint32(0xD8163841), np.uint32(0xCB1AB31F))


def _mix32(h: np.ndarray) -> np.ndarray:
    """lowbias32 integer finalizer on uint32 arrays (wrapping arithmetic)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x7FEB352D)
    h = h ^ (h >> np.uint32(15))
    h = h * np.uint32(0x846CA68B)
    return h ^ (h >> np.uint32(16))


def value_noise(q: np.ndarray, salt: int) -> np.ndarray:
    """Smooth 3D value noise in [0,1] at q [N,3] (lattice units); no period in practice
    (a 32-bit hash of the integer lattice, not a permutation table)."""
    f = np.floor(q)
    w = q - f
    w = w * w * (3.0 - 2.0 * w)
    i = f.astype(np.int64).astype(np.uint32)
    h0 = [i[:, k] * _PRIMES[k] for k in range(3)]
    h1 = [h + _PRIMES[k] for k, h in enumerate(h0)]
    salt32 = np.uint32(salt & 0xFFFFFFFF)
    val = {}
    for cx in (0, 1):
        for cy in (0, 1):
            hxy = (h0[0] if cx == 0 else h1[0]) ^ (h0[1] if cy == 0 else h1[1]) ^ salt32
            for cz in (0, 1):
                val[cx, cy, cz] = _mix32(hxy ^ (h0[2] if cz == 0 else h1[2])) * (1.0 / 2 ** 32)
    wx, wy, wz = w[:, 0], w[:, 1], w[:, 2]
    x00 = val[0, 0, 0] + wx * (val[1, 0, 0] - val[0, 0, 0])
    x10 = val[0, 1, 0] + wx * (val[1, 1, 0] - val[0, 1, 0])
    x01 = val[0, 0, 1] + wx * (val[1, 0, 1] - val[0, 0, 1])
    x11 = val[0, 1, 1] + wx * (val[1, 1, 1] - val[0, 1, 1])
    y0 = x00 + wy * (x10 - x00)
    y1 = x01 + wy * (x11 - x01)
    return y0 + wz * (y1 - y0)


def fbm(q: np.ndarray, salt: int, octaves: int = 4, lacunarity: float = 2.13, gain: float = 0.62) -> np.ndarray:
    """Fractal sum of value-noise octaves at q [N,3] (lattice units), contrast-stretched to [0,1]."""
    total, amp, norm = np.zeros(len(q)), 1.0, 0.0
    for k in range(octaves):
        total += amp * value_noise(q * lacunarity ** k + 7.13 * k, salt + 101 * k)
        norm += amp
        amp *= gain
    return np.clip((total / norm - 0.5) * 2.6 + 0.5, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class MaterialTable:
    """Per-material solid-texture parameters, M materials (one per primitive).

    freq [M] noise cycles per meter; offset [M,3] lattice offset; palette [M,3,3]
    three RGB colors in [0,1]; axes [M,3,3] rows = pattern axes (world, cycles/m);
    checker [M] bool (checker, else warped stripes); strength [M] pattern darkening.
    """

    freq: np.ndarray
    offset: np.ndarray
    palette: np.ndarray
    axes: np.ndarray
    checker: np.ndarray
    strength: np.ndarray
    salt: int


def make_materials(kinds: list[str], seed: int) -> MaterialTable:
    """Random but deterministic materials; ``kinds`` per primitive: 'room' or 'object'."""
    rng = np.random.default_rng([seed, 0x5EED])
    m = len(kinds)
    room = np.array([k == "room" for k in kinds])
    freq = np.where(room, rng.uniform(1.6, 2.4, m), rng.uniform(3.5, 5.5, m))
    palette = rng.uniform(0.08, 0.95, (m, 3, 3))
    palette[room] = 0.55 * palette[room] + 0.35  # calmer, brighter walls and floor
    q, _ = np.linalg.qr(rng.normal(size=(m, 3, 3)))
    pattern_freq = np.where(room, rng.uniform(0.8, 1.6, m), rng.uniform(2.5, 6.0, m))
    return MaterialTable(
        freq=freq, offset=rng.uniform(-100, 100, (m, 3)), palette=palette,
        axes=q * pattern_freq[:, None, None], checker=rng.random(m) < 0.5,
        strength=rng.uniform(0.25, 0.5, m), salt=int(rng.integers(0, 2 ** 31)))


CHUNK = 16384  # points per vectorised batch: keeps numpy temporaries in cache (~4x faster)


def solid_albedo(p: np.ndarray, material: np.ndarray, mt: MaterialTable) -> np.ndarray:
    """Albedo [N,3] float32 in [0,1] of world points p [N,3] (m) on materials [N] int.

    A pure function of the 3D position and material: multi-octave value noise blends a
    three-color palette, sharp-edged noise blobs and a checker or noise-warped stripe
    pattern modulate it. Non-periodic at every scale the scene uses.
    """
    out = np.empty((len(p), 3), np.float32)
    for s in range(0, len(p), CHUNK):
        out[s:s + CHUNK] = _albedo_chunk(p[s:s + CHUNK], material[s:s + CHUNK], mt)
    return out


def _albedo_chunk(p: np.ndarray, material: np.ndarray, mt: MaterialTable) -> np.ndarray:
    q = p * mt.freq[material, None] + mt.offset[material]
    n1 = fbm(q, mt.salt)
    n2 = value_noise(q * 0.29 + 31.7, mt.salt + 7)
    blobs = value_noise(q * 2.7 - 13.1, mt.salt + 13)
    pal = mt.palette[material]
    base = pal[:, 0] + (pal[:, 1] - pal[:, 0]) * n1[:, None]
    blend = np.clip((n2 - 0.45) * 3.5, 0.0, 1.0)
    base = base + (pal[:, 2] - base) * blend[:, None]
    c = np.einsum("nij,nj->ni", mt.axes[material], p)
    fl = np.floor(c)
    checker = (fl[:, 0] + fl[:, 1] + fl[:, 2]) % 2.0
    stripes = np.floor(c[:, 0] + 1.8 * n2) % 2.0
    pattern = np.where(mt.checker[material], checker, stripes)
    spot = np.clip((blobs - 0.68) * 25.0, 0.0, 1.0) - np.clip((0.3 - blobs) * 25.0, 0.0, 1.0)
    gain = (1.0 - mt.strength[material] * pattern) * (1.0 + 0.45 * spot)
    return np.clip(base * gain[:, None], 0.0, 1.0)
