"""The standing policy: thresholds and durations, versioned, changed only by events."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Reports older than this never count, whatever a policy says: it bounds what a
# member's standing state must remember.
MAX_WINDOW_DAYS = 365
MAX_RECIDIVE_DAYS = 3650


class Policy(BaseModel):
    """The policy in force. Version 1 is the default of SPEC.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(1, ge=1, le=2**31 - 1)
    window_days: int = Field(30, ge=1, le=MAX_WINDOW_DAYS)
    warn_at: int = Field(5, ge=1, le=1_000_000)
    restrict_at: int = Field(7, ge=1, le=1_000_000)
    restrict_days: int = Field(30, ge=1, le=3650)
    recidive_days: int = Field(180, ge=0, le=MAX_RECIDIVE_DAYS)
    suspend_days: int = Field(7, ge=1, le=3650)
    max_suspend_days: int = Field(90, ge=1, le=3650)
    appeal_overdue_hours: int = Field(48, ge=1, le=24 * 365)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.warn_at > self.restrict_at:
            raise ValueError(
                f"warn_at ({self.warn_at}) may not exceed restrict_at ({self.restrict_at})"
            )
        if self.max_suspend_days < self.suspend_days:
            raise ValueError(
                f"max_suspend_days ({self.max_suspend_days}) may not be less than "
                f"suspend_days ({self.suspend_days})"
            )
        return self


class PolicyChange(BaseModel):
    """The `policy` object of a `policy_changed` event: a version and any fields to change."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)

    version: int = Field(ge=1, le=2**31 - 1)
    window_days: int | None = Field(None, ge=1, le=MAX_WINDOW_DAYS)
    warn_at: int | None = Field(None, ge=1, le=1_000_000)
    restrict_at: int | None = Field(None, ge=1, le=1_000_000)
    restrict_days: int | None = Field(None, ge=1, le=3650)
    recidive_days: int | None = Field(None, ge=0, le=MAX_RECIDIVE_DAYS)
    suspend_days: int | None = Field(None, ge=1, le=3650)
    max_suspend_days: int | None = Field(None, ge=1, le=3650)
    appeal_overdue_hours: int | None = Field(None, ge=1, le=24 * 365)

    def applied_to(self, current: Policy) -> Policy:
        """The policy that results from this change; raises ValueError when it is not valid."""
        if self.version <= current.version:
            raise ValueError(
                f"policy version {self.version} must be larger than the version in force "
                f"({current.version})"
            )
        changes = self.model_dump(exclude_none=True)
        return Policy.model_validate({**current.model_dump(), **changes})


DEFAULT_POLICY = Policy()
