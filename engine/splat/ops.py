"""In-place edits of the Gaussian set that keep the Adam state aligned (clone, split,
remove, opacity reset), on a ParameterDict + one optimizer per parameter, the layout of
:mod:`engine.splat.params` and of gsplat's strategies. Mirrors ``gsplat.strategy.ops``."""
from __future__ import annotations

from typing import Callable

import torch

from engine.splat.rasterize_torch import quat_to_rotmat


@torch.no_grad()
def update_params(params, optimizers: dict, param_fn: Callable, state_fn: Callable,
                  names: tuple[str, ...] | None = None) -> None:
    """Replace each parameter (of ``names``, default all) by ``param_fn(name, p)`` and each
    per-Gaussian optimizer state tensor by ``state_fn(v)`` (the "step" counter is kept)."""
    for name in (names or list(params.keys())):
        old = params[name]
        new = torch.nn.Parameter(param_fn(name, old.data), requires_grad=old.requires_grad)
        params[name] = new
        opt = optimizers.get(name)
        if opt is None:
            continue
        st = opt.state.pop(old, {})
        for key, v in list(st.items()):
            if key != "step" and torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == old.shape[0]:
                st[key] = state_fn(v)
        opt.param_groups[0]["params"] = [new]
        if st:
            opt.state[new] = st


def _update_running(state: dict, fn: Callable) -> None:
    for k, v in list(state.items()):
        if torch.is_tensor(v):
            state[k] = fn(v)


@torch.no_grad()
def duplicate(params, optimizers, state: dict, mask: torch.Tensor) -> int:
    """Append copies of the Gaussians selected by mask [N] bool (fresh optimizer state)."""
    sel = torch.nonzero(mask).squeeze(1)
    update_params(params, optimizers, lambda n, p: torch.cat([p, p[sel]]),
                  lambda v: torch.cat([v, torch.zeros_like(v[sel])]))
    _update_running(state, lambda v: torch.cat([v, v[sel]]))
    return int(sel.numel())


@torch.no_grad()
def split(params, optimizers, state: dict, mask: torch.Tensor, factor: float = 1.6) -> int:
    """Replace each selected Gaussian by two, sampled inside it, with scales / factor."""
    sel = torch.nonzero(mask).squeeze(1)
    rest = torch.nonzero(~mask).squeeze(1)
    scales = torch.exp(params["scales"][sel])
    rot = quat_to_rotmat(params["quats"][sel])
    noise = torch.randn(2, len(sel), 3, device=scales.device)
    offsets = torch.einsum("nij,nj,bnj->bni", rot, scales, noise)      # [2,S,3] world

    def param_fn(name, p):
        if name == "means":
            new = (p[sel][None] + offsets).reshape(-1, 3)
        elif name == "scales":
            new = torch.log(scales / factor).repeat(2, 1)
        else:
            new = p[sel].repeat(2, *([1] * (p.dim() - 1)))
        return torch.cat([p[rest], new])

    update_params(params, optimizers, param_fn,
                  lambda v: torch.cat([v[rest], torch.zeros((2 * len(sel), *v.shape[1:]), device=v.device, dtype=v.dtype)]))
    _update_running(state, lambda v: torch.cat([v[rest], v[sel].repeat(2, *([1] * (v.dim() - 1)))]))
    return int(sel.numel())


@torch.no_grad()
def remove(params, optimizers, state: dict, mask: torch.Tensor) -> int:
    """Delete the Gaussians selected by mask [N] bool."""
    keep = torch.nonzero(~mask).squeeze(1)
    update_params(params, optimizers, lambda n, p: p[keep], lambda v: v[keep])
    _update_running(state, lambda v: v[keep])
    return int(mask.sum())


@torch.no_grad()
def reset_opacity(params, optimizers, value: float) -> None:
    """Clamp every opacity to at most ``value`` (3DGS's periodic reset) and clear its Adam state."""
    cap = torch.logit(torch.tensor(value)).item()
    update_params(params, optimizers, lambda n, p: p.clamp_max(cap), torch.zeros_like, names=("opacities",))


@torch.no_grad()
def keep_top(params, optimizers, state: dict, count: int) -> int:
    """Remove all but the ``count`` most opaque Gaussians; returns how many were removed."""
    n = params["means"].shape[0]
    if n <= count:
        return 0
    order = torch.argsort(params["opacities"].detach(), descending=True)
    mask = torch.ones(n, dtype=torch.bool, device=order.device)
    mask[order[:max(count, 1)]] = False
    return remove(params, optimizers, state, mask)
