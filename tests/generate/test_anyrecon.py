"""The anyrecon generator end to end on CPU with tiny random Wan2.1 weights the test writes in
the original key layouts: discovery, LoRA merge, key conversion, cache, conditions, 4 steps,
per-frame decode, chaining; plus the registry and `anyrecon models` behaviour without files."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

# skipped without them; found, not imported: importing diffusers costs ~4 s, which every xdist
# worker would pay at collection, while only the worker running this module needs it
if importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("safetensors") is None:
    pytest.skip("needs diffusers and safetensors", allow_module_level=True)

from engine.generate.anyrecon import AnyReconGenerator, AnyReconOptions, flow_sigmas
from engine.generate.anyrecon import files as mf
from engine.generate.anyrecon import weights as W
from engine.generate.protocol import ReferenceView, SegmentRequest
from engine.generate.registry import (
    GeneratorCache,
    GeneratorContext,
    available_generators,
    make_generator,
)
from engine.geometry import Camera
from engine.render.points import RenderResult
from tests.generate.anyrecon_tiny import HEAD_DIM, LORA_MODULES, write_tiny_models

OPTIONS = AnyReconOptions(width=32, height=32, attention_head_dim=HEAD_DIM, vae_batch=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    ref = write_tiny_models(root)
    return root, ref


def _camera(w=40, h=24):
    return Camera(np.array([[30.0, 0, w / 2], [0, 30.0, h / 2], [0, 0, 1]]), w, h)


def _guide(cam, seed, hole_cols):
    g = torch.Generator().manual_seed(seed)
    h, w = cam.height, cam.width
    mask = torch.ones(h, w, dtype=torch.bool)
    mask[:, hole_cols] = False
    color = torch.rand(h, w, 3, generator=g) * mask[..., None]
    depth = torch.where(mask, 2.0 + torch.rand(h, w, generator=g), torch.zeros(h, w))
    conf = mask.float() * 0.8
    full = lambda v, dt: torch.full((h, w), v, dtype=dt)
    return RenderResult(color, depth, mask, full(-1, torch.int32), full(-1, torch.int64), conf, full(-1, torch.int32))


def _request(segment_id, n_targets, context=()):
    cams = [_camera() for _ in range(n_targets)]
    refs = [ReferenceView(i, _camera(48, 32), np.random.default_rng(i).random((32, 48, 3), dtype=np.float32), None)
            for i in range(2)]
    return SegmentRequest(segment_id, cams, [_guide(c, 10 + i, slice(30, 40)) for i, c in enumerate(cams)],
                          refs, list(context))


def test_flow_sigmas_shift5_4steps():
    assert flow_sigmas(4, 5.0) == pytest.approx([1.0, 0.9375, 0.8333333, 0.625, 0.0], abs=1e-6)


def test_lora_merge_and_conversion_match_direct_computation(tiny):
    root, ref = tiny
    files = mf.discover(root)
    assert files.complete, files.missing
    shards = W.cached_dit_shards(files.dit_shards(), files.path(mf.LORA_FILES[0]), files.cache_dir)
    merged = W.load_safetensors(shards)
    # conversion: every diffusers key, and merged == original + B @ A for the LoRA targets
    assert set(merged) == set(ref["dit_sd"])
    diff_name = {"self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
                 "self_attn.o": "attn1.to_out.0", "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k",
                 "cross_attn.v": "attn2.to_v", "cross_attn.o": "attn2.to_out.0", "cross_attn.k_img": "attn2.add_k_proj",
                 "cross_attn.v_img": "attn2.add_v_proj", "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2"}
    lora_keys = set()
    for i in range(2):
        for m in LORA_MODULES:
            a = ref["lora"][f"blocks.{i}.{m}.lora_A.default.weight"]
            b = ref["lora"][f"blocks.{i}.{m}.lora_B.default.weight"]
            key = f"blocks.{i}.{diff_name[m]}.weight"
            lora_keys.add(key)
            w0 = ref["dit_sd"][key]
            torch.testing.assert_close(merged[key], w0 + b @ a, rtol=1e-5, atol=1e-6)
            xi = torch.randn(5, w0.shape[1])
            torch.testing.assert_close(xi @ merged[key].T, xi @ w0.T + (xi @ a.T) @ b.T, rtol=1e-4, atol=1e-5)
    for k in set(merged) - lora_keys:          # everything else is moved, not changed
        assert torch.equal(merged[k], ref["dit_sd"][k]), k
    # the converted DiT computes what the reference model computes with the LoRA applied directly
    dit = W.build_transformer(merged, "cpu", torch.float32, HEAD_DIM)
    reference = ref["dit"]
    with torch.no_grad():
        for key in lora_keys:
            mod = reference.get_submodule(key[:-len(".weight")])
            i = int(key.split(".")[1])
            m = next(m for m in LORA_MODULES if f"blocks.{i}.{diff_name[m]}.weight" == key)
            a = ref["lora"][f"blocks.{i}.{m}.lora_A.default.weight"]
            b = ref["lora"][f"blocks.{i}.{m}.lora_B.default.weight"]
            mod.weight += b @ a
        g = torch.Generator().manual_seed(5)
        inp = (torch.randn(1, 36, 3, 4, 4, generator=g), torch.tensor([900.0]),
               torch.randn(1, 512, 32, generator=g), torch.randn(1, 5, 48, generator=g))
        torch.testing.assert_close(dit(*inp, return_dict=False)[0], reference(*inp, return_dict=False)[0],
                                   rtol=1e-4, atol=1e-4)
    # the VAE converted from Wan2.1_VAE.pth's layout encodes like the reference
    vae = W.build_vae(W.load_safetensors([W.cached_vae(files.path(mf.VAE_FILE), files.cache_dir)]), "cpu")
    img = torch.rand(2, 3, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(vae.encode(img).latent_dist.mode(), ref["vae"].encode(img).latent_dist.mode())


def test_whole_path_two_chained_segments(tiny):
    root, _ = tiny
    cache = GeneratorCache()
    ctx = GeneratorContext(device="cpu", models_dir=root)
    assert "anyrecon" in available_generators(ctx)
    gen = cache.get("anyrecon", ctx, OPTIONS)
    first = list(gen.generate(_request(0, 3)))
    c1 = gen.last_condition
    assert len(first) == 3
    assert c1["frames"] == c1["latent_frames"] == 2 + 3          # K refs + T targets, T latent frames for T
    assert c1["prefix"] == 2
    assert c1["masks"].shape == (5, 4, 4)                          # 1/8 of 32x32
    assert bool(c1["masks"][:2].eq(1).all())                      # captured views: all 1
    assert 0 < float(c1["masks"][2:].mean()) < 1                   # renders: 1 where they saw something
    for f in first:
        assert f.color.shape == (24, 40, 3) and f.color.dtype == np.float32
        assert np.isfinite(f.color).all() and 0 <= f.color.min() and f.color.max() <= 1
        assert f.invented[:, 30:].all() and not f.invented[:, :30].any()
        assert (f.depth > 0).all() and np.allclose(f.confidence[:, :30], 0.8)
    # chaining: the second segment gets the first's last 2 frames as conditions with mask 1
    second = list(gen.generate(_request(1, 2, context=first)))
    c2 = gen.last_condition
    assert len(second) == 2
    assert c2["frames"] == c2["latent_frames"] == 2 + 2 + 2 and c2["prefix"] == 4
    assert bool(c2["masks"][:4].eq(1).all())
    for j, f in enumerate(first[-2:]):
        want = torch.nn.functional.interpolate(torch.as_tensor(f.color).permute(2, 0, 1)[None], size=(32, 32),
                                               mode="bilinear", align_corners=False, antialias=True)[0]
        torch.testing.assert_close(c2["pixels"][2 + j], want.clamp(0, 1) * 2 - 1)
    # deterministic (seed 1) and the generator is cached for the session
    again = list(gen.generate(_request(0, 3)))
    assert np.array_equal(again[0].color, first[0].color)
    assert cache.get("anyrecon", ctx, OPTIONS) is gen and cache.builds == 1
    # model offload (weights parked in host memory between segments) gives the same frames
    gen.enable_offload()
    assert np.array_equal(next(iter(gen.generate(_request(0, 3)))).color, first[0].color)
    # second start: the merged/converted cache and the text context are reused; T5 not needed
    (root / mf.WAN_DIR / mf.T5_FILE).rename(root / "t5-away.pth")
    try:
        assert not mf.discover(root).missing
        gen2 = AnyReconGenerator(OPTIONS, root, device="cpu")
        assert np.array_equal(next(iter(gen2.generate(_request(0, 3)))).color, first[0].color)
    finally:
        (root / "t5-away.pth").rename(root / mf.WAN_DIR / mf.T5_FILE)


def test_text_context_is_the_single_end_token_through_t5(tiny):
    from engine.generate.anyrecon.encoders import T5_END_TOKEN, constant_text_context

    _, ref = tiny
    t5 = ref["t5"]
    # direct computation with full (one-token) attention: softmax over one key is 1
    x = t5["token_embedding.weight"][T5_END_TOKEN][None]
    rms = lambda v, w: v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + 1e-6) * w
    for i in range(2):
        p = f"blocks.{i}."
        h = rms(x, t5[p + "norm1.weight"])
        q, k, v = h @ t5[p + "attn.q.weight"].T, h @ t5[p + "attn.k.weight"].T, h @ t5[p + "attn.v.weight"].T
        attn = torch.softmax((q @ k.T), -1) @ v
        x = x + attn @ t5[p + "attn.o.weight"].T
        h = rms(x, t5[p + "norm2.weight"])
        gated = (h @ t5[p + "ffn.fc1.weight"].T) * torch.nn.functional.gelu(h @ t5[p + "ffn.gate.0.weight"].T,
                                                                           approximate="tanh")
        x = x + gated @ t5[p + "ffn.fc2.weight"].T
    torch.testing.assert_close(constant_text_context(t5), rms(x, t5["norm.weight"]))


def test_missing_files_are_named_and_never_downloaded(tmp_path):
    ctx = GeneratorContext(device="cpu", models_dir=tmp_path)
    assert "anyrecon" not in available_generators(ctx)
    assert "ibr" in available_generators(ctx)
    with pytest.raises(FileNotFoundError) as err:
        make_generator("anyrecon", ctx)
    msg = str(err.value)
    for name in ("Wan2.1_VAE.pth", "diffusion_pytorch_model-00003-of-00007.safetensors", mf.CLIP_FILE, mf.T5_FILE,
                 "AnyRecon/full_attention.ckpt"):
        assert name in msg
    assert list(tmp_path.iterdir()) == []


def test_full_size_weights_on_cpu_are_a_clear_error(tmp_path):
    wan = tmp_path / mf.WAN_DIR
    wan.mkdir()
    (tmp_path / mf.LORA_DIR).mkdir()
    for name in (*mf.DIT_SHARDS, mf.VAE_FILE, mf.CLIP_FILE, mf.T5_FILE):
        with open(wan / name, "wb") as f:
            f.truncate(1 << 30)                       # sparse: 7 GB of "shards", no disk used
    (tmp_path / mf.LORA_DIR / mf.LORA_FILES[0]).write_bytes(b"")
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        make_generator("anyrecon", GeneratorContext(device="cpu", models_dir=tmp_path))


def test_models_command_lists_found_missing_and_licenses(tiny, tmp_path, capsys):
    from engine.cli import main

    assert main(["models", "--models-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "missing" in out and "Wan2.1_VAE.pth" in out and "Apache-2.0" in out and str(tmp_path) in out
    root, _ = tiny
    assert main(["models", "--models-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "anyrecon: ready" in out


def test_closed_loop_with_tiny_weights(tiny, capture):
    """The generator inside engine.generate.loop on the synthetic capture: every frame comes
    back at its camera's size, holes are marked invented, and the loop fuses what it adds."""
    from engine.events import FrameGenerated, SegmentFinished
    from engine.generate.loop import LoopOptions, generate_path
    from tests.conftest import between_poses

    root, _ = tiny
    gen = make_generator("anyrecon", GeneratorContext(device="cpu", models_dir=root), OPTIONS)
    mem = capture.memory(0.05)
    cams = between_poses(capture.cameras)[:4]
    events = list(generate_path(mem, capture.views, cams, gen,
                                LoopOptions(segment_length=2, top_k=2, context_frames=gen.context_frames)))
    frames = [e.frame for e in events if isinstance(e, FrameGenerated)]
    assert len(frames) == 4 and len([e for e in events if isinstance(e, SegmentFinished)]) == 2
    assert all(f.color.shape == (c.height, c.width, 3) for f, c in zip(frames, cams))
    assert gen.last_condition["prefix"] == 2 + 2          # 2 retrieved views + the first segment's 2 frames
