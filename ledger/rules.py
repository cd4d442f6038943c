"""The invitation and appeal rules, checked against the views before an event is stored.

`check` applies to every append, from the CLI and on import alike: it raises
`RuleViolation` naming the rule. `check_send` adds the send-time rules of the
`send` and `check` commands, in SPEC.md's order.
"""

from __future__ import annotations

from ledger import events as ev
from ledger.errors import BadInput, RuleViolation, UnknownId
from ledger.moments import from_us, to_us
from projections import standing as standing_rules
from projections.views import RESPONSE_STATUS, Views

# Which response may follow which status; every other combination is refused.
ALLOWED = {
    "pending": {"accepted", "ignored", "unknown", "withdrawn"},
    "ignored": {"unknown"},
}


def check(event: ev.Event, views: Views) -> None:
    """Raise RuleViolation (or UnknownId) when the event may not be stored now."""
    if isinstance(event, ev.InvitationSent):
        _check_sent(event, views)
    elif isinstance(event, ev.AppealFiled):
        _check_appeal_filed(event, views)
    elif isinstance(event, (ev.AppealGranted, ev.AppealDenied)):
        _check_appeal_resolved(event, views)
    elif isinstance(event, ev.PolicyChanged):
        _check_policy(event, views)
    else:
        _check_response(event, views)


def check_identity(event: ev.InvitationSent, views: Views | None) -> None:
    """The invitation rules about the invitation itself, before any about its sender:
    its id is new (not asked without views: `check` has no id) and it names two members.
    `send` and `check` ask them first, so both name the same rule."""
    if views is not None and views.invitation(event.invitation) is not None:
        raise RuleViolation(
            "invitation-id-used", f"invitation id {event.invitation!r} is already used"
        )
    if event.sender == event.recipient:
        raise RuleViolation("self-invitation", "a member cannot invite themselves")


def _check_sent(event: ev.InvitationSent, views: Views) -> None:
    check_identity(event, views)
    pair = views.pair(event.sender, event.recipient)
    if pair is not None and pair.block_event is not None:
        raise _blocked(event.sender, event.recipient, pair.block_type, pair.block_event)
    # A connection is recorded on the direction of the invitation that made it.
    reverse = views.pair(event.recipient, event.sender)
    if (pair and pair.connected_event) or (reverse and reverse.connected_event):
        raise RuleViolation(
            "connected", f"{event.sender} and {event.recipient} are already connected"
        )
    if pair is not None and pair.pending is not None:
        raise RuleViolation(
            "pending",
            f"{event.sender} already has a pending invitation to {event.recipient} "
            f"({pair.pending})",
        )


def _blocked(
    sender: str, recipient: str, block_type: str | None, cause: str | None
) -> RuleViolation:
    how = "ignored" if block_type == "invitation_ignored" else "marked as unknown"
    return RuleViolation(
        "blocked",
        f"{recipient} blocked {sender}: an earlier invitation was {how} (event {cause})",
    )


def _check_response(event: ev.InvitationResponse, views: Views) -> None:
    invitation = views.invitation(event.invitation)
    if invitation is None:
        raise UnknownId(f"no invitation {event.invitation!r} was sent")
    status = RESPONSE_STATUS[event.type]
    if status not in ALLOWED.get(invitation.status, set()):
        raise RuleViolation(
            "invitation-state",
            f"invitation {event.invitation} is {_past(invitation.status)}: it cannot be {_past(status)}",
        )
    if to_us(event.at) < invitation.sent_us:
        raise RuleViolation(
            "response-before-send",
            f"a response to invitation {event.invitation} cannot be earlier than its send",
        )


def _past(status: str) -> str:
    return "marked unknown" if status == "unknown" else status


def _check_appeal_filed(event: ev.AppealFiled, views: Views) -> None:
    if views.appeal(event.appeal) is not None:
        raise RuleViolation("appeal-id-used", f"appeal id {event.appeal!r} is already used")
    state = views.member_standing(event.member)
    reason = standing_rules.check_appeal(state, event.at, views.policy)
    if reason is not None:
        raise RuleViolation("appeal-not-allowed", reason)


def _check_appeal_resolved(event: ev.AppealGranted | ev.AppealDenied, views: Views) -> None:
    appeal = views.appeal(event.appeal)
    if appeal is None:
        raise UnknownId(f"no appeal {event.appeal!r} was filed")
    if appeal.outcome is not None:
        raise RuleViolation(
            "appeal-resolved", f"appeal {event.appeal} was already {appeal.outcome}"
        )
    if to_us(event.at) < appeal.filed_us:
        raise RuleViolation(
            "resolution-before-filing",
            f"appeal {event.appeal} cannot be resolved before it was filed",
        )


