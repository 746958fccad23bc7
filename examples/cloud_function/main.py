"""Cloud Function source for the gates and the pipeline runs: the entry points are
phaseactors.gcp.functions' (a gate: PHASEACTORS_GATE) and phaseactors.gcp.pipeline_functions'
(a pipeline: PHASEACTORS_PIPELINE).

Deploy with ./deploy.sh (it sets the variables and the rest); the gate and pipeline
definitions are copied next to this file into machines/.
"""

from phaseactors.gcp.functions import handle, push, status, sweep
from phaseactors.gcp.pipeline_functions import handle_lifecycle, pipeline_status, sweep_pipeline

__all__ = [
    "handle",
    "handle_lifecycle",
    "pipeline_status",
    "push",
    "status",
    "sweep",
    "sweep_pipeline",
]
