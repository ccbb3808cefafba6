"""Wan2.1 weights: LoRA merge (original key layout), conversion to diffusers' layout, a
safetensors cache of the result, and the diffusers modules built from a state dict.

Everything here imports diffusers lazily (the engine imports without it).

LoRA: PEFT keys ``[prefix.]blocks.N.<module>.lora_A[.default].weight`` (and lora_B), merged
into ``blocks.N.<module>.weight`` as ``W += B @ A`` (no alpha/rank scaling), in float32, then
cast back to W's dtype.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import torch

from engine.generate.anyrecon.files import load_state_dict

log = logging.getLogger(__name__)

_LORA_KEY = re.compile(r"(?:^|\.)(?P<module>blocks\.\d+\..+?)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")
# modules kept in float32 when the transformer runs in bf16 (as diffusers' loader does)
KEEP_FP32 = ("time_embedder", "scale_shift_table", "norm1", "norm2", "norm3")


def lora_pairs(lora_sd: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{original-layout base weight key: (A [r,in], B [out,r])}; keys that are no LoRA
    factor are ignored; an A without its B (or the reverse) raises ValueError naming it."""
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in lora_sd.items():
        m = _LORA_KEY.search(key)   # any prefix (base_model.model., pipe.dit., ...) is dropped
        if m is None:
            continue
        halves.setdefault(m["module"] + ".weight", {})[m["ab"]] = value
    broken = sorted(k for k, v in halves.items() if len(v) != 2)
    if broken:
        raise ValueError(f"LoRA file has unpaired lora_A/lora_B factors for: {', '.join(broken[:5])}")
    if not halves:
        raise ValueError("LoRA file holds no lora_A/lora_B weights (expected PEFT keys "
                         "blocks.N.<module>.lora_A[.default].weight)")
    return {k: (v["A"], v["B"]) for k, v in halves.items()}


def merge_lora(state_dict: dict, pairs: dict) -> set[str]:
    """In place: ``W += B @ A`` for every pair whose base key is in ``state_dict``.
    Returns the merged keys (a shard holds only some of them)."""
    merged = set()
    actual = {k.removeprefix("model.diffusion_model."): k for k in state_dict}
    for key, (a, b) in pairs.items():
        if key not in actual:
            continue
        w = state_dict[actual[key]]
        if tuple(w.shape) != (b.shape[0], a.shape[1]):
            raise ValueError(f"LoRA for {key}: B@A is {b.shape[0]}x{a.shape[1]}, the weight is "
                             f"{tuple(w.shape)} (a LoRA for another model?)")
        delta = b.to(torch.float32) @ a.to(torch.float32)
        state_dict[actual[key]] = (w.to(torch.float32) + delta.to(w.device)).to(w.dtype)
        merged.add(key)
    return merged