def decision_note(event: ev.AppealGranted | ev.AppealDenied, views: Views) -> str | None:
    """A note for the agent on what the decision applies to, where it is not plainly the
    restriction the member appealed: that one has expired (a grant is then recorded and
    lifts nothing), or an escalation has replaced it with a suspension, which the appeal
    now stands against. None otherwise, and for a decision dated before later-dated
    events already logged (its standing then is not the one in memory)."""
    appeal = views.appeal(event.appeal)
    if appeal is None:
        return None
    state = views.member_standing(appeal.member)
    if state.clock is not None and event.at < state.clock:
        return None
    granted = isinstance(event, ev.AppealGranted)
    expired = standing_rules.lifts_nothing(state, event.appeal, event.at, views.policy)
    end = None if expired is None else expired.ended_at or expired.until
    if end is not None:
        return (
            f"note: the restriction that appeal {event.appeal} was against had expired at "
            f"{ev.format_time(end)}: the {'grant' if granted else 'denial'} is recorded, "
            "and changes no standing"
        )
    record = next((a for a in reversed(state.appeals) if a.appeal == event.appeal), None)
    if record is None:
        return None
    target, filed_against = standing_rules.appealed(state, record)
    if target is None or filed_against is None:
        return None
    return (
        f"note: appeal {event.appeal} was filed against the "
        f"{standing_rules.restriction_name(filed_against.level)} from "
        f"{ev.format_time(filed_against.began_at)}; an escalation replaced it with the "
        f"{standing_rules.restriction_name(target.level)} from "
        f"{ev.format_time(target.began_at)}, which this "
        + ("grant lifts" if granted else "denial leaves in force")
    )


def _check_policy(event: ev.PolicyChanged, views: Views) -> None:
    if event.policy.version <= views.policy.version:
        raise RuleViolation(
            "policy-version",
            f"policy version {event.policy.version} must be larger than the version in force "
            f"({views.policy.version})",
        )
    try:
        event.policy.applied_to(views.policy)
    except ValueError as error:
        # Each field was in range, but not together with the policy in force.
        raise BadInput(f"policy: {error}") from None


def check_policy_order(event: ev.PolicyChanged, views: Views) -> None:
    """`policy set`'s rule (not an import's, which records a history as it was): a change
    takes effect at or after the latest-dated one already stored.

    Dated before it, the change would be in force before that one while checked against
    it: versions would no longer grow with time, and the policy in force at a moment
    could be one no change was checked against (a past moment's policy is folded from
    the changes dated until then, see `projections.history`).
    """
    latest_us = views.latest_policy_change_us()
    if latest_us is not None and to_us(event.at) < latest_us:
        raise RuleViolation(
            "policy-order",
            f"policy version {event.policy.version} would take effect at "
            f"{ev.format_time(event.at)}, before a change already stored, which takes effect "
            f"at {ev.format_time(from_us(latest_us))}: a change takes effect at or after the "
            "latest one",
        )


def check_send(event: ev.InvitationSent, views: Views) -> str | None:
    """The send-time refusals of SPEC.md in order, after `check_identity`.

    Returns a warning to show when the sender is `warned`, else None.
    """
    from projections.history import policy_at, standing_state

    state = views.member_standing(event.sender)
    policy = views.policy
    if state.clock is not None and event.at < state.clock:
        # A backdated send is judged by the standing at its own time, as `check` judges it.
        state = standing_state(views.tx, event.sender, event.at)
        policy = policy_at(views.tx, event.at)
    seen = standing_rules.view(state, event.at, policy)
    if seen.level == "suspended":
        until = ev.format_time(seen.until) if seen.until else "further notice"
        raise RuleViolation("suspended", f"{event.sender} is suspended until {until}")
    pair = views.pair(event.sender, event.recipient)
    reverse = views.pair(event.recipient, event.sender)
    if pair is not None and pair.block_event is not None:
        raise _blocked(event.sender, event.recipient, pair.block_type, pair.block_event)
    if (pair and pair.connected_event) or (reverse and reverse.connected_event):
        raise RuleViolation(
            "connected", f"{event.sender} and {event.recipient} are already connected"
        )
    for p in (pair, reverse):
        if p is not None and p.pending is not None:
            raise RuleViolation(
                "pending",
                f"an invitation between {event.sender} and {event.recipient} is pending "
                f"({p.pending})",
            )
    if seen.level == "email_required" and event.recipient_email is None:
        until = ev.format_time(seen.until) if seen.until else ""
        raise RuleViolation(
            "email-required",
            f"{event.sender} must give the recipient's email address (--email) for every "
            f"invitation until {until}",
        )
    if seen.level == "warned":
        level, days = standing_rules.next_restriction(state, event.at, policy)
        step = (
            f"{event.sender} will be suspended for {days} days"
            if level == "suspended"
            else f"{event.sender} will have to give the recipient's email for {days} days"
        )
        # Counted reports can stand at restrict_at already (a suspension expired while
        # they counted: nothing is imposed at an expiry); the next report imposes it.
        when = (
            f"at {policy.restrict_at}"
            if seen.reports_counted < policy.restrict_at
            else "at the next report"
        )
        return (
            f"{event.sender} has {seen.reports_counted} 'I don't know this person' "
            f"reports in the last {policy.window_days} days; {when}, {step}"
        )
    return None
