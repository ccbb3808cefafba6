"""Per-scene optimisation of 3D Gaussians on captured (and generated) views.

Loss (1 - 0.2) * L1 + 0.2 * (1 - SSIM); Adam with one optimizer per parameter and the 3DGS
learning rates (means scaled by the scene scale and decayed 100x over the run); SH degree
raised by one every ``sh_degree_interval`` steps up to ``sh_degree``; densification by gsplat's
DefaultStrategy on CUDA or :class:`SimpleStrategy` elsewhere; a hard cap on the number of
Gaussians; CUDA out-of-memory caught, answered by dropping the least opaque Gaussians and
lowering the cap, and reported in the progress events.

World frame and units are the project's (meters); cameras use OpenCV axes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np
import torch

from engine.device import resolve_device
from engine.events import Progress, SplatTrainingProgress
from engine.splat import ops
from engine.splat.data import TrainView
from engine.splat.losses import photometric_loss
from engine.splat.model import GaussianSplats
from engine.splat.params import params_from_splats, splats_from_params
from engine.splat.render import render_params, resolve_backend
from engine.splat.strategy import DensifyOptions, make_strategy


class SplatOutOfMemory(RuntimeError):
    """Training does not fit in device memory even with few Gaussians."""


@dataclass(frozen=True)
class TrainOptions:
    """Training settings (learning rates per step, for batch size 1)."""

    iterations: int = 7000           # the schedule's length (lr decay, SH steps, densify stop)
    sh_degree: int = 3
    sh_degree_interval: int = 1000
    ssim_lambda: float = 0.2
    lr_means: float = 1.6e-4         # x scene_scale, decays to lr_means_final x that
    lr_means_final: float = 0.01
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh0: float = 2.5e-3
    lr_shN: float = 2.5e-3 / 20
    init_opacity: float | None = 0.1  # None keeps the opacities of the initial splats
    max_splats: int = 2_000_000
    min_splats_on_oom: int = 1000
    oom_keep_fraction: float = 0.7
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    backend: str = "auto"            # torch | gsplat | auto
    densify: DensifyOptions = field(default_factory=DensifyOptions)
    progress_every: int = 100
    eval_every: int = 0              # 0: held-out PSNR only at the end of a run
    preview_every: int = 500
    preview_max_side: int = 320
    seed: int = 0


def scaled_schedule(iterations: int, options: TrainOptions = TrainOptions()) -> TrainOptions:
    """The 7k-step schedule compressed to a shorter run (CPU previews, tests): densification
    windows shrink with the run and the learning rates grow by sqrt(7000 / iterations), at
    most 5x (measured on the synthetic scene: 150 steps gain ~1 dB more than at 1x)."""
    if iterations >= 7000:
        return replace(options, iterations=iterations)
    s = iterations / 7000.0
    m = min(5.0, math.sqrt(1.0 / s))
    options = replace(options, lr_means=options.lr_means * m, lr_scales=options.lr_scales * m,
                      lr_quats=options.lr_quats * m, lr_opacities=options.lr_opacities * m,
                      lr_sh0=options.lr_sh0 * m, lr_shN=options.lr_shN * m)
    d = options.densify
    # the opacity reset (and the large-Gaussian pruning that follows it) needs thousands of
    # steps to recover from: short runs keep the 3000-step period, i.e. never reset
    dens = replace(d, refine_start_iter=max(50, int(d.refine_start_iter * s)),
                   refine_every=max(50, int(d.refine_every * s)))
    return replace(options, iterations=iterations, densify=dens,
                   sh_degree_interval=max(1, int(options.sh_degree_interval * s)))


@dataclass(frozen=True)
class EvalResult:
    """Held-out evaluation: mean PSNR (dB) over views, and each view's PSNR."""

    psnr: float
    per_view: tuple[float, ...]


def scene_scale_of(cameras, means: np.ndarray) -> float:
    """1.1 x the largest camera-center distance from their mean (3DGS); falls back to a
    tenth of the splats' bounding-box diagonal when the cameras do not spread."""
    centers = np.stack([c.center for c in cameras]) if cameras else np.zeros((1, 3))
    scale = 1.1 * float(np.linalg.norm(centers - centers.mean(0), axis=1).max())
    if scale < 1e-6 and len(means):
        scale = 0.1 * float(np.linalg.norm(means.max(0) - means.min(0)))
    return max(scale, 1e-3)


