"""Policies from outside, validated: the `policy` object of an event or a policy file."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledger.policy import DEFAULT_POLICY, MAX_RECIDIVE_DAYS, MAX_WINDOW_DAYS, Policy


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

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """A field left out keeps its value; one given must have one (a `null` would be
        dropped unseen, and the change not be what its file says)."""
        if value is None:
            raise ValueError("may not be null: leave the field out to keep its value")
        return value

    def applied_to(self, current: Policy) -> Policy:
        """The policy that results from this change; raises ValueError when it is not valid."""
        if self.version <= current.version:
            raise ValueError(
                f"policy version {self.version} must be larger than the version in force "
                f"({current.version})"
            )
        return _consistent(current.changed(self.model_dump(exclude_none=True)))


def whole_policy(data: dict[str, Any]) -> Policy:
    """A complete policy from a file (for a what-if): the default with these fields changed.

    Raises pydantic's ValidationError for a bad field, ValueError for a `null` one and for
    fields that do not go together.
    """
    for name, value in data.items():
        if value is None and name in PolicyChange.model_fields:
            raise ValueError(
                f"field {name!r}: may not be null: leave the field out to take the default "
                "policy's value"
            )
    fields = PolicyChange.model_validate({"version": 1, **data}).model_dump(exclude_none=True)
    return _consistent(DEFAULT_POLICY.changed(fields))


def _consistent(policy: Policy) -> Policy:
    problem = policy.inconsistency()
    if problem is not None:
        raise ValueError(problem)
    return policy
