"""The operator console: every gate and key at a glance, one key's timeline and diagram, and
audited actions, as a small server-rendered web app (extra ``console``: Flask).

An edge like the CLI: it reads keys through the stores and acts through each gate's runtime.
``phaseactors console`` serves it locally; :mod:`phaseactors.gcp.console` runs it on Cloud Run
behind Identity-Aware Proxy. Importing this package loads no web framework; :mod:`.app` does.
"""

from __future__ import annotations

__all__: list[str] = []
