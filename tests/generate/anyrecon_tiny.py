"""Tiny random Wan2.1-I2V + AnyRecon weights written in the ORIGINAL key layouts (the files a
user has: DiT shards with Wan's keys, Wan2.1_VAE.pth, the open-clip ViT, the umT5 encoder,
a PEFT LoRA), plus the diffusers-layout reference tensors they were made from.

The original layout is produced by renaming diffusers keys back (``to_original_*`` below,
written independently of diffusers' converters); the tests check that diffusers' converters
map them back exactly.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from engine.generate.anyrecon import files as mf
from engine.generate.anyrecon.encoders import random_clip_visual_state

DIM, HEADS, HEAD_DIM, TEXT_DIM, IMAGE_DIM, FFN = 64, 2, 32, 32, 48, 96
LORA_RANK = 4
LORA_MODULES = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
                "cross_attn.v", "cross_attn.o", "cross_attn.k_img", "cross_attn.v_img", "ffn.0", "ffn.2")


def _randomize(model, seed: int, scale: float = 0.1) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        sd[k] = (torch.randn(v.shape, generator=g) * scale + (1.0 if k.endswith("gamma") else 0.0)).float()
    model.load_state_dict(sd)
    return sd


def tiny_dit():
    from diffusers import WanTransformer3DModel

    model = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=HEADS, attention_head_dim=HEAD_DIM,
                                  in_channels=36, out_channels=16, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=FFN,
                                  num_layers=2, image_dim=IMAGE_DIM, added_kv_proj_dim=DIM)
    return model, _randomize(model, 0, 0.05)


def tiny_vae():
    from diffusers import AutoencoderKLWan

    model = AutoencoderKLWan(base_dim=8, z_dim=16)
    return model, _randomize(model, 1, 0.05)


_DIT_BACK = [  # diffusers -> original (Wan's WanModel keys)
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("condition_embedder.image_embedder.norm1", "img_emb.proj.0"),
    ("condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"),
    ("condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"),
    ("condition_embedder.image_embedder.norm2", "img_emb.proj.4"),
    ("attn1", "self_attn"), ("attn2", "cross_attn"),
    (".to_out.0.", ".o."), (".to_q.", ".q."), (".to_k.", ".k."), (".to_v.", ".v."),
    (".add_k_proj.", ".k_img."), (".add_v_proj.", ".v_img."), (".norm_added_k.", ".norm_k_img."),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"), ("proj_out", "head.head"),
]


def to_original_dit(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        n = k
        for a, b in _DIT_BACK:
            n = n.replace(a, b)
        if n == "scale_shift_table":
            n = "head.modulation"
        n = n.replace("scale_shift_table", "modulation")
        n = re.sub(r"\.norm2\.", ".norm@.", n).replace(".norm@.", ".norm3.") if ".norm2." in n else n
        out[n] = v.clone()
    return out


def _rename_res(rest: str, table: dict) -> str:
    for a, b in table.items():
        if rest == a or rest.startswith(a + "."):
            return b + rest[len(a):]
    return rest


def to_original_vae(sd: dict) -> dict:
    res = {"norm1.gamma": "residual.0.gamma", "conv1": "residual.2", "norm2.gamma": "residual.3.gamma",
           "conv2": "residual.6", "conv_shortcut": "shortcut"}
    out = {}
    for k, v in sd.items():
        n = k
        for side in ("encoder", "decoder"):
            n = n.replace(f"{side}.conv_in.", f"{side}.conv1.").replace(f"{side}.norm_out.", f"{side}.head.0.")
            n = n.replace(f"{side}.conv_out.", f"{side}.head.2.")
            m = re.match(rf"{side}\.mid_block\.(resnets|attentions)\.(\d)\.(.*)", n)
            if m:
                idx = 1 if m[1] == "attentions" else 2 * int(m[2])
                rest = m[3]
                if m[1] == "resnets":
                    rest = _rename_res(rest, res)
                n = f"{side}.middle.{idx}.{rest}"
        m = re.match(r"encoder\.down_blocks\.(\d+)\.(.*)", n)
        if m:
            rest = m[2]
            rest = _rename_res(rest, res)
            n = f"encoder.downsamples.{m[1]}.{rest}"
        m = re.match(r"decoder\.up_blocks\.(\d+)\.(resnets\.(\d+)|upsamplers\.0)\.(.*)", n)
        if m:
            i, rest = int(m[1]), m[4]
            if m[2].startswith("resnets"):
                idx = 4 * i + int(m[3])
                rest = _rename_res(rest, res)
            else:
                idx = 4 * i + 3
            n = f"decoder.upsamples.{idx}.{rest}"
        if n.startswith("quant_conv."):
            n = "conv1." + n[len("quant_conv."):]
        if n.startswith("post_quant_conv."):
            n = "conv2." + n[len("post_quant_conv."):]
        out[n] = v.clone()
    return out


def tiny_clip(seed: int = 2, dim: int = IMAGE_DIM, patch: int = 4, size: int = 16, layers: int = 3) -> dict:
    """The original open-clip layout at toy size, with the keys the generator must ignore (post
    norm, projection head, text tower) as the real file has them."""
    g = torch.Generator().manual_seed(seed)
    sd = random_clip_visual_state(dim, layers, patch, size, std=0.1, generator=g)
    r = lambda *s: torch.randn(*s, generator=g) * 0.1
    sd.update({"visual.post_norm.weight": 1 + r(dim), "visual.post_norm.bias": r(dim), "visual.head": r(dim, 16),
               "textual.token_embedding.weight": r(10, 8)})
    return sd


def tiny_t5(seed: int = 3, dim: int = TEXT_DIM, layers: int = 2, vocab: int = 8) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2
    sd = {"token_embedding.weight": r(vocab, dim), "norm.weight": 1 + r(dim)}
    for i in range(layers):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + r(dim), p + "attn.q.weight": r(dim, dim), p + "attn.k.weight": r(dim, dim),
                   p + "attn.v.weight": r(dim, dim), p + "attn.o.weight": r(dim, dim), p + "norm2.weight": 1 + r(dim),
                   p + "ffn.gate.0.weight": r(2 * dim, dim), p + "ffn.fc1.weight": r(2 * dim, dim),
                   p + "ffn.fc2.weight": r(dim, 2 * dim), p + "pos_embedding.embedding.weight": r(32, 2)})
    return sd


def tiny_lora(original_dit: dict, seed: int = 4) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i in range(2):
        for m in LORA_MODULES:
            w = original_dit[f"blocks.{i}.{m}.weight"]
            sd[f"blocks.{i}.{m}.lora_A.default.weight"] = torch.randn(LORA_RANK, w.shape[1], generator=g) * 0.1
            sd[f"blocks.{i}.{m}.lora_B.default.weight"] = torch.randn(w.shape[0], LORA_RANK, generator=g) * 0.1
    return sd


def write_tiny_models(root: Path, with_t5: bool = True) -> dict:
    """Write every expected file under ``root``; returns the reference tensors."""
    from safetensors.torch import save_file

    wan = root / mf.WAN_DIR
    wan.mkdir(parents=True)
    (root / mf.LORA_DIR).mkdir()
    dit, dit_sd = tiny_dit()
    vae, vae_sd = tiny_vae()
    orig_dit = to_original_dit(dit_sd)
    keys = sorted(orig_dit)
    for i, name in enumerate(mf.DIT_SHARDS):           # 7 shards, as the real release
        save_file({k: orig_dit[k].contiguous() for k in keys[i::7]}, str(wan / name))
    torch.save(to_original_vae(vae_sd), wan / mf.VAE_FILE)
    clip = tiny_clip()
    torch.save(clip, wan / mf.CLIP_FILE)
    t5 = tiny_t5()
    if with_t5:
        torch.save(t5, wan / mf.T5_FILE)
    lora = tiny_lora(orig_dit)
    torch.save(lora, root / mf.LORA_DIR / mf.LORA_FILES[0])
    return {"dit": dit, "dit_sd": dit_sd, "vae": vae, "vae_sd": vae_sd, "orig_dit": orig_dit, "lora": lora,
            "clip": clip, "t5": t5}
