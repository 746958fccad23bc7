"""Cloud Function source for one gate: the entry points are phaseactors.gcp.functions'.

Deploy with ./deploy.sh (it sets PHASEACTORS_GATE and the rest); the gate definitions are
copied next to this file into machines/.
"""

from phaseactors.gcp.functions import handle, push, status, sweep

__all__ = ["handle", "push", "status", "sweep"]
