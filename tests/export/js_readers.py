"""Third-party readers for the exported files: PlayCanvas splat-transform and the Khronos
glTF-Validator, installed by ``.ci/run`` (npm ci of tools/js into .node/). Tests that need
them skip, with the reason, where Node or the packages are absent."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = Path(os.environ.get("ANYRECON_NODE_MODULES", ROOT / ".node" / "node_modules"))
SPLAT_TRANSFORM = NODE_MODULES / "@playcanvas" / "splat-transform" / "bin" / "cli.mjs"
VALIDATE_GLTF = ROOT / "tools" / "js" / "validate_gltf.mjs"


@lru_cache(maxsize=None)
def _node() -> str | None:
    return shutil.which("node")


@lru_cache(maxsize=None)
def _splat_transform_works() -> str | None:
    """None when it runs, else why not."""
    if _node() is None:
        return "Node.js is not installed"
    if not SPLAT_TRANSFORM.exists():
        return f"{SPLAT_TRANSFORM} is missing (run .ci/run or: npm ci in .node/, see tools/js/package.json)"
    r = subprocess.run([_node(), str(SPLAT_TRANSFORM), "--version"], capture_output=True, text=True, timeout=60)
    return None if r.returncode == 0 else f"splat-transform does not start on this Node: {r.stderr.strip()[:200]}"


def need_splat_transform() -> None:
    why = _splat_transform_works()
    if why:
        pytest.skip(why)


def splat_transform_to_ply(src: Path, dst: Path) -> dict:
    """Decode ``src`` (any format splat-transform reads) into a plain 3DGS PLY ``dst``; returns
    its ``--info json`` report of the input."""
    need_splat_transform()
    r = subprocess.run([_node(), str(SPLAT_TRANSFORM), "-q", "-w", "-g", "cpu", str(src), "--info", "json", str(dst)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"splat-transform failed on {src.name}: {r.stderr[-2000:]}"
    return json.loads(r.stdout[r.stdout.index("{"):r.stdout.rindex("}") + 1])


def gltf_validator_report(path: Path) -> dict:
    """The Khronos glTF-Validator's report on ``path``."""
    if _node() is None:
        pytest.skip("Node.js is not installed")
    if not (NODE_MODULES / "gltf-validator").exists():
        pytest.skip(f"{NODE_MODULES / 'gltf-validator'} is missing (run .ci/run)")
    r = subprocess.run([_node(), str(VALIDATE_GLTF), str(path)], capture_output=True, text=True, timeout=120,
                       cwd=NODE_MODULES.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)
