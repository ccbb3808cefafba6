"""The Pi3 network (Wang et al. 2025, "pi^3: Permutation-Equivariant Visual Geometry Learning"),
written for this project from the facts of the public code (github yyfz/Pi3, BSD-3 code; the
weights are CC BY-NC 4.0), with module names chosen so that ``state_dict()`` matches the
published ``model.safetensors`` key for key (e.g. ``encoder.blocks.3.attn.qkv.weight``,
``decoder.12.attn.q_norm.weight``, ``camera_head.fc_rot.bias``).

Architecture (full size, :meth:`Pi3Config.full`):
  encoder         DINOv2 ViT-L/14 with 4 registers (24 blocks, 1024 wide, LayerScale,
                  bicubic antialiased position-embedding interpolation), patch tokens out
  decoder         36 blocks 1024 wide; even blocks attend within a frame, odd blocks across
                  all frames (2D RoPE with base 100 on patch positions + 1, five register
                  tokens at position 0, LayerNorm on q and k); the last two blocks' outputs
                  are concatenated (2048 wide)
  point/conf/camera decoders   5 frame-wise RoPE blocks each (1024 wide, no q/k norm)
  point_head      linear -> 14x14x3 per patch (pixel shuffle): (x/z, y/z, log z)
  conf_head       linear -> 14x14x1 per patch: confidence logits
  camera_head     two residual MLP blocks, mean over patches, MLP, 9D rotation (SVD
                  orthogonalised) + translation: ``world_from_cam`` (OpenCV axes) in the
                  frame of the chunk's prediction, up to one scale shared with the points

Input: images [B,N,3,H,W] RGB in [0,1], H and W multiples of 14 (ImageNet normalisation is
done here). Output: :class:`Pi3Output`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 14
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Pi3Config:
    """Widths / depths / heads of every part (the published model is :meth:`full`)."""

    enc_dim: int = 1024
    enc_depth: int = 24
    enc_heads: int = 16
    enc_registers: int = 4
    pos_grid: int = 37          # encoder position embeddings: pos_grid^2 patches + 1 class token
    dec_dim: int = 1024
    dec_depth: int = 36
    dec_heads: int = 16
    registers: int = 5          # decoder register tokens per frame
    head_dim: int = 1024        # width of the point / conf / camera decoders
    head_depth: int = 5
    head_heads: int = 16
    point_out: int = 1024       # point / conf decoder output width (their linear heads' input)
    cam_dim: int = 512
    rope_freq: float = 100.0

    @staticmethod
    def full() -> "Pi3Config":
        return Pi3Config()


def rope_tables(pos: torch.Tensor, head_dim: int, freq: float, dtype) -> tuple[torch.Tensor, ...]:
    """cos/sin tables of the 2D rotary embedding for token positions ``pos`` [B,T,2] (y, x):
    (cos_y, sin_y, cos_x, sin_x), each [B,1,T,head_dim/2]. Inverse frequencies
    ``freq ** (-2k / (head_dim/2))``, angles in float32."""
    d = head_dim // 2
    inv = 1.0 / (freq ** (torch.arange(0, d, 2, device=pos.device, dtype=torch.float32) / d))
    out = []
    for p in (pos[..., 0], pos[..., 1]):
        ang = p.to(torch.float32)[..., None] * inv
        ang = torch.cat([ang, ang], dim=-1)[:, None]
        out += [ang.cos().to(dtype), ang.sin().to(dtype)]
    return tuple(out)


def apply_rope(x: torch.Tensor, tables: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """x [B,heads,T,D]: the first half of D rotates with y, the second with x; each half
    pairs channel i with i + D/4 (rotate-half)."""
    cy, sy, cx, sx = tables
    out = []
    for half, cos, sin in zip(x.chunk(2, dim=-1), (cy, cx), (sy, sx)):
        h1, h2 = half.chunk(2, dim=-1)
        out.append(half * cos + torch.cat([-h2, h1], dim=-1) * sin)
    return torch.cat(out, dim=-1)


def _global_tables(tables, b: int, n: int):
    """Frame-wise tables [B*N,1,T,d] -> [B,1,N*T,d] for the blocks that attend across frames."""
    return tuple(t.reshape(b, 1, -1, t.shape[-1]) for t in tables)


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Attention(nn.Module):
    """Self-attention; with ``qk_norm`` a LayerNorm (eps 1e-5) over each head's q and k;
    2D RoPE on q and k when :func:`rope_tables` are given."""

    def __init__(self, dim: int, heads: int, qk_norm: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        if qk_norm:
            self.q_norm = nn.LayerNorm(dim // heads)
            self.k_norm = nn.LayerNorm(dim // heads)
        self.qk_norm = qk_norm

    def forward(self, x, rope=None):
        b, t, c = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if self.qk_norm:
            q, k = self.q_norm(q).to(v.dtype), self.k_norm(k).to(v.dtype)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6), LayerScale when ``layer_scale``."""

    def __init__(self, dim: int, heads: int, layer_scale: bool, qk_norm: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qk_norm)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        if layer_scale:
            self.ls1, self.ls2 = LayerScale(dim), LayerScale(dim)
        else:
            self.ls1 = self.ls2 = nn.Identity()

    def forward(self, x, rope=None):
        x = x + self.ls1(self.attn(self.norm1(x), rope))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH, stride=PATCH)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Encoder(nn.Module):
    """DINOv2 with registers; returns the normalised patch tokens [B, h*w, dim]."""

    def __init__(self, cfg: Pi3Config) -> None:
        super().__init__()
        d = cfg.enc_dim
        self.patch_embed = PatchEmbed(d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.pos_grid ** 2 + 1, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.enc_registers, d))
        self.blocks = nn.ModuleList(Block(d, cfg.enc_heads, layer_scale=True) for _ in range(cfg.enc_depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.num_registers = cfg.enc_registers

    def position_embedding(self, h: int, w: int, dtype) -> torch.Tensor:
        """[1, 1 + h*w, dim]: the class token's, then the patch grid resized bicubically
        (antialiased) from the trained square grid to h x w patches."""
        pe = self.pos_embed.float()
        m = int(round((pe.shape[1] - 1) ** 0.5))
        if (h, w) == (m, m):
            return self.pos_embed.to(dtype)
        grid = pe[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True)
        grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)
        return torch.cat([pe[:, :1], grid], dim=1).to(dtype)

    def forward(self, x):
        b, _, hh, ww = x.shape
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(b, -1, -1).to(t.dtype), t], dim=1)
        t = t + self.position_embedding(hh // PATCH, ww // PATCH, t.dtype)
        t = torch.cat([t[:, :1], self.register_tokens.expand(b, -1, -1).to(t.dtype), t[:, 1:]], dim=1)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)[:, 1 + self.num_registers:]


