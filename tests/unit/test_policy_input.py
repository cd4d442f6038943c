"""The policy: plain data for the rules, validated where it comes in from outside."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ledger.policy import DEFAULT_POLICY, Policy
from ledger.policy_input import PolicyChange, whole_policy


def test_the_default_is_the_spec_policy_and_stores_as_compact_json_in_field_order() -> None:
    assert DEFAULT_POLICY.to_json() == (
        '{"version":1,"window_days":30,"warn_at":5,"restrict_at":7,"restrict_days":30,'
        '"recidive_days":180,"suspend_days":7,"max_suspend_days":90,"appeal_overdue_hours":48}'
    )
    assert Policy.from_json(DEFAULT_POLICY.to_json()) == DEFAULT_POLICY


def test_a_change_keeps_the_fields_it_does_not_name() -> None:
    changed = PolicyChange.model_validate({"version": 2, "warn_at": 3}).applied_to(DEFAULT_POLICY)

    assert changed == Policy(version=2, warn_at=3)
    assert json.loads(changed.to_json())["restrict_at"] == 7


def test_a_change_must_raise_the_version() -> None:
    with pytest.raises(ValueError, match="must be larger"):
        PolicyChange.model_validate({"version": 1, "warn_at": 3}).applied_to(DEFAULT_POLICY)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"warn_at": 9}, r"warn_at \(9\) may not exceed restrict_at \(7\)"),
        ({"max_suspend_days": 5}, r"max_suspend_days \(5\) may not be less than suspend_days"),
    ],
)
def test_fields_in_range_that_do_not_go_together_are_refused(fields: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        PolicyChange.model_validate({"version": 2, **fields}).applied_to(DEFAULT_POLICY)
    with pytest.raises(ValueError, match=reason):
        whole_policy(fields)


def test_a_what_if_file_is_the_default_with_its_fields() -> None:
    assert whole_policy({"warn_at": 2, "restrict_at": 3}) == Policy(warn_at=2, restrict_at=3)


@pytest.mark.parametrize(
    "fields",
    [{"warn_at": 0}, {"window_days": 366}, {"warn_after": 3}, {"warn_at": "3"}],
)
def test_out_of_range_unknown_or_mistyped_fields_are_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        whole_policy(fields)
    with pytest.raises(ValidationError):
        PolicyChange.model_validate({"version": 2, **fields})


def test_a_null_field_is_refused_with_what_leaving_it_out_means_in_each_kind_of_file() -> None:
    # A change keeps the value in force for a field left out; a what-if takes the default's.
    with pytest.raises(ValidationError, match="leave the field out to keep its value"):
        PolicyChange.model_validate({"version": 2, "warn_at": None})
    with pytest.raises(ValueError, match="'warn_at'.*take the default policy's value"):
        whole_policy({"warn_at": None})
