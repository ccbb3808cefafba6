"""The two frozen encoders of Wan2.1 I2V, written here against the original checkpoints'
key layouts (no extra dependency):

- ``ClipVision``: the ViT of ``models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth``
  (keys ``visual.*``: patch_embedding, cls_embedding, pos_embedding, pre_norm,
  transformer.N.{norm1, attn.to_qkv, attn.proj, norm2, mlp.0, mlp.2}); Wan uses the tokens
  after all but the last block (257 x 1280 for 224x224 input).
- ``constant_text_context``: the umT5-XXL encoder output for AnyRecon's constant prompt " ".
  Wan's tokenizer cleans whitespace, so " " is the empty string: a single token, the end
  token (id 1). With one token, self-attention reduces to the value path (softmax over one
  key is 1; the relative position bias cannot matter), so the context is exact from the
  token embedding, the per-block norm/v/o/gated-GELU FFN weights and the final norm.
  It is computed once and cached; the DiT pads it with zeros to 512 tokens.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
T5_END_TOKEN = 1
TEXT_TOKENS = 512


def random_clip_visual_state(dim: int, layers: int, patch: int, size: int, std: float = 0.02,
                             generator: torch.Generator | None = None, device=None) -> dict:
    """Random weights in the original Wan2.1 open-clip key layout (``visual.*``: patch embedding
    [dim,3,patch,patch], class and position embeddings for (size/patch)^2 + 1 tokens, ``layers``
    pre-norm blocks with fused qkv and a 4x MLP), for tests (tiny) and timing (full size:
    dim 1280, 32 layers, patch 14, size 224). Values are N(0, std^2); norm weights 1 + N(0, std^2)."""
    r = lambda *s: torch.randn(*s, generator=generator, device=device) * std
    n = (size // patch) ** 2
    sd = {"visual.patch_embedding.weight": r(dim, 3, patch, patch), "visual.cls_embedding": r(1, 1, dim),
          "visual.pos_embedding": r(1, n + 1, dim), "visual.pre_norm.weight": 1 + r(dim),
          "visual.pre_norm.bias": r(dim)}
    for i in range(layers):
        p = f"visual.transformer.{i}."
        sd.update({p + "norm1.weight": 1 + r(dim), p + "norm1.bias": r(dim), p + "attn.to_qkv.weight": r(3 * dim, dim),
                   p + "attn.to_qkv.bias": r(3 * dim), p + "attn.proj.weight": r(dim, dim), p + "attn.proj.bias": r(dim),
                   p + "norm2.weight": 1 + r(dim), p + "norm2.bias": r(dim), p + "mlp.0.weight": r(4 * dim, dim),
                   p + "mlp.0.bias": r(4 * dim), p + "mlp.2.weight": r(dim, 4 * dim), p + "mlp.2.bias": r(dim)})
    return sd


class ClipVision:
    """Features [B, 1 + (S/p)^2, D] of images [B,3,H,W] in [0,1] (resized to S x S)."""

    def __init__(self, sd: dict, head_dim: int = 80):
        sd = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
        if "patch_embedding.weight" not in sd:
            raise ValueError("CLIP checkpoint has no visual.patch_embedding.weight (not the Wan2.1 open-clip file?)")
        self.w = dict(sd)
        pe = sd["patch_embedding.weight"]
        self.dim, self.patch = pe.shape[0], pe.shape[-1]
        n = sd["pos_embedding"].shape[1] - 1
        self.size = int(round(math.sqrt(n))) * self.patch
        self.heads = max(1, self.dim // head_dim)
        self.layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("transformer."))

    def to(self, device=None, dtype=None) -> ClipVision:
        self.w = {k: v.to(device=device, dtype=dtype) for k, v in self.w.items()}
        return self

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        w = self.w
        dtype = w["patch_embedding.weight"].dtype
        x = F.interpolate(images.float(), size=(self.size, self.size), mode="bicubic", align_corners=False)
        mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
        x = ((x - mean) / std).to(dtype)
        x = F.conv2d(x, w["patch_embedding.weight"], w.get("patch_embedding.bias"), stride=self.patch)
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([w["cls_embedding"].expand(x.shape[0], -1, -1).to(x.dtype), x], 1) + w["pos_embedding"]
        if "pre_norm.weight" in w:
            x = F.layer_norm(x, (self.dim,), w["pre_norm.weight"], w["pre_norm.bias"])
        b, n, d = x.shape
        for i in range(self.layers - 1):            # all but the last block (Wan: use_31_block)
            p = f"transformer.{i}."
            h = F.layer_norm(x, (d,), w[p + "norm1.weight"], w[p + "norm1.bias"])
            q, k, v = F.linear(h, w[p + "attn.to_qkv.weight"], w[p + "attn.to_qkv.bias"]).chunk(3, -1)
            q, k, v = (t.view(b, n, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
            x = x + F.linear(a, w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
            h = F.layer_norm(x, (d,), w[p + "norm2.weight"], w[p + "norm2.bias"])
            h = F.linear(F.gelu(F.linear(h, w[p + "mlp.0.weight"], w[p + "mlp.0.bias"])),
                         w[p + "mlp.2.weight"], w[p + "mlp.2.bias"])
            x = x + h
        return x


def _rms(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight.float()


@torch.no_grad()
def constant_text_context(t5_sd: dict) -> torch.Tensor:
    """[1, D] float32: umT5 encoder output for the single end token (the cleaned prompt " ")."""
    if "token_embedding.weight" not in t5_sd:
        raise ValueError("T5 checkpoint has no token_embedding.weight (not the Wan2.1 umT5 encoder file?)")
    x = t5_sd["token_embedding.weight"][T5_END_TOKEN].float()[None]
    layers = 1 + max(int(k.split(".")[1]) for k in t5_sd if k.startswith("blocks."))
    for i in range(layers):
        p = f"blocks.{i}."
        h = _rms(x, t5_sd[p + "norm1.weight"])
        x = x + F.linear(F.linear(h, t5_sd[p + "attn.v.weight"].float()), t5_sd[p + "attn.o.weight"].float())
        h = _rms(x, t5_sd[p + "norm2.weight"])
        gate = F.gelu(F.linear(h, t5_sd[p + "ffn.gate.0.weight"].float()), approximate="tanh")
        x = x + F.linear(F.linear(h, t5_sd[p + "ffn.fc1.weight"].float()) * gate, t5_sd[p + "ffn.fc2.weight"].float())
    return _rms(x, t5_sd["norm.weight"])


def pad_text_context(context: torch.Tensor, tokens: int = TEXT_TOKENS) -> torch.Tensor:
    """[L,D] -> [1, tokens, D], zeros after the L real tokens (as Wan and diffusers do)."""
    out = context.new_zeros(1, tokens, context.shape[-1])
    out[0, :context.shape[0]] = context
    return out
