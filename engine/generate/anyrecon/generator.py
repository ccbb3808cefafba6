"""The ``anyrecon`` generator: Wan2.1-I2V-14B + the AnyRecon LoRA, conditioned on retrieved
captured views and the memory's renders, 4 flow-matching steps, per-frame VAE.

Per segment of T targets (sizes: model resolution W x H, default 896 x 512, latents 1/8):

1. Condition frames, in order: K <= ``max_references`` retrieved captured views, then the
   previous segment's last ``context_frames`` generated frames, then the T guidance renders.
   Masks: 1 for captured and context frames, the render's coverage for guidance frames,
   nearest-resized to H/8 x W/8.
2. Every frame is VAE-encoded on its own (a 1-frame video): N frames -> N latent frames, no
   temporal compression. DiT input per step: noise (16) + mask x4 (4) + condition latents
   (16) = 36 channels, [1, 36, N, H/8, W/8].
3. CLIP tokens of frame 0; the constant text context (prompt " ") padded to 512 tokens.
4. Flow matching, shift 5, 4 steps: sigmas 1, 0.9375, 0.8333, 0.625, then 0; the DiT
   predicts the velocity (noise - x0), Euler steps; noise from seed 1 (CPU generator, so
   the same on any device).
5. The last T latent frames are decoded one frame at a time and resized to each camera.

Depth: the guidance depth where the render saw the surface; holes get push-pull filled inverse
depth (the diffusion model gives no depth). ``invented`` = the render's holes; confidence =
the render's confidence where it saw something, ``invented_confidence`` in holes.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.generate.anyrecon import files as mf
from engine.generate.protocol import CancelToken, GeneratedFrame, SegmentRequest
from engine.generate.pushpull import push_pull

log = logging.getLogger(__name__)

FULL_SIZE_BYTES = 4 << 30   # DiT shards larger than this are "full size" (the 14B is ~66 GB fp32 / 33 GB bf16)


@dataclass(frozen=True)
class AnyReconOptions:
    """width/height: model resolution (multiples of 16); steps/shift/seed: the sampler;
    max_references: retrieved views used (<= 10); context_frames: frames chained from the
    previous segment; offload: "auto" (model CPU offload on GPUs under 80 GB), "none" or
    "model"; vae_batch: frames per VAE call; compile: torch.compile the DiT blocks;
    attention_head_dim: the DiT's head size (128 for Wan2.1)."""

    width: int = 896
    height: int = 512
    steps: int = 4
    shift: float = 5.0
    seed: int = 1
    max_references: int = 10
    context_frames: int = 2
    offload: str = "auto"
    vae_batch: int = 8
    compile: bool = False
    attention_head_dim: int = 128
    invented_confidence: float = 0.2
    attention: str = "default"   # DiT attention kernel: "default" (torch picks), "cudnn", "flash"

    def validate(self) -> None:
        if self.width % 16 or self.height % 16:
            raise ValueError(f"anyrecon resolution must be a multiple of 16, got {self.width}x{self.height}")
        if not 1 <= self.max_references <= 10:
            raise ValueError("max_references must be in 1..10")
        if self.attention not in ("default", "cudnn", "flash"):
            raise ValueError(f"attention must be default, cudnn or flash, got {self.attention!r}")
        if self.offload not in ("auto", "none", "model"):
            raise ValueError(f"offload must be auto, none or model, got {self.offload!r}")


def flow_sigmas(steps: int = 4, shift: float = 5.0) -> list[float]:
    """Shifted flow-matching sigmas, steps + 1 values ending in 0:
    s' = shift*s / (1 + (shift-1)*s) for s = 1, 1 - 1/steps, ... (4 steps, shift 5:
    1, 0.9375, 0.8333, 0.625, 0)."""
    out = []
    for i in range(steps):
        s = 1.0 - i / steps
        out.append(shift * s / (1.0 + (shift - 1.0) * s))
    return out + [0.0]


def _resolve_device(device) -> torch.device:
    from engine.device import resolve_device

    return resolve_device(device)


