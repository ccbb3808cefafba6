"""One function per use case over a typed Workspace; the CLI, the studio and batch runs all
call these (see ARCHITECTURE.md in the repository root for the layers and seams)."""
from engine.workflows.export import export_job
from engine.workflows.generate import GenerateOptions, GenerateResult, WarmResult, generate_job, warm_generator_job
from engine.workflows.photos import register_photos_job
from engine.workflows.preview import (
    coverage_job,
    generator_choices,
    preview_render,
    view_image_request,
)
from engine.workflows.project_io import save_project, save_project_job
from engine.workflows.scene import (
    ImportOptions,
    SceneLoaded,
    demo_job,
    import_dataset_job,
    open_capture_job,
    open_project_job,
    thumbnail,
)
from engine.workflows.splats import (
    auto_splats_job,
    default_iterations,
    splats_by_default,
    train_splats_job,
)
from engine.workflows.workspace import EngineSettings, Workspace

__all__ = [
    "EngineSettings",
    "GenerateOptions",
    "GenerateResult",
    "ImportOptions",
    "SceneLoaded",
    "Workspace",
    "auto_splats_job",
    "coverage_job",
    "default_iterations",
    "demo_job",
    "export_job",
    "generate_job",
    "generator_choices",
    "import_dataset_job",
    "open_capture_job",
    "open_project_job",
    "preview_render",
    "register_photos_job",
    "save_project",
    "save_project_job",
    "splats_by_default",
    "thumbnail",
    "train_splats_job",
    "view_image_request",
    "WarmResult",
    "warm_generator_job",
]
