"""A tiny random Pi3 checkpoint in the published key layout, written from the layout itself
(the module tree of github yyfz/Pi3 ``pi3/models/pi3.py``), not from this project's network, so
that loading it checks our key names against theirs.

Sizes: encoder 64 wide x 2 blocks (4 registers, a 4x4 position grid), decoder 64 wide x 2
blocks with 32-wide heads, head decoders 64 wide x 1 block, camera head 32 wide.
"""
from __future__ import annotations

from pathlib import Path

import torch

ENC, DEC, HEAD, CAM, QK = 64, 64, 64, 32, 32
ENC_DEPTH, DEC_DEPTH, HEAD_DEPTH, GRID, ENC_REG, DEC_REG = 2, 2, 1, 4, 4, 5


def _linear(sd, name, out_f, in_f):
    sd[f"{name}.weight"] = (out_f, in_f)
    sd[f"{name}.bias"] = (out_f,)


def _norm(sd, name, dim):
    sd[f"{name}.weight"] = (dim,)
    sd[f"{name}.bias"] = (dim,)


def _block(sd, p, dim, layer_scale, qk_norm):
    _norm(sd, f"{p}.norm1", dim)
    _linear(sd, f"{p}.attn.qkv", 3 * dim, dim)
    _linear(sd, f"{p}.attn.proj", dim, dim)
    if qk_norm:
        _norm(sd, f"{p}.attn.q_norm", QK)
        _norm(sd, f"{p}.attn.k_norm", QK)
    _norm(sd, f"{p}.norm2", dim)
    _linear(sd, f"{p}.mlp.fc1", 4 * dim, dim)
    _linear(sd, f"{p}.mlp.fc2", dim, 4 * dim)
    if layer_scale:
        sd[f"{p}.ls1.gamma"] = (dim,)
        sd[f"{p}.ls2.gamma"] = (dim,)


def layout() -> dict[str, tuple[int, ...]]:
    """{key: shape} of the tiny model in the published layout."""
    sd: dict[str, tuple[int, ...]] = {
        "encoder.cls_token": (1, 1, ENC), "encoder.pos_embed": (1, GRID * GRID + 1, ENC),
        "encoder.register_tokens": (1, ENC_REG, ENC), "encoder.patch_embed.proj.weight": (ENC, 3, 14, 14),
        "encoder.patch_embed.proj.bias": (ENC,), "register_token": (1, 1, DEC_REG, DEC),
    }
    for i in range(ENC_DEPTH):
        _block(sd, f"encoder.blocks.{i}", ENC, layer_scale=True, qk_norm=False)
    _norm(sd, "encoder.norm", ENC)
    for i in range(DEC_DEPTH):
        _block(sd, f"decoder.{i}", DEC, layer_scale=True, qk_norm=True)
    for name, out in (("point", HEAD), ("conf", HEAD), ("camera", CAM)):
        _linear(sd, f"{name}_decoder.projects", HEAD, 2 * DEC)
        for i in range(HEAD_DEPTH):
            _block(sd, f"{name}_decoder.blocks.{i}", HEAD, layer_scale=False, qk_norm=False)
        _linear(sd, f"{name}_decoder.linear_out", out, HEAD)
    _linear(sd, "point_head.proj", 3 * 14 * 14, HEAD)
    _linear(sd, "conf_head.proj", 14 * 14, HEAD)
    for j in range(2):
        for k in (1, 2, 3):
            _linear(sd, f"camera_head.res_conv.{j}.res_conv{k}", CAM, CAM)
    _linear(sd, "camera_head.more_mlps.0", CAM, CAM)
    _linear(sd, "camera_head.more_mlps.2", CAM, CAM)
    _linear(sd, "camera_head.fc_t", 3, CAM)
    _linear(sd, "camera_head.fc_rot", 9, CAM)
    return sd


def tiny_state_dict(seed: int = 0, with_buffers: bool = True) -> dict[str, torch.Tensor]:
    """Random tensors for :func:`layout` (LayerNorm weights near 1, biases small, linears
    scaled by 1/sqrt(fan-in) so activations stay O(1)); ImageNet buffers when asked."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout().items():
        t = torch.randn(shape, generator=g)
        if key.endswith(("norm1.weight", "norm2.weight", "norm.weight", "q_norm.weight", "k_norm.weight", "gamma")):
            t = 1.0 + 0.1 * t
        elif key.endswith(".bias"):
            t = 0.02 * t
        elif len(shape) >= 2 and key.endswith(".weight"):
            fan_in = 1
            for d in shape[1:]:
                fan_in *= d
            t = t / fan_in ** 0.5 * (0.05 if key.startswith("point_head") else 1.0)  # depth ~ exp(small)
        else:
            t = 0.02 * t
        out[key] = t.contiguous()
    if with_buffers:
        out["image_mean"] = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        out["image_std"] = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return out


def write_tiny_pi3(models_dir: Path, seed: int = 0, state_dict: dict | None = None) -> Path:
    """``<models_dir>/Pi3/model.safetensors`` with :func:`tiny_state_dict` (or ``state_dict``)."""
    from safetensors.torch import save_file

    path = Path(models_dir) / "Pi3" / "model.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state_dict if state_dict is not None else tiny_state_dict(seed), str(path))
    return path
