"""The standing policy: thresholds and durations, versioned, changed only by events.

`Policy` is plain data, cheap to load for every query. A policy that comes
from outside (a `policy_changed` event, a policy file) is validated first by
the pydantic models of `ledger.policy_input`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

# Reports older than this never count, whatever a policy says: it bounds what a
# member's standing state must remember.
MAX_WINDOW_DAYS = 365
MAX_RECIDIVE_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Policy:
    """The policy in force. Version 1 is the default of SPEC.md."""

    version: int = 1
    window_days: int = 30
    warn_at: int = 5
    restrict_at: int = 7
    restrict_days: int = 30
    recidive_days: int = 180
    suspend_days: int = 7
    max_suspend_days: int = 90
    appeal_overdue_hours: int = 48

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def to_json(self) -> str:
        """Compact JSON, fields in order: how the views store a policy."""
        return json.dumps(asdict(self), separators=(",", ":"))

    def changed(self, fields: Mapping[str, int | None]) -> Policy:
        """This policy with the given fields changed (None leaves a field as it is),
        unchecked: a change is validated against the policy in force before it is
        stored (`ledger.policy_input`)."""
        return replace(self, **{name: value for name, value in fields.items() if value is not None})

    @classmethod
    def from_json(cls, text: str | bytes) -> Policy:
        """A policy the views stored (it was validated before it was stored)."""
        return cls(**json.loads(text))

    def inconsistency(self) -> str | None:
        """Why these fields do not make a policy together, or None."""
        if self.warn_at > self.restrict_at:
            return f"warn_at ({self.warn_at}) may not exceed restrict_at ({self.restrict_at})"
        if self.max_suspend_days < self.suspend_days:
            return (
                f"max_suspend_days ({self.max_suspend_days}) may not be less than "
                f"suspend_days ({self.suspend_days})"
            )
        return None


DEFAULT_POLICY = Policy()
