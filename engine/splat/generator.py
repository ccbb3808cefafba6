"""The ``splat`` novel-view generator: trained Gaussian splats rendered at the targets,
composited over the default (ibr) generator's frame where the splats are thin, and trained
further between segments on what the loop produced.

Per segment:
1. A trainer exists already (given, or from PROJECT/splats/splats.ply), or is bootstrapped from
   this segment's references: Gaussians on their depth maps (and the memory guidance),
   ``bootstrap_iterations`` steps on the reference images.
2. New references (captured views, by id) join the training views at full weight.
3. Each target: splat render (color, alpha, z-depth) composited over the base frame:
   color = splat_rgb + (1 - alpha) * base_rgb; depth from the splats where alpha >= 0.5;
   ``invented`` = base invented and alpha < alpha_threshold.
4. After the last frame: the segment's frames join the training views with per-pixel weight
   ``observed_weight`` (``invented_weight`` where invented), and ``iterations_per_segment``
   more steps run, so the next segment renders from splats that learned what was generated.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from engine.device import resolve_device
from engine.generate.protocol import CancelToken, GeneratedFrame, SegmentRequest
from engine.splat.data import make_view, view_from_generated
from engine.splat.train import SplatTrainer, TrainOptions, scaled_schedule


@dataclass(frozen=True)
class SplatGeneratorOptions:
    bootstrap_iterations: int = 300
    iterations_per_segment: int = 100
    learn_from_generated: bool = True
    invented_weight: float = 0.1
    observed_weight: float = 0.5
    alpha_threshold: float = 0.5
    max_bootstrap_points: int = 20_000
    train_scale: float | None = None   # training image scale; None: full on CUDA, <=320 px on CPU


def _points_from_request(request: SegmentRequest, limit: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """World points [N,3] and colors [N,3] in [0,1] from the references' depth maps and the
    memory guidance renders (subsampled to ``limit``)."""
    xyz, rgb = [], []
    for ref in request.references:
        if ref.depth is not None:
            ok = np.isfinite(ref.depth) & (ref.depth > 0)
            xyz.append(ref.camera.backproject(np.where(ok, ref.depth, 0))[ok])
            rgb.append(np.asarray(ref.image, np.float32)[..., :3][ok])
    for cam, guide in zip(request.targets, request.guidance):
        mask = guide.mask.cpu().numpy()
        if mask.any():
            xyz.append(cam.backproject(guide.depth.cpu().numpy())[mask])
            rgb.append(guide.color.cpu().numpy()[mask])
    if not xyz:
        raise ValueError("the splat generator has nothing to start from: no reference depth and an empty "
                         "memory render (train the splats with `anyrecon splat` first)")
    xyz, rgb = np.concatenate(xyz), np.concatenate(rgb)
    if len(xyz) > limit:
        keep = np.random.default_rng(seed).choice(len(xyz), limit, replace=False)
        xyz, rgb = xyz[keep], rgb[keep]
    return xyz, rgb


class SplatGenerator:
    """Renders (and keeps training) Gaussian splats along the loop (see module docstring)."""

    name = "splat"

    def __init__(self, options: SplatGeneratorOptions = SplatGeneratorOptions(), device=None,
                 trainer: SplatTrainer | None = None, project_root: str | Path | None = None,
                 train_options: TrainOptions | None = None, base=None) -> None:
        from engine.generate.ibr import IBRGenerator, IBROptions

        self.options = options
        self.device = resolve_device(device)
        self.trainer = trainer
        self.project_root = None if project_root is None else Path(project_root)
        self.train_options = train_options
        self.base = base or IBRGenerator(IBROptions(), device=self.device)
        self._seen_refs: set[int] = set()

    def _scale(self, camera) -> float:
        if self.options.train_scale is not None:
            return self.options.train_scale
        return 1.0 if self.device.type == "cuda" else min(1.0, 320.0 / max(camera.width, camera.height))

    def _reference_views(self, request: SegmentRequest) -> list:
        new = [r for r in request.references if r.view_id not in self._seen_refs]
        self._seen_refs.update(r.view_id for r in new)
        return [make_view(r.camera, r.image, self.device, self._scale(r.camera)) for r in new]

    def _ensure_trainer(self, request: SegmentRequest, views: list) -> None:
        if self.trainer is not None:
            if views:
                self.trainer.add_views(views)
            return
        from engine.splat.checkpoint import load_trained_splats
        from engine.splat.params import splats_from_points

        o = self.options
        splats = load_trained_splats(self.project_root) if self.project_root is not None else None
        if not views and splats is None:
            cam = request.targets[0]
            raise ValueError(f"the splat generator needs captured reference views (got none for segment "
                             f"{request.segment_id}, {cam.width}x{cam.height})")
        opts = self.train_options or scaled_schedule(o.bootstrap_iterations + 10 * o.iterations_per_segment)
        if splats is None:
            xyz, rgb = _points_from_request(request, o.max_bootstrap_points)
            splats = splats_from_points(xyz, rgb, device=self.device)
            self.trainer = SplatTrainer(splats, views, [], opts, self.device)
            for _ in self.trainer.run(o.bootstrap_iterations):
                pass
        else:
            self.trainer = SplatTrainer(splats, views, [], opts, self.device, reset_opacity=False)
            self.trainer.step = opts.iterations // 2   # trained: no warm-up of SH / learning rates

    @torch.no_grad()
    def _compose(self, target, base: GeneratedFrame) -> GeneratedFrame:
        out = self.trainer.render(target, sh_degree=self.trainer.sh_degree_at(self.trainer.step))
        alpha = out.alpha.clamp(0, 1).cpu().numpy()
        color = out.color.cpu().numpy() + (1.0 - alpha)[..., None] * base.color
        solid = alpha >= 0.5
        depth = np.where(solid, out.depth.cpu().numpy(), base.depth).astype(np.float32)
        conf = np.maximum(0.9 * alpha, (1.0 - alpha) * base.confidence).astype(np.float32)
        invented = base.invented & (alpha < self.options.alpha_threshold)
        return GeneratedFrame(target, np.clip(color, 0, 1).astype(np.float32), depth, conf, invented)

    def prepare(self, request: SegmentRequest) -> None:
        """The trainer ready for ``request``: built (loaded or bootstrapped) on first use, the
        segment's new references added as training views."""
        self._ensure_trainer(request, self._reference_views(request))

    def learn(self, frames: list[GeneratedFrame], cancel: CancelToken | None = None) -> None:
        """After a segment: its frames join the training views (weighted by ``invented``)
        and ``iterations_per_segment`` more steps run."""
        o = self.options
        if o.learn_from_generated and frames:
            self.trainer.add_views([view_from_generated(f, self.device, o.invented_weight, o.observed_weight,
                                                        self._scale(f.camera)) for f in frames])
        for _ in self.trainer.run(o.iterations_per_segment, cancel):
            pass

    def generate(self, request: SegmentRequest, cancel: CancelToken | None = None) -> Iterator[GeneratedFrame]:
        self.prepare(request)
        frames = []
        for target, base in zip(request.targets, self.base.generate(request, cancel)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            frame = self._compose(target, base)
            frames.append(frame)
            yield frame
        self.learn(frames, cancel)
