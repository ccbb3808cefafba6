"""The Pi3 tracking backend on CPU with a tiny random checkpoint the test writes in the
published key layout (tests/tracking/pi3_tiny.py): strict key loading, the network's pieces
against the original formulas, chunk alignment, conventions, and the whole tracking path
(load, chunked inference, cameras and depth into the memory through the seams)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("safetensors")

from engine.geometry import Camera
from engine.tracking.pi3 import weights as pw
from engine.tracking.pi3.backend import FramePrediction, Pi3PoseBackend, moved, similarity_from_overlap
from engine.tracking.pi3.network import apply_rope, rope_tables, rotation_from_9d
from engine.tracking.pi3.options import Pi3Options
from engine.tracking.pi3.predict import fit_focal, working_size
from tests.tracking.pi3_tiny import layout, tiny_state_dict, write_tiny_pi3

SMALL = Pi3Options(batch=5, overlap=2, max_pixels=70 * 42, sparse_per_view=50)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    write_tiny_pi3(root)
    return root


def test_every_checkpoint_key_is_consumed(models):
    path = pw.checkpoint_path(models)
    model = pw.load_pi3(path)
    sd = tiny_state_dict()
    assert set(model.state_dict()) == set(sd)            # nothing left over on either side
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert model.cfg.dec_heads == 2 and model.cfg.enc_depth == 2 and model.cfg.head_depth == 1
    assert pw.discover(models).ready


def test_full_size_layout_has_the_published_shapes():
    from engine.tracking.pi3.network import Pi3, Pi3Config

    with torch.device("meta"):
        sd = Pi3(Pi3Config.full()).state_dict()
    assert sum(v.numel() for v in sd.values()) == pytest.approx(959e6, rel=0.01)
    assert tuple(sd["encoder.pos_embed"].shape) == (1, 37 * 37 + 1, 1024)
    assert tuple(sd["decoder.35.attn.q_norm.weight"].shape) == (64,)
    assert tuple(sd["point_head.proj.weight"].shape) == (3 * 14 * 14, 1024)
    assert tuple(sd["camera_head.fc_rot.weight"].shape) == (9, 512)
    assert pw.config_from_shapes({k: tuple(v.shape) for k, v in sd.items()}) == Pi3Config.full()


@pytest.mark.parametrize("change", ["missing", "unexpected", "shape"])
def test_a_mismatched_checkpoint_is_a_clear_error(tmp_path, change):
    sd = tiny_state_dict()
    if change == "missing":
        del sd["decoder.1.ls2.gamma"]
        name = "decoder.1.ls2.gamma"
    elif change == "unexpected":
        sd["encoder.mask_token"] = torch.zeros(1, 64)
        name = "encoder.mask_token"
    else:
        sd["camera_head.fc_t.weight"] = torch.zeros(4, 32)
        name = "camera_head.fc_t.weight"
    path = write_tiny_pi3(tmp_path, state_dict=sd)
    with pytest.raises(ValueError, match=name) as err:
        pw.load_pi3(path)
    assert str(path) in str(err.value)
    status = pw.discover(tmp_path)
    assert not status.ready and name in status.problem


def test_missing_file_and_pickles_are_refused(tmp_path):
    status = pw.discover(tmp_path)
    assert not status.ready and "Pi3/model.safetensors" in status.problem
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        Pi3PoseBackend.from_models_dir(tmp_path, "cpu", True)
    pth = tmp_path / "model.pth"
    torch.save(tiny_state_dict(), pth)
    with pytest.raises(ValueError, match="safetensors"):
        pw.load_pi3(pth)
    not_pi3 = write_tiny_pi3(tmp_path / "other", state_dict={"blocks.0.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match="not a Pi3 checkpoint"):
        pw.load_pi3(not_pi3)


def _rope_original(tokens, positions, base=100.0):
    """Their pure-torch RoPE2D (embedding lookups of cos/sin tables), written out here."""
    D = tokens.size(3) // 2
    inv_freq = 1.0 / (base ** (torch.arange(0, D, 2).float() / D))
    t = torch.arange(int(positions.max()) + 1, dtype=inv_freq.dtype)
    freqs = torch.cat([torch.einsum("i,j->ij", t, inv_freq)] * 2, dim=-1)
    cos, sin = freqs.cos(), freqs.sin()

    def rot(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def one(x, p):
        c = torch.nn.functional.embedding(p, cos)[:, None]
        s = torch.nn.functional.embedding(p, sin)[:, None]
        return x * c + rot(x) * s

    y, x = tokens.chunk(2, dim=-1)
    return torch.cat([one(y, positions[:, :, 0]), one(x, positions[:, :, 1])], dim=-1)


def test_rope_matches_the_original_formula():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 3, 11, 32, generator=g)
    pos = torch.randint(0, 9, (2, 11, 2), generator=g)
    ours = apply_rope(tokens, rope_tables(pos, 32, 100.0, tokens.dtype))
    assert torch.allclose(ours, _rope_original(tokens, pos), atol=1e-5)


def test_rotation_from_9d_is_the_nearest_rotation():
    g = torch.Generator().manual_seed(1)
    r = rotation_from_9d(torch.randn(16, 9, generator=g))
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(16, 3, 3), atol=1e-5)
    assert torch.allclose(torch.det(r), torch.ones(16), atol=1e-5)
    assert torch.allclose(rotation_from_9d(r.reshape(16, 9)), r, atol=1e-5)   # a rotation stays itself


def _pred(wfc, depth):
    h, w = depth.shape
    return FramePrediction(wfc, np.array([[50.0, 0, w / 2], [0, 50, h / 2], [0, 0, 1]]), depth,
                           np.ones_like(depth), np.zeros((h, w, 3), np.uint8))


def test_overlap_frames_give_the_batch_to_world_similarity():
    rng = np.random.default_rng(0)
    s, ang = 2.5, 0.7
    R = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
    t = np.array([0.3, -1.0, 2.0])
    batch, world = [], []
    for i in range(3):
        wfc = np.eye(4)
        wfc[:3, :3] = rotation_from_9d(torch.tensor(rng.normal(size=(1, 9)))).numpy()[0]
        wfc[:3, 3] = rng.normal(size=3)
        p = _pred(wfc, rng.uniform(1, 3, size=(6, 8)).astype(np.float32))
        batch.append(p)
        world.append(moved(p, s, R, t))
    s2, R2, t2 = similarity_from_overlap(world, batch, 0.1)
    assert s2 == pytest.approx(s, rel=1e-5)
    assert np.allclose(R2, R, atol=1e-6) and np.allclose(t2, t, atol=1e-5)


def test_focal_fit_recovers_the_pinhole():
    h, w, f = 30, 40, 37.0
    v, u = np.mgrid[0:h, 0:w] + 0.5
    z = np.random.default_rng(0).uniform(1, 4, size=(h, w))
    pts = np.stack([(u - w / 2) / f * z, (v - h / 2) / f * z, z], axis=-1)
    assert fit_focal(pts, np.ones((h, w))) == pytest.approx(f, rel=1e-6)
    assert working_size(320, 180, 255_000) == (672, 378)      # the original demo's sizes
    assert all(x % 14 == 0 for x in working_size(333, 101, 5000))


class _Frame:
    def __init__(self, name, image):
        self.name, self.image, self.index = name, image, int(name[-3:])


def test_chunked_backend_cameras_follow_the_conventions(models):
    rng = np.random.default_rng(0)
    frames = [_Frame(f"frame_{i:03d}", rng.integers(0, 255, (60, 100, 3), dtype=np.uint8)) for i in range(9)]
    backend = Pi3PoseBackend.from_models_dir(models, "cpu", True, SMALL)
    backend.add_frames(frames[:4])
    first = backend.solve()
    assert first.registered == [f.name for f in frames[:4]]
    assert np.allclose(first.cameras["frame_000"].world_from_cam, np.eye(4))   # the world is frame 0's camera
    backend.add_frames(frames[4:])          # 5 new frames: two batches, each led by 2 placed frames
    result = backend.solve()
    assert result.registered == [f.name for f in frames] and not result.unregistered
    for n in first.registered:              # placed frames never move
        assert np.array_equal(result.cameras[n].world_from_cam, first.cameras[n].world_from_cam)
    cam = result.cameras["frame_005"]
    assert (cam.width, cam.height) == (100, 60)
    assert cam.K[0, 2] == pytest.approx(50) and cam.K[1, 2] == pytest.approx(30)   # centered at frame size
    R = cam.world_from_cam[:3, :3]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-6) and np.linalg.det(R) == pytest.approx(1.0)
    # sparse points are depth samples: in front of (+z) and inside the frame of the view they came from
    pts, tracks = result.points.xyz, result.points.tracks
    for k in range(0, len(pts), 37):
        view = result.cameras[result.registered[int(tracks[k][0])]]
        uv, z = view.project(pts[k:k + 1])
        assert z[0] > 0 and 0 <= uv[0, 0] <= 100 and 0 <= uv[0, 1] <= 60


def test_track_with_pi3_puts_cameras_and_depth_into_the_memory(models, demo_video):
    from engine.ingest import IngestOptions
    from engine.tracking.pipeline import TrackOptions, track_job
    from engine.workflows import Workspace

    opts = TrackOptions(ingest=IngestOptions(stride=3), pose_backend="pi3", depth_backend="pi3",
                        models_dir=models, pi3=SMALL, first_chunk=4, chunk_size=4, steps=None,
                        register_leftovers=False, fuse_stride=2, voxel_size=0.05, device="cpu")
    events = []
    job = track_job(demo_video, opts)(Workspace(), None)
    try:
        while True:
            events.append(next(job))
    except StopIteration as stop:
        result = stop.value
    assert len(result.registered) == 8 and not result.unregistered
    assert len(result.memory) > 100
    names = {type(e).__name__ for e in events}
    assert {"CamerasChanged", "MemoryChanged"} <= names
    view = result.views[0]
    assert np.allclose(view.camera.world_from_cam, np.eye(4))
    assert view.depth is not None and view.depth.shape == (view.camera.height, view.camera.width)
    assert (view.depth > 0).mean() > 0.5 and view.confidence.max() <= 1.0


def test_depth_backend_pi3_needs_the_pi3_pose_backend():
    from engine.tracking.depth_backend import make_depth_backend

    with pytest.raises(ValueError, match="pose backend 'pi3'"):
        make_depth_backend("pi3")


def test_models_command_and_track_option(models, tmp_path, capsys, demo_video):
    from engine.cli import main

    assert main(["models", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert f"found    {models / 'Pi3' / 'model.safetensors'}" in out and "CC BY-NC 4.0" in out
    assert main(["models", "--models", str(tmp_path)]) == 1
    assert f"MISSING  {tmp_path / 'Pi3' / 'model.safetensors'}" in capsys.readouterr().out
    code = main(["track", str(demo_video), "--out", str(tmp_path / "p"), "--pose-backend", "pi3",
                 "--models", str(tmp_path / "empty")])
    assert code == 2
    assert str(tmp_path / "empty" / "Pi3" / "model.safetensors") in capsys.readouterr().err
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())
    assert layout()                         # the writer's table is not empty


def test_depth_maps_come_at_the_dense_working_size(models):
    from engine.tracking.pi3.backend import Pi3DepthBackend

    rng = np.random.default_rng(1)
    frames = [_Frame(f"frame_{i:03d}", rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)) for i in range(3)]
    pose = Pi3PoseBackend.from_models_dir(models, "cpu", True, replace_opts(max_pixels=112 * 70))
    pose.add_frames(frames)
    cams = {i: c for i, c in enumerate(pose.solve().cameras.values())}
    imgs = {i: f.image for i, f in enumerate(frames)}
    full = list(Pi3DepthBackend(pose).estimate([0, 1], cams, imgs))
    small = list(Pi3DepthBackend(pose, max_side=56).estimate([0, 1], cams, imgs))
    assert full[0].depth.shape == (70, 112) and small[0].depth.shape == (35, 56)
    assert small[0].camera.K[0, 0] == pytest.approx(full[0].camera.K[0, 0] / 2)
    assert np.allclose(small[0].camera.world_from_cam, cams[0].world_from_cam)
    # the same world point from both maps: pixel (1, 1) of the half-size map covers (2..3, 2..3)
    p_small = small[0].camera.backproject_points(np.array([[1.5, 1.5]]), np.array([small[0].depth[1, 1]]))
    uv, _ = full[0].camera.project(p_small)
    assert np.allclose(uv, [[3.0, 3.0]], atol=1e-6)


def replace_opts(**kw) -> Pi3Options:
    from dataclasses import replace

    return replace(SMALL, **kw)


def test_engine_settings_choose_the_tracker_of_new_captures(models, tmp_path):
    from engine.workflows import Workspace
    from engine.workflows.models import set_models_dir, set_pose_backend
    from engine.tracking.depth_backend import DEFAULT_DEPTH_BACKEND
    from engine.workflows.scene import _default_track_options

    ws = Workspace()
    with pytest.raises(ValueError, match="Pi3/model.safetensors"):
        set_models_dir(ws, tmp_path) and set_pose_backend(ws, "pi3")
    set_models_dir(ws, models)
    assert set_pose_backend(ws, "pi3").pose_backend == "pi3"
    opts = _default_track_options(ws.settings)
    assert (opts.pose_backend, opts.depth_backend, opts.models_dir) == ("pi3", "pi3", models)
    assert set_models_dir(ws, tmp_path).pose_backend == "colmap"      # its file is not in the new folder
    assert _default_track_options(ws.settings).depth_backend == DEFAULT_DEPTH_BACKEND


def test_forget_model_starts_a_new_world_with_every_frame(models):
    rng = np.random.default_rng(2)
    frames = [_Frame(f"frame_{i:03d}", rng.integers(0, 255, (60, 100, 3), dtype=np.uint8)) for i in range(5)]
    backend = Pi3PoseBackend.from_models_dir(models, "cpu", True, SMALL)
    backend.add_frames(frames[:3])
    backend.forget_model()
    backend.add_frames(frames[3:])
    result = backend.solve()
    assert result.registered == [f.name for f in frames]
    assert np.allclose(result.cameras["frame_000"].world_from_cam, np.eye(4))