class HeadDecoder(nn.Module):
    """Linear in, frame-wise RoPE blocks, linear out (their TransformerDecoder)."""

    def __init__(self, in_dim: int, dim: int, depth: int, heads: int, out_dim: int) -> None:
        super().__init__()
        self.projects = nn.Linear(in_dim, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, layer_scale=False) for _ in range(depth))
        self.heads = heads
        self.linear_out = nn.Linear(dim, out_dim)

    def forward(self, x, pos, freq: float):
        x = self.projects(x)
        rope = rope_tables(pos, x.shape[-1] // self.heads, freq, x.dtype)
        for blk in self.blocks:
            x = blk(x, rope)
        return self.linear_out(x)


class PixelHead(nn.Module):
    """Linear per patch token -> ``out`` channels per pixel of its 14x14 patch."""

    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, out * PATCH * PATCH)

    def forward(self, tokens, h: int, w: int):
        """tokens [B, h*w, dim] -> [B, 14h, 14w, out] float32."""
        return _head32(self, tokens, h, w)


class ResBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.res_conv1 = nn.Linear(dim, dim)
        self.res_conv2 = nn.Linear(dim, dim)
        self.res_conv3 = nn.Linear(dim, dim)

    def forward(self, x):
        return x + F.relu(self.res_conv3(F.relu(self.res_conv2(F.relu(self.res_conv1(x))))))


def rotation_from_9d(m: torch.Tensor) -> torch.Tensor:
    """[N,9] -> [N,3,3] rotations: rows L2-normalised, then the nearest rotation (SVD, with
    the reflection fixed) to that matrix, as their camera head does."""
    m = F.normalize(m.reshape(-1, 3, 3), dim=-1)
    u, _, vh = torch.linalg.svd(m)
    det = torch.det(u @ vh)
    fix = torch.ones_like(u[:, 0])
    fix[:, 2] = det
    return (u * fix[:, None, :]) @ vh


