"""GPU-only checks: the pure-torch rasterizer against gsplat, and the exported splat PLY
rendered by gsplat against the engine's own render. Skipped without CUDA + gsplat."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("gsplat") is None,
                                 reason="needs CUDA and gsplat")]


def _random_gaussians(n: int, seed: int = 0, device="cuda"):
    g = torch.Generator(device="cpu").manual_seed(seed)
    means = (torch.randn(n, 3, generator=g) * torch.tensor([0.8, 0.5, 0.6]) + torch.tensor([0.0, 0.0, 3.0]))
    quats = torch.randn(n, 4, generator=g)
    scales = torch.rand(n, 3, generator=g) * 0.08 + 0.01
    opac = torch.rand(n, generator=g) * 0.9 + 0.05
    sh = torch.randn(n, 16, 3, generator=g) * 0.4
    return [t.to(device) for t in (means, quats, scales, opac, sh)]


def _camera(device="cuda", w=96, h=64):
    K = torch.tensor([[80.0, 0, w / 2 + 0.3], [0, 82.0, h / 2 - 0.7], [0, 0, 1]], device=device)
    view = torch.eye(4, device=device)
    view[:3, 3] = torch.tensor([0.05, -0.02, 0.1], device=device)
    return view, K, w, h


@pytest.mark.parametrize("sh_degree", [0, 3])
def test_torch_rasterizer_matches_gsplat(sh_degree):
    from engine.splat.rasterize_gsplat import rasterize_gsplat
    from engine.splat.rasterize_torch import rasterize_torch

    means, quats, scales, opac, sh = _random_gaussians(400)
    view, K, w, h = _camera()
    outs, grads = [], []
    for fn in (rasterize_torch, rasterize_gsplat):
        m = means.clone().requires_grad_(True)
        c = sh.clone().requires_grad_(True)
        out = fn(m, quats, scales, opac, c, sh_degree, view, K, w, h, background=torch.tensor([0.2, 0.3, 0.4]))
        (out.color * torch.linspace(0, 1, w, device="cuda")[None, :, None]).sum().backward()
        outs.append(out)
        grads.append((m.grad.clone(), c.grad.clone()))
    a, b = [type(o)(o.color.detach(), o.alpha.detach(), o.depth.detach(), {}) for o in outs]
    assert float((a.color - b.color).abs().max()) < 2e-3
    assert float((a.alpha - b.alpha).abs().max()) < 2e-3
    mse = float(((a.color - b.color) ** 2).mean())
    assert 10 * np.log10(1 / max(mse, 1e-20)) > 50
    for ga, gb in zip(*grads):
        cos = torch.nn.functional.cosine_similarity(ga.flatten(), gb.flatten(), dim=0)
        assert float(cos) > 0.99


def _read_ply(path: Path) -> dict:
    """Independent binary PLY reader (not the engine's)."""
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode().splitlines()
    n = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    names = [line.split()[2] for line in header if line.startswith("property float")]
    data = np.frombuffer(raw, dtype=np.dtype([(p, "<f4") for p in names]), count=n, offset=end)
    return {p: np.array(data[p]) for p in names}


def test_exported_ply_renders_the_same_in_gsplat(tmp_path, capture):
    from dataclasses import replace

    from gsplat import rasterization

    from engine.splat.files import write_splat_ply
    from engine.metrics import psnr
    from engine.splat.data import split_views
    from engine.splat.model import SplatInitOptions, splats_from_memory
    from engine.splat.rasterize_torch import rasterize_torch
    from engine.splat.train import SplatTrainer, scaled_schedule

    mem = capture.memory(0.08)
    train, test = split_views(capture.views, "cuda", 1.0, 8)
    trainer = SplatTrainer(splats_from_memory(mem, SplatInitOptions()), train, test,
                           replace(scaled_schedule(600), sh_degree_interval=100), "cuda")
    before = trainer.evaluate().psnr
    for _ in trainer.run(600):
        pass
    assert trainer.backend == "gsplat"
    assert trainer.evaluate().psnr > before + 3.0
    ply = _read_ply(write_splat_ply(tmp_path / "s.ply", trainer.splats()))
    t = lambda *k: torch.tensor(np.stack([ply[x] for x in k], 1), device="cuda")  # noqa: E731
    rest = [f"f_rest_{i}" for i in range(45)]
    sh = torch.cat([t("f_dc_0", "f_dc_1", "f_dc_2")[:, None], t(*rest).reshape(-1, 3, 15).transpose(1, 2)], 1)
    cam = test[0].camera
    view = torch.tensor(cam.cam_from_world, dtype=torch.float32, device="cuda")
    K = torch.tensor(cam.K, dtype=torch.float32, device="cuda")
    theirs, _, _ = rasterization(t("x", "y", "z"), t("rot_0", "rot_1", "rot_2", "rot_3"),
                                 torch.exp(t("scale_0", "scale_1", "scale_2")), torch.sigmoid(t("opacity")[:, 0]),
                                 sh, view[None], K[None], cam.width, cam.height, sh_degree=3, packed=False)
    p = trainer.params
    with torch.no_grad():
        ours = rasterize_torch(p["means"], p["quats"], torch.exp(p["scales"]), torch.sigmoid(p["opacities"]),
                               torch.cat([p["sh0"], p["shN"]], 1), 3, view, K, cam.width, cam.height)
    assert psnr(ours.color.clamp(0, 1).cpu().numpy(), theirs[0].clamp(0, 1).cpu().numpy()) > 40.0
