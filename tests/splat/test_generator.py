"""The ``splat`` generator inside the closed loop."""
from __future__ import annotations

import numpy as np

from engine.events import FrameGenerated
from engine.generate import make_generator
from engine.generate.loop import LoopOptions, generate_path
from engine.metrics import psnr
from engine.render.points import render_memory
from engine.splat.generator import SplatGenerator, SplatGeneratorOptions
from tests.conftest import between_poses
from tests.splat.conftest import tiny_memory


def test_registered():
    gen = make_generator("splat", device="cpu")
    assert isinstance(gen, SplatGenerator) and gen.name == "splat"


def test_splat_generator_in_the_loop(tiny_capture):
    mem = tiny_memory(tiny_capture, 0.3)
    targets = between_poses(tiny_capture.cameras[2:7], lift=(0.0, -0.05, 0.1))     # 4 novel views
    # few steps: what is checked is that it trains between segments (the step count) and that
    # its frames beat the memory's point render (measured 2.4 dB at 20 + 5 steps, 3.0 dB at
    # 60 + 15; the splats initialised from the memory already do: the margin does not need steps)
    gen = SplatGenerator(SplatGeneratorOptions(bootstrap_iterations=20, iterations_per_segment=5,
                                               max_bootstrap_points=800), device="cpu")
    events = list(generate_path(mem, tiny_capture.views, targets, gen, LoopOptions(segment_length=2, top_k=3)))
    frames = [e.frame for e in events if isinstance(e, FrameGenerated)]
    assert len(frames) == 4
    assert gen.trainer.step == 20 + 2 * 5                           # trained between segments
    generated = [v for v in gen.trainer.train_views if v.source == "generated"]
    assert len(generated) == 4
    for f, v in zip(frames, generated):
        assert f.color.shape == (36, 64, 3) and f.depth.shape == (36, 64) and f.invented.dtype == bool
        w = v.weight.numpy()
        assert np.allclose(w[f.invented], 0.1) and np.allclose(w[~f.invented], 0.5)
    gt = [tiny_capture.scene.render(c).rgb for c in targets]
    mem_psnr = np.mean([psnr(render_memory(tiny_memory(tiny_capture, 0.3), c).numpy().color, g)
                        for c, g in zip(targets, gt)])
    gen_psnr = np.mean([psnr(f.color, g) for f, g in zip(frames, gt)])
    assert gen_psnr > mem_psnr + 1.0, (gen_psnr, mem_psnr)


def test_splat_generator_starts_from_the_trained_project(tiny_project):
    from engine.session import run_job
    from engine.workflows import Workspace
    from engine.splat.checkpoint import load_trained_splats
    from engine.splat.job import splat_train_job

    state = Workspace(project=tiny_project, saved=True)
    run_job(splat_train_job(30, device="cpu"), state)
    trained = load_trained_splats(tiny_project.root)
    targets = between_poses(tiny_project.views.cameras[2:4], lift=(0.0, -0.05, 0.1))
    gen = SplatGenerator(SplatGeneratorOptions(iterations_per_segment=0), device="cpu",
                         project_root=tiny_project.root)
    events = list(generate_path(tiny_project.memory, tiny_project.views, targets, gen, LoopOptions(top_k=2)))
    assert sum(isinstance(e, FrameGenerated) for e in events) == 1
    assert gen.trainer.num_splats == len(trained)
    assert np.allclose(gen.trainer.splats().means, trained.means)
