"""Qt-free observable studio state (psygnal signals). Widgets and visuals observe these
models; a view changes a model, never another view."""
from studio.models.jobs import JobsModel, JobState
from studio.models.playback import Playback
from studio.models.project_view import PointBuffer, ProjectView
from studio.models.segments import SegmentsModel, SegmentState
from studio.models.selection import Selection
from studio.models.trajectory_edits import PathSettings, TrajectoryEdits, TrajectoryState

__all__ = ["JobsModel", "JobState", "Playback", "PointBuffer", "ProjectView", "SegmentsModel",
           "SegmentState", "Selection", "PathSettings", "TrajectoryEdits", "TrajectoryState"]