class CameraHead(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.res_conv = nn.ModuleList(ResBlock(dim) for _ in range(2))
        self.more_mlps = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        self.fc_t = nn.Linear(dim, 3)
        self.fc_rot = nn.Linear(dim, 9)

    def forward(self, tokens):
        """tokens [B, T, dim] patch tokens of B frames -> world_from_cam [B,4,4] float32."""
        return _camera32(self, tokens)


@dataclass
class Pi3Output:
    """world_from_cam [B,N,4,4] (OpenCV axes; the prediction's own world frame and scale);
    local_points [B,N,H,W,3] camera frame (OpenCV axes), z = depth; conf_logits [B,N,H,W]
    (sigmoid -> confidence in [0,1]). All float32."""

    world_from_cam: torch.Tensor
    local_points: torch.Tensor
    conf_logits: torch.Tensor


class Pi3(nn.Module):
    def __init__(self, cfg: Pi3Config = Pi3Config()) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = nn.ModuleList(Block(cfg.dec_dim, cfg.dec_heads, layer_scale=True, qk_norm=True)
                                     for _ in range(cfg.dec_depth))
        self.register_token = nn.Parameter(torch.zeros(1, 1, cfg.registers, cfg.dec_dim))
        two = 2 * cfg.dec_dim
        self.point_decoder = HeadDecoder(two, cfg.head_dim, cfg.head_depth, cfg.head_heads, cfg.point_out)
        self.point_head = PixelHead(cfg.point_out, 3)
        self.conf_decoder = HeadDecoder(two, cfg.head_dim, cfg.head_depth, cfg.head_heads, cfg.point_out)
        self.conf_head = PixelHead(cfg.point_out, 1)
        self.camera_decoder = HeadDecoder(two, cfg.head_dim, cfg.head_depth, cfg.head_heads, cfg.cam_dim)
        self.camera_head = CameraHead(cfg.cam_dim)
        self.register_buffer("image_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("image_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def positions(self, frames: int, h: int, w: int, device) -> torch.Tensor:
        """[frames, R + h*w, 2] (y, x): register tokens at 0, patch (i, j) at (i + 1, j + 1)."""
        yy, xx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        patches = torch.stack([yy, xx], dim=-1).reshape(1, h * w, 2) + 1
        special = torch.zeros(1, self.cfg.registers, 2, dtype=patches.dtype, device=device)
        return torch.cat([special, patches], dim=1).expand(frames, -1, -1)

    def decode(self, tokens, b: int, n: int, pos):
        """Alternating frame / global attention; [B*N, R + h*w, 2*dec_dim] out."""
        x = torch.cat([self.register_token.expand(b, n, -1, -1).reshape(b * n, self.cfg.registers, -1)
                       .to(tokens.dtype), tokens], dim=1)
        t = x.shape[1]
        frame = rope_tables(pos, self.cfg.dec_dim // self.cfg.dec_heads, self.cfg.rope_freq, x.dtype)
        every = _global_tables(frame, b, n)
        outs = []
        for i, blk in enumerate(self.decoder):
            if i % 2 == 0:
                x = blk(x.reshape(b * n, t, -1), frame)
            else:
                x = blk(x.reshape(b, n * t, -1), every)
            if i >= len(self.decoder) - 2:
                outs.append(x.reshape(b * n, t, -1))
        return torch.cat(outs, dim=-1)

    def forward(self, images: torch.Tensor) -> Pi3Output:
        """images [B,N,3,H,W] RGB in [0,1]; H, W multiples of 14."""
        b, n, _, hh, ww = images.shape
        h, w = hh // PATCH, ww // PATCH
        x = ((images.reshape(b * n, 3, hh, ww) - self.image_mean) / self.image_std)
        tokens = self.encoder(x.to(self.encoder.patch_embed.proj.weight.dtype))
        pos = self.positions(b * n, h, w, images.device)
        hidden = self.decode(tokens, b, n, pos)
        r = self.cfg.registers
        f = self.cfg.rope_freq
        pts = self.point_decoder(hidden, pos, f)[:, r:].float()
        conf = self.conf_decoder(hidden, pos, f)[:, r:].float()
        cam = self.camera_decoder(hidden, pos, f)[:, r:].float()
        with torch.autocast(device_type=images.device.type, enabled=False):
            raw = self.point_head(pts, h, w)
            xy, z = raw[..., :2], torch.exp(raw[..., 2:])
            local = torch.cat([xy * z, z], dim=-1).reshape(b, n, hh, ww, 3)
            logits = self.conf_head(conf, h, w).reshape(b, n, hh, ww)
            wfc = self.camera_head(cam).reshape(b, n, 4, 4)
        return Pi3Output(wfc, local, logits)


def _head32(head: PixelHead, tokens, h, w):
    """A pixel head evaluated in float32 whatever the weights' dtype (as the original does)."""
    feat = F.linear(tokens, head.proj.weight.float(), head.proj.bias.float())
    feat = feat.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)
    return F.pixel_shuffle(feat, PATCH).permute(0, 2, 3, 1)


def _camera32(head: CameraHead, tokens):
    """The camera head in float32 (weights cast on the fly)."""
    x = tokens
    for blk in head.res_conv:
        x = x + F.relu(_lin(blk.res_conv3, F.relu(_lin(blk.res_conv2, F.relu(_lin(blk.res_conv1, x))))))
    x = x.mean(dim=1)
    x = F.relu(_lin(head.more_mlps[2], F.relu(_lin(head.more_mlps[0], x))))
    t, r = _lin(head.fc_t, x), _lin(head.fc_rot, x)
    out = torch.zeros(x.shape[0], 4, 4, device=x.device)
    out[:, :3, :3] = rotation_from_9d(r)
    out[:, :3, 3] = t
    out[:, 3, 3] = 1.0
    return out


def _lin(layer: nn.Linear, x):
    return F.linear(x, layer.weight.float(), layer.bias.float())
