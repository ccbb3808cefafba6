"""The ``auto`` generator (the default): the surface generator's frames without splats (or on
the CPU), the trained splats where they are confident when the project has them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.events import FrameGenerated
from engine.generate import make_generator
from engine.generate.auto import AutoGenerator, AutoGeneratorOptions
from engine.generate.loop import LoopOptions, generate_path
from engine.generate.registry import DEFAULT_GENERATOR, GeneratorContext
from tests.conftest import between_poses
from tests.splat.conftest import tiny_capture, tiny_project  # noqa: F401 (fixtures)


def _frames(project, gen, targets):
    opts = LoopOptions(segment_length=len(targets), fuse_generated=False, top_k=4)
    return [e.frame for e in generate_path(project.memory, project.views, targets, gen, opts)
            if isinstance(e, FrameGenerated)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_capture):  # noqa: F811
    """The tiny project with splats trained for a few steps (torch rasterizer, CPU)."""
    from engine.project import Project
    from engine.session import run_job
    from engine.splat.job import splat_train_job
    from engine.workflows import Workspace
    from tests.splat.conftest import tiny_memory

    project = Project(tmp_path_factory.mktemp("auto") / "proj", "tiny", tiny_capture.views, tiny_memory(tiny_capture))
    project.save()
    run_job(splat_train_job(40, device="cpu"), Workspace(project=project, saved=True))
    return project


def test_auto_is_the_default_and_is_the_surface_generator_without_splats(tiny_project):  # noqa: F811
    assert DEFAULT_GENERATOR == "auto"
    targets = between_poses(tiny_project.views.cameras[2:5], lift=(0.0, -0.05, 0.1))[:2]
    auto = make_generator("auto", GeneratorContext(device="cpu", project_root=tiny_project.root))
    assert not auto.uses_splats                      # the project has no splats
    a = _frames(tiny_project, auto, targets)
    s = _frames(tiny_project, make_generator("surface", device="cpu"), targets)
    assert len(a) == len(s) == 2
    for fa, fs in zip(a, s):
        assert np.array_equal(fa.color, fs.color) and np.array_equal(fa.depth, fs.depth)
        assert np.array_equal(fa.invented, fs.invented) and np.array_equal(fa.confidence, fs.confidence)


def test_on_the_cpu_trained_splats_are_not_used_by_default(trained):
    auto = make_generator("auto", GeneratorContext(device="cpu", project_root=trained.root))
    assert not auto.uses_splats
    forced = make_generator("auto", GeneratorContext(device="cpu", project_root=trained.root), {"splats": "always"})
    assert forced.uses_splats


def test_with_splats_auto_takes_them_where_they_are_confident(trained):
    from engine.splat.checkpoint import load_trained_splats
    from engine.splat.render import render_splats

    cams = trained.views.cameras
    targets = between_poses(cams[2:4], lift=(0.0, -0.02, 0.05))[:1]
    # photo_weight 0: confident pixels are exactly the splat render
    opts = AutoGeneratorOptions(splats="always", photo_weight=0.0, iterations_per_segment=0, confident_alpha=0.8)
    auto = AutoGenerator(opts, device="cpu", project_root=trained.root)
    frame = _frames(trained, auto, targets)[0]
    ref = render_splats(load_trained_splats(trained.root), targets[0], "cpu", backend="torch")
    confident = ref["alpha"] >= 0.8
    assert auto.last_stats["splats"] > 0.3, auto.last_stats
    assert confident.mean() > 0.3
    # the generator's own confident set is the opaque pixels that agree with the memory surface
    share = auto.last_stats["splats"]
    assert share <= confident.mean() + 1e-6
    close = np.abs(frame.color - np.clip(ref["color"], 0, 1)).max(-1) < 1e-4
    assert close[confident].mean() >= 0.9 * share / confident.mean()
    surface = _frames(trained, make_generator("surface", device="cpu"), targets)[0]
    assert not np.allclose(frame.color, surface.color, atol=1e-3)   # not the surface frame
    assert not frame.invented[confident].any()


def test_photos_add_detail_only_where_they_agree(trained):
    targets = between_poses(trained.views.cameras[2:4], lift=(0.0, -0.02, 0.05))[:1]
    base = {"splats": "always", "iterations_per_segment": 0, "confident_alpha": 0.8}
    only = _frames(trained, AutoGenerator(AutoGeneratorOptions(photo_weight=0.0, **base), "cpu", trained.root),
                   targets)[0]
    auto = AutoGenerator(AutoGeneratorOptions(photo_weight=1.0, agree_sigma=1e-6, **base), "cpu", trained.root)
    strict = _frames(trained, auto, targets)[0]
    # an agreement scale of ~0: no photo sample agrees, the frame is the splat frame
    assert np.allclose(strict.color, only.color, atol=1e-5)
    loose = AutoGenerator(AutoGeneratorOptions(photo_weight=1.0, agree_sigma=10.0, **base), "cpu", trained.root)
    mixed = _frames(trained, loose, targets)[0]
    assert loose.last_stats["photos"] > 0.1
    assert np.abs(mixed.color - only.color).max() > 1e-3


def test_options_are_checked():
    with pytest.raises(ValueError, match="splats"):
        AutoGeneratorOptions(splats="sometimes")
    assert torch.device("cpu") == AutoGenerator(device="cpu").device


def test_fill_on_the_splat_path_works_at_fill_work_pixels(monkeypatch):
    """auto's fill of the splat path: PatchMatch at most ``fill_work_pixels`` (a larger box of
    holes at a lower scale); None keeps the surface generator's work size; a few holes: Telea."""
    import engine.generate.auto as auto_mod
    from engine.generate.fill import FillResult
    from engine.generate.protocol import GeneratedFrame
    from engine.geometry import Camera

    seen = []

    guides = []

    def fake_fill(color, holes, depth, options, camera=None, up=None):
        seen.append(options)
        guides.append((camera, up))
        return FillResult(np.full_like(color, 0.5), options.method)

    monkeypatch.setattr(auto_mod, "fill_holes", fake_fill)
    cam = Camera(np.array([[20.0, 0, 16], [0, 20.0, 8], [0, 0, 1]]), 32, 16)
    holes = np.zeros((16, 32), bool)
    holes[4:8, :6] = True
    frame = GeneratedFrame(cam, np.zeros((16, 32, 3), np.float32), np.ones((16, 32), np.float32),
                           np.ones((16, 32), np.float32), holes.copy())
    surface_work = AutoGeneratorOptions().surface.fill.max_work_pixels
    filled = AutoGenerator(AutoGeneratorOptions(), "cpu")._fill((frame, holes, False))
    assert seen[-1].max_work_pixels == 20_000 < surface_work and seen[-1].method == "patchmatch"
    assert np.all(filled.color[holes] == 0.5) and filled.color is not frame.color
    assert guides[-1][0] is cam          # the frame's camera reaches the fill (elevation guide)
    AutoGenerator(AutoGeneratorOptions(fill_work_pixels=None), "cpu")._fill((frame, holes, False))
    assert seen[-1].max_work_pixels == surface_work
    AutoGenerator(AutoGeneratorOptions(fill_work_pixels=10**9), "cpu")._fill((frame, holes, True))
    assert seen[-1].max_work_pixels == surface_work and seen[-1].method == "telea"
    with pytest.raises(ValueError, match="fill_work_pixels"):
        AutoGeneratorOptions(fill_work_pixels=0)


