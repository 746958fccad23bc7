"""The alert message, shared by every actor that raises alerts (the gate, the pipeline run).

An alert is decided inside an actor's step and leaves through its outbox like any message:
:func:`alert_entry` is the one builder of its body, attributes and id
(``source/key/generation/alert/reason[/subject]``), :func:`alert_from_message` reads one back
strictly, and :func:`log_published_alert` writes the ERROR line a log-based alerting policy
matches once the alert is published.
"""

from .alert import (
    ALERT_KIND,
    Alert,
    Severity,
    alert_entry,
    alert_from_message,
    alert_id,
    is_alert,
)
from .log import log_published_alert

__all__ = [
    "ALERT_KIND",
    "Alert",
    "Severity",
    "alert_entry",
    "alert_from_message",
    "alert_id",
    "is_alert",
    "log_published_alert",
]
