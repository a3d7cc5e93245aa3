"""Record validation against Interface Standard v1: the valid / held / quarantine split with reasons.

``validate_batch`` is the bulk, columnar path; ``explain_record`` the slow, exhaustive one for a
single record. Both apply the same rules (``validators.rules.RULES``, documented in
``docs/validation-rules.md``).
"""

from __future__ import annotations

from validators.columnar import validate_batch
from validators.explain import canonical_payload, explain_record
from validators.model import QuarantineItem, ReferenceData, ValidationOutcome, Violation
from validators.rules import FAMILY, RULE_IDS, RULES

__all__ = [
    "FAMILY",
    "RULES",
    "RULE_IDS",
    "QuarantineItem",
    "ReferenceData",
    "ValidationOutcome",
    "Violation",
    "canonical_payload",
    "explain_record",
    "validate_batch",
]
