"""The outbound port, defined in the kernel (:mod:`phaseactors.core.publisher`)."""

from __future__ import annotations

from ..core.publisher import Publisher

__all__ = ["Publisher"]