class AnyReconGenerator:
    """NovelViewGenerator on the user's Wan2.1-I2V-14B + AnyRecon LoRA files."""

    name = "anyrecon"

    def __init__(self, options: AnyReconOptions = AnyReconOptions(), models_dir: Path | str | None = None,
                 device=None) -> None:
        options.validate()
        self.options = options
        self.files = mf.discover(models_dir if models_dir is not None else _default_models_dir())
        if not self.files.complete:
            raise FileNotFoundError(self.files.missing_message())
        self.device = _resolve_device(device)
        size = sum(p.stat().st_size for p in self.files.dit_shards())
        if self.device.type != "cuda" and size > FULL_SIZE_BYTES:
            raise ValueError(f"the anyrecon generator needs a CUDA GPU for the full-size Wan2.1 weights "
                               f"({size / 2**30:.0f} GB of DiT shards in {self.files.wan_dir}); this machine "
                               f"runs on {self.device.type}. Choose another generator (ibr, splat).")
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self._loaded = False
        self._offloaded = None
        self.last_condition: dict | None = None   # shapes and masks of the last segment (logs, tests)

    @classmethod
    def from_modules(cls, options: AnyReconOptions, dit, vae, clip, text_context: torch.Tensor, device,
                     offload: bool = False) -> AnyReconGenerator:
        """A generator around modules already built (benchmarks with random full-size weights)."""
        self = cls.__new__(cls)
        self.options, self.files, self.device = options, None, torch.device(device)
        self.dtype = next(p.dtype for n, p in dit.named_parameters() if "blocks.0.attn1.to_q" in n)
        self.dit, self.vae, self.clip, self.text_context = dit, vae, clip, text_context
        self.offload, self._loaded, self.last_condition, self._offloaded = False, True, None, None
        if offload:
            self.enable_offload()
        return self

    @property
    def top_k(self) -> int:
        """Retrieved captured views the loop should hand over per segment (AnyRecon: up to 10)."""
        return self.options.max_references

    @property
    def context_frames(self) -> int:
        """How many frames of the previous segment this generator conditions on (the loop's
        ``LoopOptions.context_frames`` should hand on at least this many)."""
        return self.options.context_frames

    # ---- loading -------------------------------------------------------------------------
    def _offload(self) -> bool:
        if self.device.type != "cuda" or self.options.offload == "none":
            return False
        if self.options.offload == "model":
            return True
        total = torch.cuda.get_device_properties(self.device).total_memory
        return total < 80e9

    def load(self) -> None:
        """Merge + convert + cache (first start), then build the modules (every start)."""
        if self._loaded:
            return
        from engine.generate.anyrecon import weights as W
        from engine.generate.anyrecon.encoders import ClipVision

        f = self.files
        lora = f.path(mf.LORA_FILES[0]) if mf.LORA_FILES[0] in f.found else f.path(mf.LORA_FILES[1])
        shards = W.cached_dit_shards(f.dit_shards(), lora, f.cache_dir)
        vae_file = W.cached_vae(f.path(mf.VAE_FILE), f.cache_dir)
        self.text_context = self._text_context()
        self.offload = self._offload()
        home = torch.device("cpu") if self.offload else self.device
        self.dit = W.build_transformer(W.load_safetensors(shards, "cpu" if self.offload else self.device),
                                       home, self.dtype, self.options.attention_head_dim)
        self._offloaded = None
        if self.offload:
            self.enable_offload()
        self.vae = W.build_vae(W.load_safetensors([vae_file], self.device), self.device, torch.float32)
        self.clip = ClipVision(mf.load_state_dict(f.path(mf.CLIP_FILE))).to(self.device, torch.float32)
        if self.options.compile:
            for block in self.dit.blocks:
                block.compile()
        self._loaded = True

    def enable_offload(self) -> None:
        """Model CPU offload of the DiT: its weights live in pinned CPU memory and are copied
        to the GPU for the denoising steps only (frozen weights: nothing is copied back)."""
        self._offloaded = _Offloaded(self.dit, self.device)
        self.offload = True

    def _text_context(self) -> torch.Tensor:
        """[L, D] float32, from the cache or computed once from the T5 weights and cached."""
        from safetensors.torch import load_file, save_file

        from engine.generate.anyrecon.encoders import constant_text_context

        cache = self.files.cache_dir / mf.TEXT_CONTEXT_CACHE
        if cache.is_file():
            return load_file(str(cache))["context"]
        ctx = constant_text_context(mf.load_state_dict(self.files.path(mf.T5_FILE)))
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_file({"context": ctx.contiguous()}, str(cache), metadata={"prompt": " "})
        return ctx

    # ---- condition -----------------------------------------------------------------------
    def build_condition(self, request: SegmentRequest):
        """pixels [N,3,H,W] in [-1,1], masks [N,1,H/8,W/8] in {0,1}, n_prefix (frames before
        the targets)."""
        o = self.options
        size = (o.height, o.width)
        lat = (o.height // 8, o.width // 8)
        images, masks = [], []

        def add(image, mask):
            img = torch.as_tensor(np.asarray(image, np.float32) if not torch.is_tensor(image) else image)
            img = img.to(self.device, torch.float32).permute(2, 0, 1)[None]
            images.append(F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True)[0])
            m = torch.as_tensor(mask).to(self.device, torch.float32)[None, None]
            masks.append(F.interpolate(m, size=lat, mode="nearest")[0])

        for ref in list(request.references)[:o.max_references]:
            add(ref.image, torch.ones(2, 2))
        context = list(request.context)[-o.context_frames:] if o.context_frames > 0 else []
        for frame in context:
            add(frame.color, torch.ones(2, 2))
        n_prefix = len(images)
        for i in range(len(request.targets)):
            g = request.guidance[i]
            mask = g.mask.to(self.device)
            add(g.color.to(self.device) * mask[..., None], mask.float())
        pixels = torch.stack(images).clamp(0, 1) * 2 - 1
        return pixels, torch.stack(masks), n_prefix

    def _latent_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's per-channel latent mean and std, [1,16,1,1,1] each (Wan normalisation)."""
        cfg = self.vae.config
        shape = (1, -1, 1, 1, 1)
        return (torch.tensor(cfg.latents_mean, device=self.device).view(shape),
                torch.tensor(cfg.latents_std, device=self.device).view(shape))

    @torch.no_grad()
    def _encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N,3,H,W] in [-1,1] -> normalized latents [N,16,h,w], each frame on its own."""
        vae = self.vae
        mean, std = self._latent_stats()
        out = []
        for chunk in pixels.split(self.options.vae_batch):
            z = vae.encode(chunk[:, :, None].float()).latent_dist.mode()   # [b,16,1,h,w]
            out.append(((z - mean) / std)[:, :, 0])
        return torch.cat(out)

    @torch.no_grad()
    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        """[T,16,h,w] normalized -> images [T,3,H,W] in [0,1], each frame on its own."""
        vae = self.vae
        mean, std = self._latent_stats()
        out = []
        for chunk in latents.split(self.options.vae_batch):
            z = chunk[:, :, None].float() * std + mean
            out.append(vae.decode(z).sample[:, :, 0])
        return ((torch.cat(out) + 1) / 2).clamp(0, 1)

    # ---- sampling ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, cond_latents: torch.Tensor, masks: torch.Tensor, first_image: torch.Tensor,
               cancel: CancelToken | None = None) -> torch.Tensor:
        """cond_latents [N,16,h,w], masks [N,1,h,w], first_image [3,H,W] in [0,1] ->
        denoised latents [N,16,h,w] (float32)."""
        o = self.options
        n, c, h, w = cond_latents.shape
        y = torch.cat([masks.permute(1, 0, 2, 3).repeat(4, 1, 1, 1), cond_latents.permute(1, 0, 2, 3)])[None]
        image_tokens = self.clip(first_image[None]).to(self.dtype)
        text = _pad(self.text_context).to(self.device, self.dtype)
        gen = torch.Generator("cpu").manual_seed(o.seed)
        x = torch.randn((1, c, n, h, w), generator=gen).to(self.device)
        y = y.to(self.dtype)
        if self._offloaded is not None:
            self._offloaded.upload(self.device)
        try:
            with _attention_kernel(o.attention if self.device.type == "cuda" else "default"):
                x = self._denoise(x, y, text, image_tokens, cancel)
        finally:
            if self._offloaded is not None:
                self._offloaded.release()
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        return x[0].permute(1, 0, 2, 3)

    def _denoise(self, x, y, text, image_tokens, cancel):
        o = self.options
        sig = flow_sigmas(o.steps, o.shift)
        for s, s_next in zip(sig[:-1], sig[1:]):
            if cancel is not None:
                cancel.raise_if_cancelled()
            t = torch.full((1,), s * 1000.0, device=self.device)
            v = self.dit(torch.cat([x.to(self.dtype), y], 1), t, text, image_tokens, return_dict=False)[0]
            x = x + (s_next - s) * v.float()
        return x

    def generate(self, request: SegmentRequest, cancel: CancelToken | None = None) -> Iterator[GeneratedFrame]:
        self.load()
        pixels, masks, n_prefix = self.build_condition(request)
        cond = self._encode(pixels)
        self.last_condition = {"frames": pixels.shape[0], "latent_frames": cond.shape[0], "prefix": n_prefix,
                               "masks": masks[:, 0].cpu(), "pixels": pixels.cpu()}
        latents = self.sample(cond, masks, (pixels[0] + 1) / 2, cancel)
        images = self._decode(latents[n_prefix:])
        for i, cam in enumerate(request.targets):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield self._frame(cam, images[i], request.guidance[i])

    def _frame(self, camera, image: torch.Tensor, guide) -> GeneratedFrame:
        color = F.interpolate(image[None], size=(camera.height, camera.width), mode="bilinear",
                              align_corners=False, antialias=True)[0]
        mask = guide.mask.to(color.device)
        depth = guide.depth.to(color.device).float()
        known = mask & (depth > 0)
        if known.any() and not known.all():
            inv = torch.where(known, 1.0 / depth.clamp_min(1e-6), torch.zeros_like(depth))
            filled = push_pull(inv[None], known.float())[0]
            depth = torch.where(known, depth, 1.0 / filled.clamp_min(1e-6))
        conf = torch.where(mask, guide.confidence.to(color.device).float().clamp(0.05, 1.0),
                           torch.full_like(depth, self.options.invented_confidence))
        return GeneratedFrame(camera, color.permute(1, 2, 0).cpu().numpy().astype(np.float32),
                              depth.cpu().numpy().astype(np.float32), conf.cpu().numpy().astype(np.float32),
                              (~mask).cpu().numpy())


class _Offloaded:
    """Parameters of ``module`` kept in (pinned) CPU memory; buffers stay on ``device``."""

    def __init__(self, module: torch.nn.Module, device: torch.device) -> None:
        pin = device.type == "cuda"
        self.params = [(p, (p.data.cpu().pin_memory() if pin else p.data.cpu())) for p in module.parameters()]
        for m in module.modules():
            for k, b in m._buffers.items():
                if b is not None:
                    m._buffers[k] = b.to(device)
        self.release()

    def upload(self, device) -> None:
        for p, host in self.params:
            p.data = host.to(device, non_blocking=True)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)

    def release(self) -> None:
        for p, host in self.params:
            p.data = host


def _attention_kernel(name: str):
    """Restrict torch's scaled-dot-product attention to one kernel for the DiT (the VAE's
    float32 attention keeps torch's choice: it runs outside this context)."""
    import contextlib

    if name == "default":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel({"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}[name])


def _pad(context: torch.Tensor) -> torch.Tensor:
    from engine.generate.anyrecon.encoders import pad_text_context

    return pad_text_context(context.float())


def _default_models_dir() -> Path:
    from engine.generate.registry import GeneratorContext

    return GeneratorContext().resolved_models_dir