def _take(splats: GaussianSplats, idx: np.ndarray) -> GaussianSplats:
    return GaussianSplats(splats.means[idx], splats.log_scales[idx], splats.quats[idx],
                          splats.opacity_logits[idx], splats.sh[idx])


class SplatTrainer:
    """Owns the trainable Gaussians, their optimizers and the densification state."""

    def __init__(self, splats: GaussianSplats, train_views: Sequence[TrainView], test_views: Sequence[TrainView] = (),
                 options: TrainOptions = TrainOptions(), device=None, scene_scale: float | None = None,
                 reset_opacity: bool = True) -> None:
        if len(splats) == 0:
            raise ValueError("no Gaussians to train (the geometry memory is empty)")
        if not train_views:
            raise ValueError("no captured views to train the splats on")
        self.device = resolve_device(device)
        self.options = options
        self.backend = resolve_backend(options.backend, self.device)
        self.train_views = list(train_views)
        self.test_views = list(test_views)
        self.notes: list[str] = []
        self.scene_scale = scene_scale or scene_scale_of([v.camera for v in self.train_views], splats.means)
        self.params = self._initial_params(splats, options.init_opacity if reset_opacity else None)
        self.optimizers = self._make_optimizers()
        self.strategy = make_strategy(options.densify, self.backend == "gsplat")
        self.strategy_state = self.strategy.initialize_state(scene_scale=self.scene_scale)
        self.max_splats = options.max_splats
        self.step = 0
        self._rng = np.random.default_rng(options.seed)
        self._order: list[int] = []
        torch.manual_seed(options.seed)
        self._cap()

    # ------------------------------------------------------------------ setup
    def _initial_params(self, splats: GaussianSplats, init_opacity):
        """Parameters on the device; the most opaque Gaussians first when the cap or the
        device memory asks for fewer."""
        o = self.options
        order = np.argsort(-splats.opacity_logits, kind="stable")
        keep = min(len(splats), o.max_splats)
        while True:
            sub = splats if keep == len(splats) else _take(splats, order[:keep])
            try:
                return params_from_splats(sub, self.device, o.sh_degree, init_opacity)
            except torch.OutOfMemoryError:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if int(keep * o.oom_keep_fraction) < o.min_splats_on_oom:
                    raise SplatOutOfMemory(f"{keep:,} Gaussians do not fit in {self.device} memory") from None
                self.notes.append(f"start: out of memory with {keep:,} Gaussians; starting with the "
                                  f"{int(keep * o.oom_keep_fraction):,} most opaque")
                keep = int(keep * o.oom_keep_fraction)

    def _make_optimizers(self) -> dict:
        o = self.options
        lrs = {"means": o.lr_means * self.scene_scale, "scales": o.lr_scales, "quats": o.lr_quats,
               "opacities": o.lr_opacities, "sh0": o.lr_sh0, "shN": o.lr_shN}
        fused = self.device.type == "cuda"
        return {n: torch.optim.Adam([{"params": [self.params[n]], "lr": lr, "name": n}], eps=1e-15, fused=fused)
                for n, lr in lrs.items()}

    @property
    def num_splats(self) -> int:
        return int(self.params["means"].shape[0])

    def sh_degree_at(self, step: int) -> int:
        return min(step // max(1, self.options.sh_degree_interval), self.options.sh_degree)

    def splats(self) -> GaussianSplats:
        """The current Gaussians (numpy) with all trained SH bands."""
        return splats_from_params(self.params)

    def add_views(self, views: Sequence[TrainView]) -> None:
        """More training views (e.g. generated frames); used from the next step on."""
        self.train_views.extend(views)
        self._order = []

    # ------------------------------------------------------------------ one step
    def _next_view(self) -> TrainView:
        if not self._order:
            self._order = list(self._rng.permutation(len(self.train_views)))
        return self.train_views[self._order.pop()]

    def _step_once(self, view: TrainView) -> float:
        o = self.options
        frac = min(self.step / max(1, o.iterations), 1.0)
        self.optimizers["means"].param_groups[0]["lr"] = o.lr_means * self.scene_scale * o.lr_means_final ** frac
        out = render_params(self.params, view.camera, self.sh_degree_at(self.step), self.backend, o.background,
                            absgrad=o.densify.absgrad and self.backend == "gsplat")
        self.strategy.step_pre_backward(self.params, self.optimizers, self.strategy_state, self.step, out.info)
        loss = photometric_loss(out.color, view.image, view.weight, o.ssim_lambda)
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        self.strategy.step_post_backward(self.params, self.optimizers, self.strategy_state, self.step, out.info,
                                         packed=False)
        self._cap()
        self.step += 1
        return float(loss.detach())

    def _cap(self) -> None:
        if self.num_splats > self.max_splats:
            ops.keep_top(self.params, self.optimizers, self.strategy_state, self.max_splats)

    def train_step(self, view: TrainView | None = None) -> float:
        """One optimisation step on ``view`` (default: the next of the training views, in a
        shuffled order); recovers from out-of-memory by dropping Gaussians (see
        :meth:`_recover_from_oom`). Returns the loss."""
        view = self._next_view() if view is None else view
        while True:
            try:
                return self._step_once(view)
            except torch.OutOfMemoryError:
                self._recover_from_oom()

    def _recover_from_oom(self) -> None:
        """Free the gradients and the Adam moments (2/3 of the per-Gaussian memory; they
        restart from zero), keep the ``oom_keep_fraction`` most opaque Gaussians and cap
        the count there; SplatOutOfMemory when that would go below ``min_splats_on_oom``."""
        n = self.num_splats
        target = int(n * self.options.oom_keep_fraction)
        for p in self.params.values():
            p.grad = None
        for opt in self.optimizers.values():
            opt.state.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if target < self.options.min_splats_on_oom:
            raise SplatOutOfMemory(
                f"out of {self.device.type} memory with only {n:,} Gaussians; train at a lower resolution "
                "(--scale) or free device memory") from None
        try:
            ops.keep_top(self.params, self.optimizers, self.strategy_state, target)
        except torch.OutOfMemoryError:
            raise SplatOutOfMemory(f"out of {self.device.type} memory while reducing {n:,} Gaussians") from None
        self.max_splats = min(self.max_splats, target)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.notes.append(f"step {self.step}: out of memory with {n:,} Gaussians; kept the {target:,} most "
                          f"opaque and capped the count there")

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def render(self, camera, sh_degree: int | None = None):
        """Render the current Gaussians into ``camera`` (no gradients): RenderOutput."""
        deg = self.sh_degree_at(self.step) if sh_degree is None else sh_degree
        return render_params(self.params, camera, deg, self.backend, self.options.background)

    @torch.no_grad()
    def evaluate(self, views: Sequence[TrainView] | None = None) -> EvalResult | None:
        """Mean PSNR over ``views`` (default: the held-out views); None without views."""
        views = self.test_views if views is None else views
        if not views:
            return None
        vals = []
        for v in views:
            mse = float(((self.render(v.camera).color.clamp(0, 1) - v.image) ** 2).mean())
            vals.append(10 * math.log10(1.0 / max(mse, 1e-12)))
        return EvalResult(float(np.mean(vals)), tuple(vals))

    @torch.no_grad()
    def preview(self) -> np.ndarray:
        """[h,w,3] uint8 render of the first held-out (else training) view, at most
        ``preview_max_side`` pixels on its long side."""
        cam = (self.test_views or self.train_views)[0].camera
        cam = cam.scaled(min(1.0, self.options.preview_max_side / max(cam.width, cam.height)))
        return (self.render(cam).color.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()

    # ------------------------------------------------------------------ a run
    def run(self, iterations: int, cancel=None) -> Iterator:
        """Train ``iterations`` more steps; yields Progress and SplatTrainingProgress events
        (PSNR on held-out views every ``eval_every`` steps and at the end)."""
        o = self.options
        stop, t0, losses, noted = self.step + iterations, time.perf_counter(), [], len(self.notes)
        while self.step < stop:
            if cancel is not None:
                cancel.raise_if_cancelled()
            losses.append(self.train_step())
            done = iterations - (stop - self.step)
            last = self.step >= stop
            if not (last or self.step % o.progress_every == 0 or len(self.notes) > noted):
                continue
            ev = o.eval_every and self.step % o.eval_every == 0
            result = self.evaluate() if (last or ev) else None
            preview = self.preview() if (last or self.step % o.preview_every == 0) else None
            message = "; ".join(self.notes[noted:])
            noted = len(self.notes)
            elapsed = time.perf_counter() - t0
            yield Progress(done / iterations, f"splats: step {self.step}/{stop}, {self.num_splats:,} Gaussians",
                           elapsed / done * (iterations - done))
            yield SplatTrainingProgress(self.step, stop, float(np.mean(losses[-o.progress_every:])), self.num_splats,
                                        None if result is None else result.psnr, preview, message)
