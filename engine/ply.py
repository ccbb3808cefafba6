"""A small binary PLY writer and reader (no plyfile dependency), shared by the point-cloud
exporters (engine.export) and the splat files (engine.splat.files).

Writes ``binary_little_endian 1.0`` with one ``vertex`` element built from a numpy
structured array (property order = field order) and an optional ``face`` element
(``property list uchar int vertex_indices``). Reads binary little/big-endian and ascii
files with scalar properties and list properties (faces), enough for our own files and
for the usual outputs of other tools.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: PLY scalar type names -> numpy dtype codes (both naming schemes of the spec).
PLY_TYPES = {"char": "i1", "uchar": "u1", "short": "i2", "ushort": "u2", "int": "i4", "uint": "u4",
             "float": "f4", "double": "f8", "int8": "i1", "uint8": "u1", "int16": "i2",
             "uint16": "u2", "int32": "i4", "uint32": "u4", "float32": "f4", "float64": "f8"}
_NAME_OF = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
            "f4": "float", "f8": "double"}


class PlyFormatError(ValueError):
    """A file that is not a PLY this reader understands."""


def ply_bytes(vertices: np.ndarray, faces: np.ndarray | None = None, comments: tuple[str, ...] = ()) -> bytes:
    """The bytes of a binary little-endian PLY.

    vertices  structured array [N] (each field a scalar property, written in field order)
    faces     [F,3] int vertex indices, or None
    """
    lines = ["ply", "format binary_little_endian 1.0"]
    lines += [f"comment {c}" for c in comments]
    lines.append(f"element vertex {len(vertices)}")
    little = []
    for name in vertices.dtype.names:
        code = vertices.dtype[name].str[1:]
        lines.append(f"property {_NAME_OF[code]} {name}")
        little.append((name, "<" + code))
    body = [np.ascontiguousarray(vertices.astype(np.dtype(little))).tobytes()]
    if faces is not None:
        faces = np.asarray(faces, dtype=np.int32).reshape(-1, 3)
        lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
        rec = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
        rec["n"], rec["idx"] = 3, faces
        body.append(rec.tobytes())
    header = ("\n".join(lines) + "\nend_header\n").encode("ascii")
    return header + b"".join(body)


@dataclass
class PlyElement:
    name: str
    count: int
    properties: list[tuple[str, str]] = field(default_factory=list)  # (name, ply type or "list:T:T")


@dataclass
class PlyData:
    """A parsed PLY: header facts and one array per element.

    format      "binary_little_endian", "binary_big_endian" or "ascii"
    comments    header comment lines
    elements    header element declarations in file order (property order preserved)
    data        element name -> structured array (scalar properties) or, for a list
                property, object array of index arrays under data[name + "." + prop]
    """

    format: str
    comments: list[str]
    elements: list[PlyElement]
    data: dict[str, np.ndarray]

    def element(self, name: str) -> PlyElement:
        for e in self.elements:
            if e.name == name:
                return e
        raise KeyError(name)

    def property_names(self, element: str = "vertex") -> list[str]:
        return [p for p, _ in self.element(element).properties]


def _parse_header(raw: bytes, where: str) -> tuple[str, list[str], list[PlyElement], int]:
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise PlyFormatError(f"{where}: not a PLY file")
    stop = raw.index(b"\n", end) + 1
    fmt, comments, elements = "", [], []
    for line in raw[:stop].decode("ascii", "replace").splitlines()[1:-1]:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "format":
            fmt = parts[1]
        elif parts[0] == "comment":
            comments.append(line[len("comment "):])
        elif parts[0] == "element":
            elements.append(PlyElement(parts[1], int(parts[2])))
        elif parts[0] == "property" and elements:
            if parts[1] == "list":
                elements[-1].properties.append((parts[4], f"list:{parts[2]}:{parts[3]}"))
            else:
                elements[-1].properties.append((parts[2], parts[1]))
    if fmt not in ("binary_little_endian", "binary_big_endian", "ascii"):
        raise PlyFormatError(f"{where}: unknown PLY format {fmt!r}")
    return fmt, comments, elements, stop


def _read_binary_element(buf: bytes, pos: int, el: PlyElement, endian: str, out: dict) -> int:
    lists = [p for p, t in el.properties if t.startswith("list:")]
    if not lists:
        dt = np.dtype([(p, endian + PLY_TYPES[t]) for p, t in el.properties])
        out[el.name] = np.frombuffer(buf, dtype=dt, count=el.count, offset=pos).copy()
        return pos + dt.itemsize * el.count
    if len(el.properties) != 1:
        raise PlyFormatError(f"element {el.name}: mixed scalar and list properties are not supported")
    _, count_t, item_t = el.properties[0][1].split(":")
    ct, it = np.dtype(endian + PLY_TYPES[count_t]), np.dtype(endian + PLY_TYPES[item_t])
    items = []
    for _ in range(el.count):
        n = int(np.frombuffer(buf, ct, 1, pos)[0])
        pos += ct.itemsize
        items.append(np.frombuffer(buf, it, n, pos).astype(np.int64))
        pos += it.itemsize * n
    out[f"{el.name}.{lists[0]}"] = np.array(items + [None], dtype=object)[:-1]
    return pos


def _read_ascii(text: list[str], elements: list[PlyElement], out: dict) -> None:
    row = 0
    for el in elements:
        lines = text[row:row + el.count]
        row += el.count
        if any(t.startswith("list:") for _, t in el.properties):
            out[f"{el.name}.{el.properties[0][0]}"] = np.array(
                [np.array(l.split()[1:], dtype=np.int64) for l in lines] + [None], dtype=object)[:-1]
            continue
        dt = np.dtype([(p, PLY_TYPES[t]) for p, t in el.properties])
        vals = np.array([l.split() for l in lines], dtype=np.float64).reshape(el.count, -1)
        arr = np.empty(el.count, dtype=dt)
        for i, (p, _) in enumerate(el.properties):
            arr[p] = vals[:, i]
        out[el.name] = arr


def read_ply(path: str | Path) -> PlyData:
    """Parse a PLY file (see :class:`PlyData`)."""
    path = Path(path)
    raw = path.read_bytes()
    fmt, comments, elements, pos = _parse_header(raw, str(path))
    data: dict[str, np.ndarray] = {}
    try:
        if fmt == "ascii":
            _read_ascii(raw[pos:].decode("ascii").splitlines(), elements, data)
        else:
            endian = "<" if fmt == "binary_little_endian" else ">"
            for el in elements:
                pos = _read_binary_element(raw, pos, el, endian, data)
    except (ValueError, IndexError) as exc:
        raise PlyFormatError(f"{path}: truncated or malformed PLY body ({exc})") from exc
    return PlyData(fmt, comments, elements, data)