def convert_dit(state_dict: dict) -> dict:
    """Original Wan DiT keys -> diffusers ``WanTransformer3DModel`` keys (diffusers' converter)."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    return convert_wan_transformer_to_diffusers(dict(state_dict))


def convert_vae(state_dict: dict) -> dict:
    """Original ``Wan2.1_VAE.pth`` keys -> diffusers ``AutoencoderKLWan`` keys."""
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    return convert_wan_vae_to_diffusers(dict(state_dict))


def fingerprint(*paths: Path) -> str:
    """Identity of source files (name, size, mtime): the cache is rebuilt when any changes."""
    h = hashlib.sha256()
    for p in paths:
        st = Path(p).stat()
        h.update(f"{Path(p).name}:{st.st_size}:{int(st.st_mtime_ns)};".encode())
    return h.hexdigest()[:32]


def _cache_valid(path: Path, fp: str) -> bool:
    if not path.is_file():
        return False
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("anyrecon_source") == fp
    except Exception:  # noqa: BLE001 - a broken cache file is rebuilt
        return False


def _save(tensors: dict, path: Path, fp: str) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"anyrecon_source": fp})
    os.replace(tmp, path)


def cached_dit_shards(shards: list[Path], lora_path: Path, cache_dir: Path) -> list[Path]:
    """The merged + converted DiT as safetensors shards in ``cache_dir`` (built once, one
    original shard at a time so that peak memory stays one shard). Returns their paths."""
    out = [cache_dir / f"dit-merged-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    fps = [fingerprint(s, lora_path) for s in shards]
    if all(_cache_valid(o, fp) for o, fp in zip(out, fps)):
        return out
    log.info("merging the LoRA %s into %d DiT shards (once; cached in %s)", lora_path.name, len(shards), cache_dir)
    pairs = lora_pairs(load_state_dict(lora_path))
    used: set[str] = set()
    for shard, o, fp in zip(shards, out, fps):
        sd = load_state_dict(shard)
        used |= merge_lora(sd, pairs)
        _save(convert_dit(sd), o, fp)
        del sd
    unused = sorted(set(pairs) - used)
    if unused:
        for o in out:
            o.unlink(missing_ok=True)
        raise ValueError(f"{lora_path}: {len(unused)} LoRA target(s) are not in the DiT shards, e.g. "
                         f"{', '.join(unused[:3])} (a LoRA for another model?)")
    return out


def cached_vae(vae_path: Path, cache_dir: Path) -> Path:
    out = cache_dir / "vae-diffusers.safetensors"
    fp = fingerprint(vae_path)
    if not _cache_valid(out, fp):
        _save(convert_vae(load_state_dict(vae_path)), out, fp)
    return out


def load_safetensors(paths, device="cpu") -> dict:
    from safetensors.torch import load_file

    sd = {}
    for p in paths:
        sd.update(load_file(str(p), device=str(device)))
    return sd


def dit_config(sd: dict, attention_head_dim: int = 128) -> dict:
    """WanTransformer3DModel config read off a diffusers-layout state dict's shapes
    (the 14B I2V: dim 5120, 40 layers, ffn 13824, 36 input channels, image_dim 1280)."""
    pe = sd["patch_embedding.weight"]                      # [dim, in, pt, ph, pw]
    dim = pe.shape[0]
    if dim % attention_head_dim:
        raise ValueError(f"DiT width {dim} is not a multiple of the head size {attention_head_dim}")
    layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    image = sd.get("condition_embedder.image_embedder.ff.net.0.proj.weight")
    return dict(patch_size=tuple(pe.shape[2:]), num_attention_heads=dim // attention_head_dim,
                attention_head_dim=attention_head_dim, in_channels=pe.shape[1],
                out_channels=sd["proj_out.weight"].shape[0] // int(torch.tensor(pe.shape[2:]).prod()),
                text_dim=sd["condition_embedder.text_embedder.linear_1.weight"].shape[1],
                freq_dim=sd["condition_embedder.time_embedder.linear_1.weight"].shape[1],
                ffn_dim=sd["blocks.0.ffn.net.0.proj.weight"].shape[0], num_layers=layers,
                cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
                image_dim=None if image is None else image.shape[1],
                added_kv_proj_dim=dim if "blocks.0.attn2.add_k_proj.weight" in sd else None,
                rope_max_seq_len=1024)


FULL_DIT_CONFIG = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36,
                       out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40,
                       cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=1280,
                       added_kv_proj_dim=5120, rope_max_seq_len=1024)


def vae_config(sd: dict) -> dict:
    """AutoencoderKLWan config from a diffusers-layout state dict (Wan2.1: base_dim 96, z 16)."""
    return dict(base_dim=sd["encoder.conv_in.weight"].shape[0], z_dim=sd["post_quant_conv.weight"].shape[0])


def _place(model, device, dtype):
    """Move to device; bf16/fp16 except the modules diffusers keeps in float32."""
    model.to(device=device)
    if dtype != torch.float32:
        for name, p in model.named_parameters():
            keep = any(part in KEEP_FP32 for part in name.split("."))
            p.data = p.data.to(torch.float32 if keep else dtype)
    return model


def build_transformer(sd: dict | None, device, dtype, attention_head_dim: int = 128, config: dict | None = None):
    """A ``WanTransformer3DModel`` holding ``sd`` (diffusers layout), built on the meta device
    first (no random init of 14B parameters). ``sd=None``: empty weights on ``device``
    (benchmarks initialise them)."""
    from diffusers import WanTransformer3DModel
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    config = dict(config or dit_config(sd, attention_head_dim))
    with torch.device("meta"):
        model = WanTransformer3DModel(**config)
    if sd is None:                      # bf16 storage straight away (no 56 GB fp32 copy)
        _place(model, "meta", dtype).to_empty(device=device)
    else:
        missing, unexpected = model.load_state_dict(sd, strict=False, assign=True)
        if missing or unexpected:
            raise ValueError(f"DiT weights do not fit Wan2.1-I2V: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.rope = WanRotaryPosEmbed(config["attention_head_dim"], config["patch_size"], config["rope_max_seq_len"])
    return _place(model, device, dtype).eval().requires_grad_(False)


def build_vae(sd: dict, device, dtype=torch.float32):
    from diffusers import AutoencoderKLWan

    with torch.device("meta"):
        vae = AutoencoderKLWan(**vae_config(sd))
    missing, unexpected = vae.load_state_dict(sd, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(f"VAE weights do not fit Wan2.1's VAE: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return vae.to(device=device, dtype=dtype).eval().requires_grad_(False)


def describe_cache(cache_dir: Path) -> str:
    files = sorted(p.name for p in Path(cache_dir).glob("*.safetensors")) if Path(cache_dir).is_dir() else []
    return json.dumps(files)
