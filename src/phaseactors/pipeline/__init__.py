"""The pipeline run: one actor per key across all gates of a pipeline, the second machine on
the kernel.

A pipeline file (``machines/*.toml`` with ``kind = "pipeline"``) becomes a
:class:`PipelineSpec`: its gates in order, a handoff deadline into each, an overall deadline,
its lifecycle and alerts topics. :class:`PipelineActor` runs it on :class:`PipelineMachine`
(waiting → running ⇄ stalled, failed, done), fed by the gates' lifecycle announcements;
:class:`PipelineRuntime` delivers them; :func:`accept_announcement` is the intake of raw
lifecycle messages; :class:`PipelineRoute` wires gates to runs in one process.
"""

from .actor import PipelineActor
from .data import AlertRecord, PhaseRecord, PipelineData
from .events import GateAnnounced
from .intake import accept_announcement
from .machine import PipelineMachine
from .operations import PipelineRuntime
from .route import PipelineRoute, route_lifecycle
from .spec import OverallDeadline, Phase, PipelineSpec
from .spec_loader import (
    choose_pipeline,
    find_pipeline,
    load_pipeline,
    load_pipeline_gates,
    pipeline_files,
    pipeline_from_mapping,
    pipelines_of_gate,
)
from .status import PipelineStatus, pipeline_status

__all__ = [
    "AlertRecord",
    "GateAnnounced",
    "OverallDeadline",
    "Phase",
    "PhaseRecord",
    "PipelineActor",
    "PipelineData",
    "PipelineMachine",
    "PipelineRoute",
    "PipelineRuntime",
    "PipelineSpec",
    "PipelineStatus",
    "accept_announcement",
    "choose_pipeline",
    "find_pipeline",
    "load_pipeline",
    "load_pipeline_gates",
    "pipeline_files",
    "pipeline_from_mapping",
    "pipeline_status",
    "pipelines_of_gate",
    "route_lifecycle",
]
