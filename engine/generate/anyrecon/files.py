"""Where the AnyRecon generator's weights are looked for, which exact files it expects, and
safe loading (safetensors, or ``torch.load(weights_only=True)``; never a pickle of objects).

Layout under the models folder (``GeneratorContext.resolved_models_dir``)::

    <models>/Wan2.1-I2V-14B-720P/diffusion_pytorch_model-0000{1..7}-of-00007.safetensors
    <models>/Wan2.1-I2V-14B-720P/Wan2.1_VAE.pth
    <models>/Wan2.1-I2V-14B-720P/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth
    <models>/Wan2.1-I2V-14B-720P/models_t5_umt5-xxl-enc-bf16.pth   (optional once cached)
    <models>/AnyRecon/full_attention.ckpt   (or full_attention.safetensors)

Nothing is ever downloaded: a missing file is an error that names it. The merged and
converted weights are cached in ``<models>/Wan2.1-I2V-14B-720P/anyrecon-cache/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WAN_DIR = "Wan2.1-I2V-14B-720P"
LORA_DIR = "AnyRecon"
CACHE_DIR = "anyrecon-cache"
DIT_SHARDS = tuple(f"diffusion_pytorch_model-{i:05d}-of-00007.safetensors" for i in range(1, 8))
VAE_FILE = "Wan2.1_VAE.pth"
CLIP_FILE = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
T5_FILE = "models_t5_umt5-xxl-enc-bf16.pth"
LORA_FILES = ("full_attention.ckpt", "full_attention.safetensors")  # either one
TEXT_CONTEXT_CACHE = "text_context.safetensors"

# model -> (license, where it comes from); shown by `anyrecon models`
LICENSES = {
    "Wan2.1-I2V-14B-720P DiT + VAE": ("Apache-2.0", "Wan-AI/Wan2.1-I2V-14B-720P"),
    "umT5-XXL text encoder (Wan2.1 release)": ("Apache-2.0", "Wan-AI/Wan2.1-I2V-14B-720P"),
    "open-clip XLM-RoBERTa ViT-H/14 image encoder (Wan2.1 release)": ("Apache-2.0 (Wan2.1 release); "
                                                                     "open_clip code MIT",
                                                                     "Wan-AI/Wan2.1-I2V-14B-720P"),
    "AnyRecon LoRA (full attention)": ("not stated by the authors (no license file): check with them "
                                       "before any non-research use", "Yutian10/AnyRecon"),
}


@dataclass(frozen=True)
class ExpectedFile:
    """One file the generator needs. ``alternatives``: other accepted names in the same folder;
    ``optional_if``: a cache file that makes this one unnecessary."""

    model: str
    folder: str
    name: str
    alternatives: tuple[str, ...] = ()
    optional_if: str | None = None

    def candidates(self, root: Path) -> list[Path]:
        return [root / self.folder / n for n in (self.name, *self.alternatives)]

    def find(self, root: Path) -> Path | None:
        for p in self.candidates(root):
            if p.is_file():
                return p
        return None

    def label(self) -> str:
        names = " or ".join((self.name, *self.alternatives))
        return f"{self.folder}/{names}"


def expected_files() -> list[ExpectedFile]:
    dit = "Wan2.1-I2V-14B-720P DiT + VAE"
    files = [ExpectedFile(dit, WAN_DIR, n) for n in DIT_SHARDS]
    files.append(ExpectedFile(dit, WAN_DIR, VAE_FILE))
    files.append(ExpectedFile("open-clip XLM-RoBERTa ViT-H/14 image encoder (Wan2.1 release)", WAN_DIR, CLIP_FILE))
    files.append(ExpectedFile("umT5-XXL text encoder (Wan2.1 release)", WAN_DIR, T5_FILE,
                              optional_if=f"{WAN_DIR}/{CACHE_DIR}/{TEXT_CONTEXT_CACHE}"))
    files.append(ExpectedFile("AnyRecon LoRA (full attention)", LORA_DIR, LORA_FILES[0], LORA_FILES[1:]))
    return files


@dataclass(frozen=True)
class ModelFiles:
    """What was found under ``root``: ``found`` maps each expected file to its path;
    ``missing`` lists the expected files (as ``folder/name`` labels) that are not there."""

    root: Path
    found: dict
    missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing

    def path(self, name: str) -> Path:
        return self.found[name]

    def dit_shards(self) -> list[Path]:
        return [self.found[n] for n in DIT_SHARDS]

    @property
    def wan_dir(self) -> Path:
        return self.root / WAN_DIR

    @property
    def cache_dir(self) -> Path:
        return self.root / WAN_DIR / CACHE_DIR

    def missing_message(self) -> str:
        return (f"the anyrecon generator needs these files under {self.root} (nothing is downloaded; "
                f"copy them there or point ANYRECON_MODELS / the models folder at them): missing "
                + ", ".join(self.missing))


def discover(root: Path | str) -> ModelFiles:
    """Look for every expected file under ``root`` (no download, no partial match)."""
    root = Path(root)
    found, missing = {}, []
    for f in expected_files():
        p = f.find(root)
        if p is not None:
            found[f.name] = p
        elif f.optional_if is not None and (root / f.optional_if).is_file():
            found[f.name] = root / f.optional_if
        else:
            missing.append(f.label())
    return ModelFiles(root, found, missing)


def missing_files(root: Path | str) -> list[str]:
    return discover(root).missing


def load_state_dict(path: Path | str, device: str = "cpu") -> dict:
    """Tensors of a checkpoint: safetensors, or a torch zip read with ``weights_only=True``
    (memory-mapped). A checkpoint that holds anything but tensors and plain containers is
    refused with an error naming the file. Nested ``{"state_dict": ...}`` / ``{"module": ...}``
    wrappers are unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device=device)
    import torch

    try:
        try:
            sd = torch.load(str(path), map_location=device, weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
            sd = torch.load(str(path), map_location=device, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot be read as tensors only (weights_only=True); "
                         f"convert it to safetensors: {exc}") from exc
    for key in ("state_dict", "module", "model"):   # training checkpoints wrap the tensors
        inner = sd.get(key) if isinstance(sd, dict) else None
        if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            sd = inner
            break
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a dict of tensors, got {type(sd).__name__}")
    return sd