def test_fills_on_threads_keep_the_frame_order_and_training_runs_after_the_segment(trained):
    """fill_lag > 0: frames leave in order (the first equal to the in-line one: same previous
    frame); async_learn: the segment's training steps run on a thread, joined when the path ends."""
    targets = between_poses(trained.views.cameras[2:6], lift=(0.0, -0.05, 0.1))[:3]
    assert len(targets) == 3
    base = {"splats": "always", "confident_alpha": 0.8}
    inline = AutoGenerator(AutoGeneratorOptions(fill_lag=0, iterations_per_segment=0, **base), "cpu", trained.root)
    a = _frames(trained, inline, targets)
    piped = AutoGenerator(AutoGeneratorOptions(fill_lag=2, iterations_per_segment=2, async_learn=True, **base),
                          "cpu", trained.root)
    b = _frames(trained, piped, targets)
    step = inline._splat_generator().trainer.step          # the checkpoint's step (no steps in line)
    trainer = piped._splat_generator().trainer
    assert [f.camera for f in b] == [f.camera for f in a] == list(targets)
    assert np.array_equal(a[0].color, b[0].color) and np.array_equal(a[0].invented, b[0].invented)
    # the path ends when the segment's training steps do (generate_path settles the generator)
    assert trainer.step >= step + 2 and piped._learner is None
    assert sum(v.source == "generated" for v in trainer.train_views) == len(targets)   # the segment's frames joined
    with pytest.raises(ValueError, match="fill_lag"):
        AutoGeneratorOptions(fill_lag=-1)


