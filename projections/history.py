"""A member's standing at any moment, including moments before later events.

The views hold each member's standing state as of the last event about them.
A moment before that is answered by refolding the member's own inputs (their
IDK reports and appeals, indexed by position) with the policies then in force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ledger.moments import from_us, to_us
from ledger.policy import DEFAULT_POLICY, Policy
from projections import standing as standing_rules

if TYPE_CHECKING:
    from ledger.store import Tx


# The policy in force at a moment, and how many changes dated after it were logged
# before the last one dated until it. Each stored policy includes every change logged
# before it, so when that count is not 0 the changes dated until the moment are folded
# from the default instead, as a ledger of the events until then meets them.
_POLICY_THEN = (
    "(SELECT policy FROM inv_policies WHERE at_us <= ? ORDER BY position DESC LIMIT 1), "
    "(SELECT count(*) FROM inv_policies WHERE at_us > ? AND position < "
    "(SELECT max(position) FROM inv_policies WHERE at_us <= ?))"
)


def policy_at(tx: Tx, moment: datetime) -> Policy:
    at_us = to_us(moment)
    row = tx.one(f"SELECT {_POLICY_THEN}", (at_us, at_us, at_us))
    return _policy_then(tx, at_us, *row) if row else DEFAULT_POLICY


def _policy_then(tx: Tx, at_us: int, stored: str | None, skipped: int | None) -> Policy:
    if not skipped:
        return Policy.from_json(stored) if stored else DEFAULT_POLICY
    policy = DEFAULT_POLICY
    for _, _, fields in changes_until(tx, at_us):
        policy = policy.changed(fields)
    return policy


def changes_until(tx: Tx, at_us: int) -> list[tuple[int, int, dict[str, int]]]:
    """The policy changes dated until `at_us`, in log order: position, time, and the
    fields each changed (as its event holds them)."""
    rows = tx.all(
        "SELECT p.position, p.at_us, s.state FROM inv_policies p "
        "JOIN stored_events s ON s.rowid = p.position WHERE p.at_us <= ? ORDER BY p.position",
        (at_us,),
    )
    # (json reads text as well as bytes: a row another tool wrote as TEXT)
    return [
        (position, at, json.loads(state if isinstance(state, str) else bytes(state))["policy"])
        for position, at, state in rows
    ]


def standing_state(tx: Tx, member: str, moment: datetime) -> standing_rules.MemberStanding:
    """The member's standing state with every event up to `moment` applied."""
    row = tx.one("SELECT state FROM inv_standing WHERE member = ?", (member,))
    return _state_at(tx, member, moment, row[0] if row else None)


def _state_at(
    tx: Tx, member: str, moment: datetime, stored: str | None, current: bool = False
) -> standing_rules.MemberStanding:
    if stored is None:
        return standing_rules.new_standing(member)
    state = standing_rules.MemberStanding.from_json(json.loads(stored))
    at_or_after = state.clock is None or moment >= state.clock
    if at_or_after and (current or not judged_by_a_later_policy(tx, moment, member)):
        return state
    return refold(tx, member, moment)


# Members with an input logged after a policy change dated after the moment: the views
# judged it under that change, which a ledger of the events until the moment lacks.
_LATER_POLICY = (
    "SELECT DISTINCT member FROM inv_standing_inputs WHERE position > "
    "(SELECT min(position) FROM inv_policies WHERE at_us > ?)"
)


def judged_by_a_later_policy(tx: Tx, moment: datetime, member: str | None = None) -> set[str]:
    """Who (of everyone, or of `member`) has an input logged after a policy change dated
    after `moment`. In a time-ordered log such inputs are dated after the moment too, so
    those members are refolded anyway; it matters for inputs logged out of time order."""
    if member is None:
        rows = tx.all(_LATER_POLICY, (to_us(moment),))
    else:
        rows = tx.all(_LATER_POLICY + " AND member = ?", (to_us(moment), member))
    return {name for (name,) in rows}


@dataclass(frozen=True)
class MemberAt:
    """What a question about one member at one moment starts from."""

    policy: Policy
    state: standing_rules.MemberStanding
    current: bool  # the moment is at or after the latest event: the views answer as they are


def member_at(tx: Tx, member: str, moment: datetime) -> MemberAt:
    """The policy then, the member's standing state then, and whether the views are current.

    One query for the three: on PostgreSQL every round trip counts in `check`.
    """
    at_us = to_us(moment)
    row = tx.one(
        f"SELECT {_POLICY_THEN}, (SELECT state FROM inv_standing WHERE member = ?), "
        "(SELECT value FROM inv_meta WHERE key = 'latest_at_us')",
        (at_us, at_us, at_us, member),
    )
    policy_json, skipped, stored, latest = row if row else (None, None, None, None)
    current = latest is None or at_us >= int(latest)
    return MemberAt(
        policy=_policy_then(tx, at_us, policy_json, skipped),
        state=_state_at(tx, member, moment, stored, current),
        current=current,
    )


def refold(tx: Tx, member: str, moment: datetime) -> standing_rules.MemberStanding:
    """Rebuild a member's standing from the log, with the events at or before `moment`."""
    from ledger import events as ev  # only a past moment decodes events

    inputs = tx.all(
        "SELECT s.rowid, s.state FROM inv_standing_inputs i "
        "JOIN stored_events s ON s.rowid = i.position WHERE i.member = ? ORDER BY i.position",
        (member,),
    )
    # The policy changes of that moment, in log order, as the views met them: each first
    # brings a member with an open episode to its time under the policy it replaces.
    changes = changes_until(tx, to_us(moment))
    policy, next_change = DEFAULT_POLICY, 0
    state = standing_rules.new_standing(member)

    def changes_before(position: float) -> None:
        nonlocal policy, state, next_change
        while next_change < len(changes) and changes[next_change][0] < position:
            _, at_us, fields = changes[next_change]
            if standing_rules.open_level(state) != "good":
                state = standing_rules.advance(state, from_us(at_us), policy)
            policy = policy.changed(fields)
            next_change += 1

    for position, data in inputs:
        event = ev.decode(ev.stored_bytes(data))
        if event.at > moment:
            continue
        changes_before(position)
        if isinstance(event, ev.InvitationMarkedUnknown):
            invitation = tx.one(
                "SELECT recipient FROM inv_invitations WHERE invitation = ?", (event.invitation,)
            )
            report = standing_rules.Report(
                event.id, position, event.at, event.invitation, invitation[0] if invitation else ""
            )
            state = standing_rules.on_report(state, report, policy)
        elif isinstance(event, ev.AppealFiled):
            state = standing_rules.on_appeal_filed(
                state, event.appeal, event.at, position, event.statement, policy
            )
        elif isinstance(event, (ev.AppealGranted, ev.AppealDenied)):
            state = standing_rules.on_appeal_resolved(
                state,
                event.appeal,
                isinstance(event, ev.AppealGranted),
                event.agent,
                event.note,
                event.at,
                position,
                policy,
            )
    changes_before(float("inf"))
    return state
