"""Every limit phaseactors enforces, in one place (docs/correctness.md lists them).

Input limits are checked before any work is done: a message outside them is quarantined with
the limit named, and the key it was meant for is left as it was. Per-key bounds keep what an
actor remembers finite, whatever a producer sends: no stream of messages can grow a key's
document until the store refuses it.
"""

from __future__ import annotations

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "KEY_DATE_MAX",
    "KEY_DATE_MIN",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_KEY_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_BODY_BYTES",
    "MAX_DOCUMENT_BYTES",
    "MAX_DURATION_DAYS",
    "MAX_ENVELOPE_BYTES",
    "MAX_ERROR_TEXT",
    "MAX_HISTORY",
    "MAX_ID_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_KEY_LENGTH",
    "MAX_LATE_RECORDS",
    "MAX_MAP_KEY_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_OPERATOR_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_REASON_LENGTH",
    "MAX_RETENTION_DAYS",
    "MAX_TEXT_LENGTH",
    "MAX_UNKNOWN_NAMES",
    "SEEN_BASE",
    "SEEN_PER_PROCESSOR",
    "seen_limit",
]

# -- one message ---------------------------------------------------------------------------

#: A Pub/Sub envelope (push request body, CloudEvent data), before base64 decoding.
MAX_ENVELOPE_BYTES = 1024 * 1024
#: Pub/Sub's own limits on a message's attributes: how many, and bytes of a name and a value.
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
#: The producer's completion body (``message.data``, decoded).
MAX_BODY_BYTES = 256 * 1024
#: Nesting of the completion body: the body itself is depth 1, its ``metadata`` depth 2.
#: Firestore refuses maps nested more than 20 deep; an event is stored 3 levels down.
MAX_JSON_DEPTH = 10
#: Bytes of one key of a JSON object inside the body (Firestore's field-name limit is 1,500).
MAX_MAP_KEY_BYTES = 1024
#: Integers anywhere in the body, record counts included, fit in a signed 64-bit integer.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: A key (a game date, a batch id): characters.
MAX_KEY_LENGTH = 200
#: A processor name as reported.
MAX_NAME_LENGTH = 200
#: Execution, correlation and message ids.
MAX_ID_LENGTH = 512
#: Other short texts: output tables, datasets.
MAX_TEXT_LENGTH = 512
#: A processor's error text is evidence, not a defect: kept, cut to this many characters.
MAX_ERROR_TEXT = 4096
#: What one completion contributes to the gate's aggregated payload, as JSON.
MAX_PAYLOAD_BYTES = 64 * 1024
#: Date keys are calendar dates in this range (deadline arithmetic stays in range).
KEY_DATE_MIN = "1900-01-01"
KEY_DATE_MAX = "2999-12-31"

# -- operators -------------------------------------------------------------------------------

#: An operator's ``--reason``: characters, at least one of them not blank.
MAX_REASON_LENGTH = 1000
#: An operator's name (``--by``).
MAX_OPERATOR_LENGTH = 200

# -- gate definitions ------------------------------------------------------------------------

#: Deadline durations (``after_first``) and day offsets, in days.
MAX_DURATION_DAYS = 366

# -- what one key keeps ----------------------------------------------------------------------

#: Dedup tokens a key keeps: this many, plus :data:`SEEN_PER_PROCESSOR` per expected
#: processor; the oldest are forgotten first. Unknown processors add none.
SEEN_BASE = 64
SEEN_PER_PROCESSOR = 4
#: Distinct unknown processor names kept per key (latest report and count of each); reports
#: of further names are only counted.
MAX_UNKNOWN_NAMES = 16
#: Late reports kept per key (the most recent); older ones are only counted.
MAX_LATE_RECORDS = 32
#: History entries kept per key (the most recent).
MAX_HISTORY = 200
#: How long a Firestore store may keep a finished key (``retention_days``), in days.
MAX_RETENTION_DAYS = 3650
#: A key's stored document (Firestore's limit; the SQLite store enforces it too).
MAX_DOCUMENT_BYTES = 1024 * 1024


def seen_limit(expected: int) -> int:
    """How many dedup tokens a key of a gate with ``expected`` processors keeps."""
    return SEEN_BASE + SEEN_PER_PROCESSOR * expected
