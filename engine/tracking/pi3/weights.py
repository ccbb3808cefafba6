"""Where the Pi3 checkpoint is looked for, its license, and strict loading in the published
key layout (never a download, never a pickle).

Layout under the models folder (``$ANYRECON_MODELS``, ``--models`` or the studio's setting)::

    <models>/Pi3/model.safetensors      (the file published as yyfz233/Pi3 model.safetensors)

Loading consumes every key of the file: a key the network lacks, a key the file lacks or a
shape that differs is a ValueError naming the file and the keys. The network's widths and
depths are read from the tensor shapes (so a small test model loads through the same code);
attention heads are 64 wide except in the decoder, whose q/k norm gives its head width.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from engine.tracking.pi3.network import Pi3, Pi3Config

PI3_DIR = "Pi3"
PI3_FILE = "model.safetensors"
PI3_LICENSE = ("CC BY-NC 4.0 (weights: non-commercial research and education only); network code "
               "BSD-3-Clause (yyfz/Pi3), reimplemented here")
PI3_SOURCE = "yyfz233/Pi3 on Hugging Face (file model.safetensors)"
OPTIONAL_KEYS = ("image_mean", "image_std")   # constant buffers: used when the file has them
HEAD_WIDTH = 64


@dataclass(frozen=True)
class Pi3Files:
    """root: the models folder; path: where the checkpoint must be; problem: None when it is
    there and its header matches the network, else what is wrong (missing, wrong keys)."""

    root: Path
    path: Path
    problem: str | None

    @property
    def ready(self) -> bool:
        return self.problem is None

    @property
    def label(self) -> str:
        return f"{PI3_DIR}/{PI3_FILE}"


def checkpoint_path(root: Path | str) -> Path:
    return Path(root) / PI3_DIR / PI3_FILE


def discover(root: Path | str, check_keys: bool = True) -> Pi3Files:
    """Is ``<root>/Pi3/model.safetensors`` there (and, with ``check_keys``, does its header
    hold the Pi3 keys)? Reads the header only, not the tensors."""
    path = checkpoint_path(root)
    if not path.is_file():
        return Pi3Files(Path(root), path, f"missing {path} (the Pi3 checkpoint model.safetensors; "
                                          "nothing is downloaded: copy it there)")
    if not check_keys:
        return Pi3Files(Path(root), path, None)
    try:
        check_file(path)
    except ValueError as exc:
        return Pi3Files(Path(root), path, str(exc))
    return Pi3Files(Path(root), path, None)


def check_file(path: Path) -> Pi3Config:
    """The configuration of the checkpoint at ``path`` after checking every key and shape
    against the network built on the meta device (nothing allocated); ValueError if any differ."""
    import torch

    shapes = header_shapes(path)
    cfg = config_from_shapes(shapes, path)
    with torch.device("meta"):
        check_keys(Pi3(cfg), shapes, path)
    return cfg


def header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """{key: shape} from a safetensors header (no tensor data read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:   # not a safetensors file / truncated
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from exc


def _count(shapes, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in shapes if (m := rx.match(k))})


def config_from_shapes(shapes: dict[str, tuple[int, ...]], path: Path | str = "checkpoint") -> Pi3Config:
    """The network configuration these tensor shapes describe (ValueError naming the first
    key a Pi3 checkpoint must have and this one lacks)."""
    need = ("encoder.cls_token", "encoder.pos_embed", "encoder.register_tokens", "register_token",
            "decoder.0.attn.q_norm.weight", "point_decoder.projects.weight", "point_decoder.linear_out.weight",
            "camera_decoder.linear_out.weight")
    lacking = [k for k in need if k not in shapes]
    if lacking:
        raise ValueError(f"{path}: not a Pi3 checkpoint in the published key layout: no key "
                         f"{', '.join(lacking)} ({len(shapes)} keys, e.g. {', '.join(sorted(shapes)[:3])})")
    enc_dim = shapes["encoder.cls_token"][-1]
    dec_dim = shapes["register_token"][-1]
    head_dim = shapes["point_decoder.projects.weight"][0]
    grid = round((shapes["encoder.pos_embed"][1] - 1) ** 0.5)
    return Pi3Config(
        enc_dim=enc_dim, enc_depth=_count(shapes, r"encoder\.blocks\.(\d+)\."),
        enc_heads=max(1, enc_dim // HEAD_WIDTH), enc_registers=shapes["encoder.register_tokens"][1],
        pos_grid=grid, dec_dim=dec_dim, dec_depth=_count(shapes, r"decoder\.(\d+)\."),
        dec_heads=dec_dim // shapes["decoder.0.attn.q_norm.weight"][0], registers=shapes["register_token"][2],
        head_dim=head_dim, head_depth=_count(shapes, r"point_decoder\.blocks\.(\d+)\."),
        head_heads=max(1, head_dim // HEAD_WIDTH), point_out=shapes["point_decoder.linear_out.weight"][0],
        cam_dim=shapes["camera_decoder.linear_out.weight"][0])


def check_keys(model: Pi3, shapes: dict[str, tuple[int, ...]], path: Path | str) -> None:
    """ValueError naming ``path`` unless the file's keys and shapes are exactly the network's
    (the constant buffers :data:`OPTIONAL_KEYS` may be absent)."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(k for k in want if k not in shapes and k not in OPTIONAL_KEYS)
    unexpected = sorted(k for k in shapes if k not in want)
    wrong = sorted(k for k in shapes if k in want and shapes[k] != want[k])
    problems = []
    if missing:
        problems.append(f"{len(missing)} key(s) missing: {', '.join(missing[:6])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:6])}")
    if wrong:
        problems.append("shape mismatch: " + ", ".join(f"{k} {shapes[k]} != {want[k]}" for k in wrong[:4]))
    if problems:
        raise ValueError(f"{path}: does not match the Pi3 network ({'; '.join(problems)})")


def load_pi3(path: Path | str, device="cpu", dtype=None) -> Pi3:
    """The Pi3 network with the weights of ``path`` (safetensors only), in eval mode on
    ``device`` (``dtype``: e.g. torch.bfloat16 on CUDA; None keeps the file's). Every key of
    the file is consumed; any mismatch raises ValueError naming the file and the keys."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Pi3 checkpoint not found: {path} (nothing is downloaded; copy "
                                f"{PI3_FILE} from {PI3_SOURCE} there)")
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: the Pi3 checkpoint must be a .safetensors file (never a pickle)")
    cfg = check_file(path)
    with torch.device("meta"):
        model = Pi3(cfg)
    sd = load_file(str(path), device="cpu")
    for k in OPTIONAL_KEYS:
        if k not in sd:
            sd[k] = _default_buffer(k)
    model.load_state_dict(sd, strict=True, assign=True)
    if dtype is not None:
        model = model.to(dtype)
    for k in OPTIONAL_KEYS:   # the normalisation constants stay float32
        setattr(model, k, getattr(model, k).float())
    return model.to(device).eval()


def _default_buffer(key: str):
    import torch

    from engine.tracking.pi3.network import IMAGENET_MEAN, IMAGENET_STD

    vals = IMAGENET_MEAN if key == "image_mean" else IMAGENET_STD
    return torch.tensor(vals).view(1, 3, 1, 1)
