"""A minimal glTF 2.0 binary (GLB) builder and parser: buffers, accessors, nodes, meshes,
cameras and animations, enough for camera paths with an optional mesh.

Conventions of the format (Khronos glTF 2.0 specification): +Y up, meters, right-handed;
cameras look down their local -Z with +Y up; node ``rotation`` is a unit quaternion
**xyzw**; animation times in seconds; a GLB is a 12-byte header, a JSON chunk padded with
spaces and a BIN chunk padded with zeros, every chunk 4-byte aligned.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GLB_MAGIC, JSON_CHUNK, BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942
FLOAT, UNSIGNED_INT, UNSIGNED_BYTE = 5126, 5125, 5121
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
_NP = {FLOAT: np.float32, UNSIGNED_INT: np.uint32, UNSIGNED_BYTE: np.uint8}
_WIDTH = {v: k for k, v in _TYPES.items()}


@dataclass
class GltfBuilder:
    """Accumulates the JSON document and the binary buffer of one GLB."""

    doc: dict = field(default_factory=lambda: {"asset": {"version": "2.0", "generator": "AnyRecon Studio"},
                                               "scene": 0, "scenes": [{"nodes": []}], "nodes": [],
                                               "buffers": [], "bufferViews": [], "accessors": []})
    blob: bytearray = field(default_factory=bytearray)

    def accessor(self, data: np.ndarray, component: int = FLOAT, target: int | None = None,
                 min_max: bool = False, normalized: bool = False) -> int:
        """Append ``data`` [N] or [N,C] to the buffer; returns the accessor index."""
        arr = np.ascontiguousarray(np.asarray(data).astype(_NP[component]))
        width = 1 if arr.ndim == 1 else arr.shape[1]
        while len(self.blob) % 4:
            self.blob.append(0)
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": arr.nbytes}
        if target is not None:
            view["target"] = target
        self.blob += arr.tobytes()
        self.doc["bufferViews"].append(view)
        acc = {"bufferView": len(self.doc["bufferViews"]) - 1, "componentType": component,
               "count": int(arr.shape[0]), "type": _TYPES[width]}
        if normalized:
            acc["normalized"] = True
        if min_max:
            flat = arr.reshape(arr.shape[0], -1)
            acc["min"] = flat.min(0).tolist()
            acc["max"] = flat.max(0).tolist()
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def add(self, kind: str, item: dict) -> int:
        self.doc.setdefault(kind, []).append(item)
        return len(self.doc[kind]) - 1

    def add_root_node(self, node: dict) -> int:
        idx = self.add("nodes", node)
        self.doc["scenes"][0]["nodes"].append(idx)
        return idx

    def use_extension(self, name: str) -> None:
        used = self.doc.setdefault("extensionsUsed", [])
        if name not in used:
            used.append(name)

    def glb_bytes(self) -> bytes:
        while len(self.blob) % 4:
            self.blob.append(0)
        self.doc["buffers"] = [{"byteLength": len(self.blob)}]
        js = json.dumps(self.doc, separators=(",", ":")).encode()
        js += b" " * (-len(js) % 4)
        total = 12 + 8 + len(js) + 8 + len(self.blob)
        return (struct.pack("<III", GLB_MAGIC, 2, total) + struct.pack("<II", len(js), JSON_CHUNK) + js
                + struct.pack("<II", len(self.blob), BIN_CHUNK) + bytes(self.blob))


@dataclass(frozen=True)
class GltfDocument:
    """A parsed GLB: the JSON document and its binary chunk."""

    doc: dict
    blob: bytes

    def accessor(self, index: int) -> np.ndarray:
        acc = self.doc["accessors"][index]
        view = self.doc["bufferViews"][acc["bufferView"]]
        width = _WIDTH[acc["type"]]
        dtype = np.dtype(_NP[acc["componentType"]]).newbyteorder("<")
        offset = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        arr = np.frombuffer(self.blob, dtype, acc["count"] * width, offset)
        return arr.reshape(acc["count"], width) if width > 1 else arr.copy()


def read_glb(path: str | Path) -> GltfDocument:
    """Parse a GLB file (JSON chunk + optional BIN chunk)."""
    raw = Path(path).read_bytes()
    magic, version, total = struct.unpack_from("<III", raw)
    if magic != GLB_MAGIC or version != 2 or total != len(raw):
        raise ValueError(f"{path}: not a glTF 2.0 binary (GLB) file")
    length, kind = struct.unpack_from("<II", raw, 12)
    if kind != JSON_CHUNK:
        raise ValueError(f"{path}: the first GLB chunk is not JSON")
    doc = json.loads(raw[20:20 + length])
    pos, blob = 20 + length, b""
    if pos < len(raw):
        blen, bkind = struct.unpack_from("<II", raw, pos)
        if bkind == BIN_CHUNK:
            blob = raw[pos + 8:pos + 8 + blen]
    return GltfDocument(doc, blob)
