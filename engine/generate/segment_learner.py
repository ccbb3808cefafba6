"""A segment's splat training steps, run *while* the segment's frames are generated.

The ``auto`` generator trains its splats after every segment on what the segment produced
(``iterations_per_segment`` steps; the frames join the training views). Run after the last
frame, those steps are time the Generate job waits for (0.4-0.5 s per 40-frame segment on an
H200). :class:`SegmentLearner` runs them on a thread of its own, on a CUDA stream of its own,
from the segment's first frame on:

- **Same frames.** The generator renders the segment from a *snapshot* of the splats' parameters
  taken at the segment's start (:func:`snapshot_params`), so its frames are those of the
  in-line order (training after the segment); the steps update the live parameters.
- **Same steps.** All ``steps`` run, each one the trainer's own step (loss, Adam, densification).
  Step ``j`` (0-based) starts once ``ceil((j + 1) * n / steps)`` of the segment's ``n`` frames
  are out, so the steps keep pace with the frames and only the last one or two remain after
  the last frame. Views: after the segment, each step would draw from the old training views
  plus the segment's ``n`` frames (the trainer's shuffled order); here each step draws a frame
  of the segment with the same probability, ``n / (n + old)``, among the frames already out
  (uniformly), else the trainer's next old view. The frames join the trainer's views when the
  steps are done, as before.
- **Nothing outlives the job.** :meth:`join` waits for the thread and re-raises its error;
  :meth:`abort` (the segment failed or was cancelled) stops it after the current step without
  adding the segment's frames. The generator's ``settle()`` joins it, and the loop
  (engine.generate.loop.generate_path) settles the generator when the path ends.

The thread only reads the frames (numpy) it is handed; the H2D copies of the new training
views happen on its stream too. The trainer's tensors made on other streams (the loaded
parameters, earlier optimizer states and views) are marked as used on the learner's stream
(``record_stream``): a densification step that drops one returns its memory to the caching
allocator only once the learner's stream is past it, never to the engine thread's stream
while a training kernel still reads it.
"""
from __future__ import annotations

import math
import threading
from contextlib import nullcontext

import numpy as np
import torch

from engine.device import configure_cpu_threads
from engine.generate.protocol import Cancelled


def snapshot_params(params) -> dict[str, torch.Tensor]:
    """A detached copy of a splat ParameterDict (engine.splat.params layout) to render from
    while the live parameters train on another thread."""
    return {k: v.detach().clone() for k, v in params.items()}


def _record_on(stream, trainer) -> None:
    """Mark every CUDA tensor ``trainer`` holds (parameters, optimizer and densification
    state, training views) as used on ``stream`` (see module docstring)."""
    def mark(t) -> None:
        if isinstance(t, torch.Tensor) and t.is_cuda:
            t.record_stream(stream)

    for p in trainer.params.values():
        mark(p.data)
    for opt in trainer.optimizers.values():
        for state in opt.state.values():
            for t in state.values():
                mark(t)
    for t in getattr(trainer, "strategy_state", {}).values():
        mark(t)
    for v in trainer.train_views:
        mark(v.image)
        mark(v.weight)


class SegmentLearner:
    """Trains ``splat`` (engine.splat.generator.SplatGenerator) for ``steps`` steps on a thread
    while ``n_frames`` frames are handed in with :meth:`add` (see module docstring)."""

    def __init__(self, splat, n_frames: int, steps: int, learn_from_generated: bool = True, cancel=None,
                 seed: int = 0) -> None:
        self.splat, self.n, self.steps = splat, max(0, int(n_frames)), max(0, int(steps))
        self.learn_from_generated = learn_from_generated
        self.cancel = cancel
        self._frames: list = []
        self._closed = False       # no more frames will come
        self._aborted = False
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._rng = np.random.default_rng(seed)
        self.steps_done = 0
        device = splat.trainer.params["means"].device
        self._stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        if self._stream is not None:
            # the parameters (and the snapshot just taken from them) are ready on the caller's stream
            self._stream.wait_stream(torch.cuda.current_stream(device))
        self._thread = threading.Thread(target=self._main, name="auto-learn", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ caller's side
    def add(self, frame) -> None:
        """A frame of the segment is out (frames in order)."""
        with self._cond:
            self._frames.append(frame)
            self._cond.notify_all()

    def close(self) -> None:
        """The segment is complete: the remaining steps need no more frames."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Stop after the current step; the segment's frames do not join the training views."""
        with self._cond:
            self._aborted = self._closed = True
            self._cond.notify_all()

    def join(self) -> None:
        """Wait for the thread (closing the segment first); raise its error (a cancelled run
        just stops early)."""
        self.close()
        self._thread.join()
        if self._error is not None and not isinstance(self._error, Cancelled):
            raise self._error

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------ the thread
    def _wait_for(self, count: int) -> int:
        """Block until ``count`` frames are out or the segment is closed; the number out."""
        with self._cond:
            while len(self._frames) < count and not self._closed:
                self._cond.wait()
            return -1 if self._aborted else len(self._frames)

    def _main(self) -> None:
        configure_cpu_threads()
        try:
            if self._stream is not None:
                _record_on(self._stream, self.splat.trainer)
            with torch.cuda.stream(self._stream) if self._stream is not None else nullcontext():
                self._train()
                if self._stream is not None:
                    self._stream.synchronize()
        except BaseException as exc:   # noqa: BLE001 (re-raised by join on the caller's thread)
            self._error = exc

    def _train(self) -> None:
        from engine.splat.data import view_from_generated

        splat, trainer = self.splat, self.splat.trainer
        o = splat.options
        new: list = []     # the segment's frames as training views, in order
        old = len(trainer.train_views)

        def convert(upto: int) -> None:
            with self._cond:
                frames = self._frames[len(new):upto]
            for f in frames:
                new.append(view_from_generated(f, trainer.device, o.invented_weight, o.observed_weight,
                                               splat._scale(f.camera)))

        learn = self.learn_from_generated
        for j in range(self.steps):
            if self.cancel is not None:
                self.cancel.raise_if_cancelled()
            need = math.ceil((j + 1) * self.n / self.steps) if learn and self.n else 0
            have = self._wait_for(need)
            if have < 0:
                return
            view = None
            if learn and have:
                convert(have)
                # a segment frame with the probability it has among old + all n new views
                if self._rng.random() < self.n / (self.n + old):
                    view = new[int(self._rng.integers(len(new)))]
            trainer.train_step(view)
            self.steps_done += 1
        if not learn:
            return
        have = self._wait_for(self.n)
        if have < 0:
            return
        convert(have)
        if new:
            trainer.add_views(new)