def test_training_during_the_segment_keeps_the_frames_and_leaves_no_thread(trained):
    """async_learn: the segment's steps run on a thread while it is generated, yet its frames
    are those of the in-line order (rendered from the splats as they were at its start); all
    steps run, the frames join the training views, and no thread of the generator outlives
    the path."""
    import threading

    targets = between_poses(trained.views.cameras[2:6], lift=(0.0, -0.05, 0.1))[:3]
    base = {"splats": "always", "confident_alpha": 0.8, "fill_lag": 1, "iterations_per_segment": 4}
    inline = AutoGenerator(AutoGeneratorOptions(async_learn=False, **base), "cpu", trained.root)
    a = _frames(trained, inline, targets)
    during = AutoGenerator(AutoGeneratorOptions(async_learn=True, **base), "cpu", trained.root)
    b = _frames(trained, during, targets)
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.color, fb.color) and np.array_equal(fa.depth, fb.depth)
    ta, tb = inline._splat_generator().trainer, during._splat_generator().trainer
    assert tb.step == ta.step and len(tb.train_views) == len(ta.train_views)
    assert sum(v.source == "generated" for v in tb.train_views) == len(targets)
    assert not [t for t in threading.enumerate() if t.name.startswith(("auto-learn", "auto-fill"))]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_during_the_segment_on_cuda(trained):
    """The same on CUDA, where the steps run on a stream of their own next to the engine
    thread's renders (not run on the CPU-only CI)."""
    import threading

    targets = between_poses(trained.views.cameras[2:6], lift=(0.0, -0.05, 0.1))[:3]
    base = {"splats": "always", "confident_alpha": 0.8, "fill_lag": 1, "iterations_per_segment": 6}
    inline = AutoGenerator(AutoGeneratorOptions(async_learn=False, **base), "cuda", trained.root)
    during = AutoGenerator(AutoGeneratorOptions(async_learn=True, **base), "cuda", trained.root)
    a = _frames(trained, inline, targets)
    b = _frames(trained, during, targets)
    for fa, fb in zip(a, b):
        assert np.allclose(fa.color, fb.color, atol=1e-3) and np.allclose(fa.depth, fb.depth, rtol=1e-3, atol=1e-4)
    # a second segment starts from the splats the first one's steps trained (the two runs
    # drew different views for their steps: their frames differ from here on)
    assert len(_frames(trained, during, targets)) == len(targets) and _frames(trained, inline, targets)
    ta, tb = inline._splat_generator().trainer, during._splat_generator().trainer
    assert tb.step == ta.step and len(tb.train_views) == len(ta.train_views)
    assert not [t for t in threading.enumerate() if t.name.startswith(("auto-learn", "auto-fill"))]


def _fresh_memory(project, views: int = 3):
    """A memory of the first ``views`` captured views only (finer voxels): a path beyond them
    fuses new points."""
    from engine.memory import GeometryMemory

    mem = GeometryMemory(0.2, device="cpu")
    for i, v in enumerate(list(project.views)[:views]):
        mem.insert_depth(v.camera, v.depth, v.image, view=i, stride=2)
    return mem


def test_frames_kept_on_the_device_are_the_frames_and_fuse_the_same_points(trained, tmp_path):
    """The device path of the GPU job (the surface pass's tensors, the previous frame's source
    and the fuse from the tensors kept of each frame, the viewer's uint8 made there) gives the
    frames and the memory of the numpy path (downloads, re-uploads), bit for bit: here on the
    CPU, where both run the same float32 operations."""
    from engine.events import FrameGenerated as FG
    from engine.generate.lumigraph import make_source
    from engine.project import write_image
    from engine.workflows.generate import _with_viewer_images

    png = (tmp_path / "float.png", tmp_path / "u8.png")

    targets = between_poses(trained.views.cameras[2:8], lift=(0.3, -0.4, -0.6))[:4]
    opts = AutoGeneratorOptions(splats="always", confident_alpha=0.8, fill_lag=1, iterations_per_segment=0)
    runs = []
    for keep in (False, True):
        gen = AutoGenerator(opts, "cpu", trained.root)
        hits, rest_pass = [], gen._rest.render_frame
        if not keep:
            gen.frame_on_device = lambda frame: None        # every consumer takes the numpy arrays

        def checked(*args, **kw):
            # the surface pass on the device returns what it would download
            ref = rest_pass(*args, **{**kw, "on_device": False})
            out = rest_pass(*args, **kw)      # (last: it leaves its holes in last_holes)
            for t, a in zip(out, (ref.color, ref.depth, ref.confidence, ref.invented)):
                assert np.array_equal(t.numpy(), a)
            if kw.get("prev_source") is not None:
                prev = args[3]
                src = make_source(prev.camera, prev.color, prev.depth, "cpu", prev.invented)
                hits.append("previous")
                for f in ("image", "depth", "measured", "center", "invented"):
                    assert torch.equal(getattr(kw["prev_source"], f), getattr(src, f)), f
            return out
        gen._rest.render_frame = checked
        mem = _fresh_memory(trained)
        before = len(mem)
        frames, viewer = [], []
        for e in generate_path(mem, trained.views, targets, gen, LoopOptions(segment_length=3, top_k=4)):
            if isinstance(e, FG):
                frames.append(e.frame)
                if keep:
                    assert gen.frame_on_device(e.frame) is not None
                u8 = _with_viewer_images(e, gen.frame_on_device(e.frame)).color_u8
                viewer.append(u8)
                # the PNG written from the viewer's uint8 is the one written from the float frame
                write_image(png[0], e.frame.color)
                write_image(png[1], u8)
                assert png[0].read_bytes() == png[1].read_bytes()
        if keep:
            assert len(hits) >= 1 and gen.frame_on_device(frames[-1]) is None   # settled: none kept after the path
        runs.append((frames, mem.snapshot(), viewer, len(mem) - before))
    (fa, ma, va, grown), (fb, mb, vb, _) = runs
    assert grown > 0 and any(f.invented.any() for f in fa)      # the fuse added points, the fill ran
    for a, b in zip(fa, fb):
        for k in ("color", "depth", "confidence", "invented"):
            assert np.array_equal(getattr(a, k), getattr(b, k)), k
    for k in ("xyz", "rgb", "conf", "normal", "view", "segment"):
        assert np.array_equal(getattr(ma, k), getattr(mb, k)), k
    for a, b in zip(va, vb):
        assert a.dtype == np.uint8 and np.array_equal(a, b)


