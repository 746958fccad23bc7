"""Deprecated location of the Cloud Function entry points: use :mod:`phaseactors.gcp.functions`.

Kept for one release so that deployed sources importing ``phaseactors.functions`` go on
working; it will be removed in the next.
"""

import warnings

from phaseactors.gcp.functions import GateFunction, handle, push, status, sweep

__all__ = ["GateFunction", "handle", "push", "status", "sweep"]

warnings.warn(
    "phaseactors.functions moved to phaseactors.gcp.functions; the old name goes in the next"
    " release",
    DeprecationWarning,
    stacklevel=2,
)
