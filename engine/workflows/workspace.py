"""The typed workspace the engine thread owns: the open project (its views, memory, paths,
segments), the engine settings, the generators built so far, and what a run produced that is
not on disk yet. Every workflow function reads and writes this object and nothing else.

The project is the one home of the scene: ``workspace.memory`` and ``workspace.views`` are the
project's, so nothing is ever re-synced by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.generate.registry import GeneratorCache, GeneratorContext


@dataclass(frozen=True)
class EngineSettings:
    """device: "cpu" / "cuda" / None (CUDA when present); models_dir: where learned backends
    look for the user's checkpoints (None: ``$ANYRECON_MODELS`` or ``~/.anyrecon/models``);
    pose_backend: how new captures are tracked (engine.tracking.pose_backend.POSE_BACKENDS;
    "pi3" also takes its depth from Pi3)."""

    device: str | None = None
    models_dir: Path | None = None
    pose_backend: str = "colmap"


@dataclass
class Workspace:
    """What the engine thread owns.

    project          the open project (engine.project.Project) or None
    saved            True when ``project.root`` is the folder this project lives in on disk
                     (False for a scene opened from a video or the demo and not saved yet)
    settings         engine settings (device, models folder)
    generators       generators built so far, kept across jobs (weights load once)
    pending_frames   generated frames of an unsaved project, written on its first save:
                     {segment_id: {frame_index: GeneratedFrame}}
    timings          named durations of the last scene-building run, seconds
    """

    project: object | None = None
    saved: bool = False
    settings: EngineSettings = field(default_factory=EngineSettings)
    generators: GeneratorCache = field(default_factory=GeneratorCache)
    pending_frames: dict[int, dict[int, object]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ the scene
    @property
    def memory(self):
        """engine.memory.GeometryMemory of the open project, or None."""
        return None if self.project is None else self.project.memory

    @memory.setter
    def memory(self, memory) -> None:
        self._ensure_project().memory = memory

    @property
    def views(self):
        """engine.ingest.views.ViewBank of the open project, or None."""
        return None if self.project is None else self.project.views

    @views.setter
    def views(self, views) -> None:
        self._ensure_project().views = views

    def _ensure_project(self):
        if self.project is None:
            from engine.project import Project

            self.project = Project(root=Path("untitled"), name="untitled")
        return self.project

    def replace_scene(self, project, saved: bool) -> None:
        """Make ``project`` the open project; drops what belonged to the previous one (its
        unsaved frames, and generators built for its folder)."""
        old_root = None if self.project is None else Path(self.project.root)
        self.project, self.saved = project, saved
        self.pending_frames.clear()
        if old_root is None or old_root != Path(project.root):
            self.generators.clear()

    def generator_context(self) -> GeneratorContext:
        """The context generators are built from (device of the memory, project folder: the
        one its splats live in, a scratch folder while the scene is not saved)."""
        device = self.memory.device if self.memory is not None else self.settings.device
        root = None
        if self.project is not None:
            # an unsaved scene's splats train into a scratch folder (engine.workflows.splats)
            from engine.workflows.splats import splat_folder

            root = Path(self.project.root) if self.saved else splat_folder(self)
        return GeneratorContext(device=device, project_root=root, models_dir=self.settings.models_dir)

    def require_scene(self, what: str = "this"):
        """The open project, or a ValueError saying what is missing for ``what``."""
        if self.project is None or self.memory is None:
            raise ValueError(f"{what} needs a scene: open a video, a dataset, a project or the demo first")
        return self.project