def test_warm_pays_the_first_generate_costs_and_changes_nothing(trained):
    """``warm`` (run by the studio when a scene with splats opens): the splats are loaded and
    throwaway frames run through the device path, yet the memory, the splats' parameters and
    step stay, no thread is left, and the Generate after it gives the frames of a cold one."""
    import threading

    from engine.splat.checkpoint import load_trained_splats
    from engine.workflows import Workspace, warm_generator_job
    from engine.session import run_job

    targets = between_poses(trained.views.cameras[2:6], lift=(0.0, -0.05, 0.1))[:3]
    opts = AutoGeneratorOptions(splats="always", confident_alpha=0.8, fill_lag=1, iterations_per_segment=2)
    cold = AutoGenerator(opts, "cpu", trained.root)
    a = _frames(trained, cold, targets)
    warmed = AutoGenerator(opts, "cpu", trained.root)
    n, version = len(trained.memory), trained.memory.version
    assert warmed.warm(trained.memory, trained.views)
    assert len(trained.memory) == n and trained.memory.version == version
    trainer = warmed._splat.trainer
    means = load_trained_splats(trained.root).means
    assert torch.equal(trainer.params["means"].detach().cpu(), torch.as_tensor(means).float().cpu())
    step = trainer.step
    assert not warmed._on_device and warmed._learner is None
    assert not [t for t in threading.enumerate() if t.name.startswith(("auto-learn", "auto-fill"))]
    b = _frames(trained, warmed, targets)
    assert trainer.step == step + 2 == cold._splat.trainer.step    # no training step in the warm-up
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.color, fb.color) and np.array_equal(fa.depth, fb.depth)
        assert np.array_equal(fa.invented, fb.invented) and np.array_equal(fa.confidence, fb.confidence)

    # the workflow: the workspace's cached generator is the one warmed; nothing to do on the
    # CPU path (auto without splats there)
    ws = Workspace(project=trained, saved=True)
    assert not run_job(warm_generator_job(), ws).warmed
    from engine.workflows import GenerateOptions

    forced = GenerateOptions(generator_options={"splats": "always", "confident_alpha": 0.8})
    result = run_job(warm_generator_job(forced), ws)
    assert result.warmed and result.seconds > 0 and len(trained.memory) == n
    gen = ws.generators.get("auto", ws.generator_context(), forced.generator_options)
    assert gen._splat is not None and gen._splat.trainer is not None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_warm_on_cuda_changes_nothing(trained):
    """The warm-up on CUDA (where it matters; not run on the CPU-only CI): the memory and the
    splats' step stay, and the first Generate after it gives the frames of a cold one."""
    targets = between_poses(trained.views.cameras[2:6], lift=(0.0, -0.05, 0.1))[:3]
    opts = AutoGeneratorOptions(splats="always", confident_alpha=0.8, fill_lag=1, iterations_per_segment=2)
    cold = AutoGenerator(opts, "cuda", trained.root)
    a = _frames(trained, cold, targets)
    warmed = AutoGenerator(opts, "cuda", trained.root)
    n = len(trained.memory)
    assert warmed.warm(trained.memory, trained.views) and len(trained.memory) == n
    step = warmed._splat.trainer.step
    b = _frames(trained, warmed, targets)
    assert warmed._splat.trainer.step == step + 2 == cold._splat.trainer.step
    for fa, fb in zip(a, b):
        assert np.allclose(fa.color, fb.color, atol=1e-4) and np.allclose(fa.depth, fb.depth, rtol=1e-4, atol=1e-5)
