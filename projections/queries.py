"""The questions users ask of the views: standing, audit, blocks, restricted, appeals, check.

Each query reads the views inside one read transaction and returns a plain
dataclass: what the CLI prints with `--json` (see `cli.render.plain`), and what
its human form renders. No pydantic here: a query's process starts faster.
A moment in the past is answered exactly: a member's standing is refolded from
the events that fed it, up to that moment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ledger.errors import RuleViolation, UnknownId
from ledger.moments import from_us, to_us
from ledger.policy import Policy
from projections import standing as standing_rules
from projections.history import (
    judged_by_a_later_policy,
    member_at,
    policy_at,
    refold,
    standing_state,
)
from projections.reputation import SCORE_FORMULA, Reputation

if TYPE_CHECKING:
    from ledger.store import Tx
    from projections.views import Views


# The answers: fields in the order their JSON prints them.
@dataclass(slots=True, kw_only=True)
class ReputationOut:
    sent: int
    pending: int
    accepted: int
    ignored: int
    unknown: int
    withdrawn: int
    acceptance_rate: float | None
    score: int
    score_formula: str = SCORE_FORMULA


@dataclass(slots=True, kw_only=True)
class RestrictionOut:
    level: str
    began_at: datetime
    until: datetime | None
    ended_at: datetime | None  # by the moment asked; None while it applies
    ended_by: str | None


@dataclass(slots=True, kw_only=True)
class AppealOut:
    appeal: str
    member: str
    filed_at: datetime
    statement: str
    outcome: str | None
    agent: str | None
    note: str | None
    resolved_at: datetime | None
    overdue: bool
    # The restriction it stands against, and the one it was filed against where an
    # escalation has replaced that one since: an agent decides on what a grant lifts.
    against: RestrictionOut | None
    escalated_from: RestrictionOut | None


@dataclass(slots=True, kw_only=True)
class StatusOut:
    member: str
    as_of: datetime
    standing: str
    since: datetime | None
    until: datetime | None
    can_send: bool
    requires_email: bool
    reports_counted: int
    rule: str | None
    policy_version: int
    reputation: ReputationOut
    open_appeal: AppealOut | None


@dataclass(slots=True, kw_only=True)
class CauseOut:
    event_id: str
    position: int
    type: str
    invitation: str
    recipient: str
    at: datetime


@dataclass(slots=True, kw_only=True)
class EpisodeOut:
    level: str
    began_at: datetime
    until: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    policy_version: int
    rule: str
    causes: list[CauseOut]


@dataclass(slots=True, kw_only=True)
class AuditOut:
    member: str
    as_of: datetime
    standing: str
    episodes: list[EpisodeOut]
    appeals: list[AppealOut]


@dataclass(slots=True, kw_only=True)
class BlockOut:
    member: str
    event_id: str
    type: str
    invitation: str
    position: int
    at: datetime


@dataclass(slots=True, kw_only=True)
class BlocksOut:
    member: str
    as_of: datetime
    blocked_by: list[BlockOut]
    blocked: list[BlockOut]


@dataclass(slots=True, kw_only=True)
class RestrictedMember:
    member: str
    standing: str
    since: datetime | None
    until: datetime | None
    reports_counted: int


@dataclass(slots=True, kw_only=True)
class RestrictedOut:
    as_of: datetime
    members: list[RestrictedMember]


@dataclass(slots=True, kw_only=True)
class AppealsOut:
    as_of: datetime
    overdue_after_hours: int
    appeals: list[AppealOut]


@dataclass(slots=True, kw_only=True)
class CheckOut:
    sender: str
    recipient: str
    as_of: datetime
    allowed: bool
    rule: str | None
    reason: str | None
    warning: str | None


def status(tx: Tx, member: str, moment: datetime) -> StatusOut:
    known = member_at(tx, member, moment)
    policy, state = known.policy, known.state
    seen = standing_rules.view(state, moment, policy)
    open_appeal = None
    if seen.open_appeal is not None:
        open_appeal = _appeal_out(state, seen.open_appeal, moment, policy)
    episode = seen.episode
    return StatusOut(
        member=member,
        as_of=moment,
        standing=seen.level,
        since=episode.began_at if episode else None,
        until=seen.until,
        can_send=seen.level != "suspended",
        requires_email=seen.level == "email_required",
        reports_counted=seen.reports_counted,
        rule=episode.rule if episode else None,
        policy_version=policy.version,
        reputation=_reputation_out(reputation(tx, member, moment, known.current)),
        open_appeal=open_appeal,
    )


def reputation(tx: Tx, member: str, moment: datetime, current: bool | None = None) -> Reputation:
    """The member's counts as a sender at `moment` (`current`: the views are as of then)."""
    if current is None:
        current = moment >= latest_time(tx)
    if current:
        row = tx.one("SELECT * FROM inv_reputation WHERE member = ?", (member,))
        return Reputation(*row) if row else Reputation(member)
    # A past moment: count the member's invitations as they stood then.
    counts = Reputation(member)
    cut = to_us(moment)
    for sent_us, responded_us, first, unknown_us in tx.all(
        "SELECT sent_us, responded_us, first_response, unknown_us FROM inv_invitations "
        "WHERE sender = ?",
        (member,),
    ):
        if sent_us > cut:
            continue
        counts.sent += 1
        if unknown_us is not None and unknown_us <= cut:
            counts.unknown += 1
        elif responded_us is not None and responded_us <= cut and first:
            setattr(counts, first, getattr(counts, first) + 1)
    return counts


def latest_time(tx: Tx) -> datetime:
    """The latest event time the views reflect: at or after it they answer as they are."""
    row = tx.one("SELECT value FROM inv_meta WHERE key = 'latest_at_us'")
    return from_us(int(row[0])) if row else from_us(0)


def _reputation_out(counts: Reputation) -> ReputationOut:
    return ReputationOut(
        sent=counts.sent,
        pending=counts.pending,
        accepted=counts.accepted,
        ignored=counts.ignored,
        unknown=counts.unknown,
        withdrawn=counts.withdrawn,
        acceptance_rate=counts.acceptance_rate,
        score=counts.score,
    )


def _appeal_out(
    state: standing_rules.MemberStanding,
    appeal: standing_rules.AppealRecord,
    moment: datetime,
    policy: Policy,
) -> AppealOut:
    resolved = appeal.resolved_at is not None and appeal.resolved_at <= moment
    overdue_at = appeal.filed_at + timedelta(hours=policy.appeal_overdue_hours)
    against, escalated_from = standing_rules.appealed(state, appeal)
    return AppealOut(
        appeal=appeal.appeal,
        member=state.member,
        filed_at=appeal.filed_at,
        statement=appeal.statement,
        outcome=appeal.outcome if resolved else None,
        agent=appeal.agent if resolved else None,
        note=appeal.note if resolved else None,
        resolved_at=appeal.resolved_at if resolved else None,
        overdue=not resolved and moment > overdue_at,
        against=_restriction_out(against, moment),
        escalated_from=_restriction_out(escalated_from, moment),
    )


def _restriction_out(
    episode: standing_rules.Episode | None, moment: datetime
) -> RestrictionOut | None:
    if episode is None:
        return None
    ended_at, ended_by = episode.ended_at, episode.ended_by
    if ended_at is None or ended_at > moment:
        # Not ended by an event until then; it may have run out by then.
        expired = episode.until is not None and episode.until <= moment
        ended_at, ended_by = (episode.until, "expiry") if expired else (None, None)
    return RestrictionOut(
        level=episode.level,
        began_at=episode.began_at,
        until=episode.until,
        ended_at=ended_at,
        ended_by=ended_by,
    )


def audit(tx: Tx, member: str, moment: datetime) -> AuditOut:
    known = member_at(tx, member, moment)
    policy, state = known.policy, known.state
    seen = standing_rules.view(state, moment, policy)
    # view() works on a copy; advance a second copy to close what ended by `moment`.
    advanced = standing_rules.advance(
        standing_rules.MemberStanding.from_json(state.to_json()), moment, policy
    )
    episodes = [
        EpisodeOut(
            level=e.level,
            began_at=e.began_at,
            until=e.until,
            ended_at=e.ended_at if e.ended_at and e.ended_at <= moment else None,
            ended_by=e.ended_by if e.ended_at and e.ended_at <= moment else None,
            policy_version=e.policy_version,
            rule=e.rule,
            causes=[
                CauseOut(
                    event_id=c.event_id,
                    position=c.position,
                    type="invitation_marked_unknown",
                    invitation=c.invitation,
                    recipient=c.recipient,
                    at=c.at,
                )
                for c in e.causes
            ],
        )
        for e in advanced.episodes
        if e.began_at <= moment
    ]
    appeals = [
        _appeal_out(advanced, a, moment, policy) for a in advanced.appeals if a.filed_at <= moment
    ]
    return AuditOut(
        member=member, as_of=moment, standing=seen.level, episodes=episodes, appeals=appeals
    )


def blocks(tx: Tx, member: str, moment: datetime) -> BlocksOut:
    cut = to_us(moment)
    if moment >= latest_time(tx):
        columns = "block_event, block_type, block_invitation, block_position, block_us"
        blocked_by = tx.all(
            f"SELECT recipient, {columns} FROM inv_pairs WHERE sender = ? "
            "AND block_event IS NOT NULL ORDER BY block_position",
            (member,),
        )
        blocked = tx.all(
            f"SELECT sender, {columns} FROM inv_pairs WHERE recipient = ? "
            "AND block_event IS NOT NULL ORDER BY block_position",
            (member,),
        )
    else:
        blocked_by = _blocks_then(tx, "sender", member, cut)
        blocked = _blocks_then(tx, "recipient", member, cut)

    def out(row: tuple[Any, ...]) -> BlockOut:
        return BlockOut(
            member=row[0],
            event_id=row[1],
            type=row[2],
            invitation=row[3],
            position=row[4],
            at=from_us(row[5]),
        )

    return BlocksOut(
        member=member,
        as_of=moment,
        blocked_by=[out(r) for r in blocked_by],
        blocked=[out(r) for r in blocked],
    )


def _blocks_then(tx: Tx, side: str, member: str, cut: int) -> list[tuple[Any, ...]]:
    """The blocks of `member` (as the invitations' `side`) from the events until `cut`.

    The pair view keeps only the first block; before it, an IDK logged after an ignore
    but dated earlier may be the block of that moment, so each invitation decides (a
    scan: past moments are rare).
    """
    causes = []
    for invitation, other, first, first_event, responded_us, unknown_event, unknown_us in tx.all(
        f"SELECT invitation, {'recipient' if side == 'sender' else 'sender'}, first_response, "
        f"first_event, responded_us, unknown_event, unknown_us FROM inv_invitations "
        f"WHERE {side} = ?",
        (member,),
    ):
        if first == "ignored" and responded_us <= cut:  # an IDK can only follow the ignore
            causes.append((other, first_event, "invitation_ignored", invitation, responded_us))
        elif unknown_us is not None and unknown_us <= cut:
            causes.append(
                (other, unknown_event, "invitation_marked_unknown", invitation, unknown_us)
            )
    positions = dict(
        tx.select_in(
            "SELECT originator_id, rowid FROM stored_events WHERE originator_id IN ({})",
            [cause[1] for cause in causes],
        )
        if causes
        else []
    )
    first_per_pair: dict[str, tuple[Any, ...]] = {}
    for other, event, kind, invitation, at_us in causes:
        row = (other, event, kind, invitation, positions[event], at_us)
        if other not in first_per_pair or row[4] < first_per_pair[other][4]:
            first_per_pair[other] = row
    return sorted(first_per_pair.values(), key=lambda row: row[4])


def restricted(tx: Tx, moment: datetime) -> RestrictedOut:
    """Every member whose standing at `moment` is not good, worst first."""
    policy = policy_at(tx, moment)
    later: set[str] = set()
    if moment >= latest_time(tx):
        sql = "SELECT member, state FROM inv_standing WHERE level <> 'good'"
    else:
        sql = "SELECT member, state FROM inv_standing"
        later = judged_by_a_later_policy(tx, moment)
    found: list[RestrictedMember] = []
    for member, data in tx.all(sql):
        state = standing_rules.MemberStanding.from_json(json.loads(data))
        if (state.clock is not None and moment < state.clock) or member in later:
            # Refolded before judging: a late report the full fold dropped may count then.
            state = refold(tx, member, moment)
        if not state.episodes:
            continue
        seen = standing_rules.view(state, moment, policy)
        if seen.level != "good":
            found.append(
                RestrictedMember(
                    member=member,
                    standing=seen.level,
                    since=seen.episode.began_at if seen.episode else None,
                    until=seen.until,
                    reports_counted=seen.reports_counted,
                )
            )
    order = {level: i for i, level in enumerate(standing_rules.LEVELS)}
    found.sort(key=lambda m: (-order[m.standing], -m.reports_counted, m.member))
    return RestrictedOut(as_of=moment, members=found)


def appeals(tx: Tx, moment: datetime, only_open: bool, only_overdue: bool) -> AppealsOut:
    policy = policy_at(tx, moment)
    cut = to_us(moment)
    sql = "SELECT appeal, member FROM inv_appeals WHERE filed_us <= ?"
    if only_open or only_overdue:
        sql += " AND (outcome IS NULL OR resolved_us > ?)"
        params: tuple[Any, ...] = (cut, cut)
    else:
        params = (cut,)
    rows = tx.all(sql + " ORDER BY filed_us, appeal", params)
    out: list[AppealOut] = []
    states: dict[str, standing_rules.MemberStanding] = {}
    for appeal_id, member in rows:
        if member not in states:
            states[member] = standing_state(tx, member, moment)
        record = next((a for a in states[member].appeals if a.appeal == appeal_id), None)
        if record is None:
            continue
        item = _appeal_out(states[member], record, moment, policy)
        if only_overdue and not item.overdue:
            continue
        out.append(item)
    return AppealsOut(as_of=moment, overdue_after_hours=policy.appeal_overdue_hours, appeals=out)


def check(
    tx: Tx,
    sender: str,
    recipient: str,
    email: str | None,
    moment: datetime,
    *,
    as_logged: bool = False,
) -> CheckOut:
    """May `sender` invite `recipient` at `moment`? The rules in `send`'s order.

    The pair is taken as it stood at `moment`, or with `as_logged` as the whole log leaves
    it, as `send` takes it: a send appended now is checked against every event logged
    before it, even one dated later than the send (an import may log such events).
    """
    # Imported here: the other questions need neither the rules nor the event models.
    from ledger import events as ev
    from ledger import rules
    from projections.views import Views

    known = member_at(tx, sender, moment)
    views = Views(tx, policy=known.policy, reading=True)
    candidate = ev.from_fields(_candidate(sender, recipient, email, moment))  # BadInput: exit 2
    assert isinstance(candidate, ev.InvitationSent)
    try:
        rules.check_identity(candidate, None)
        views.standing[sender] = known.state
        if not known.current and not as_logged:
            _pairs_as_of(tx, views, sender, recipient, moment)
        else:
            views.load_pair_both_ways(sender, recipient)
        warning = rules.check_send(candidate, views)
    except (RuleViolation, UnknownId) as error:
        return CheckOut(
            sender=sender,
            recipient=recipient,
            as_of=moment,
            allowed=False,
            rule=getattr(error, "rule", "invalid-input"),
            reason=str(error),
            warning=None,
        )
    return CheckOut(
        sender=sender,
        recipient=recipient,
        as_of=moment,
        allowed=True,
        rule=None,
        reason=None,
        warning=warning,
    )


def _pairs_as_of(tx: Tx, views: Views, sender: str, recipient: str, moment: datetime) -> None:
    """Both directions of a pair as they stood at a past moment (a scan: past moments are rare)."""
    from projections.views import Pair

    cut = to_us(moment)
    for a, b in ((sender, recipient), (recipient, sender)):
        pair = Pair(a, b)
        for (
            invitation,
            sent_us,
            responded_us,
            first,
            first_event,
            unknown_us,
            unknown_event,
        ) in tx.all(
            "SELECT invitation, sent_us, responded_us, first_response, first_event, unknown_us, "
            "unknown_event FROM inv_invitations WHERE sender = ? AND recipient = ? ORDER BY sent_us",
            (a, b),
        ):
            if sent_us > cut:
                continue
            response, cause = None, None
            if responded_us is not None and responded_us <= cut:
                response, cause = first, first_event
            elif unknown_us is not None and unknown_us <= cut:
                response, cause = "unknown", unknown_event
            if response is None:
                pair.pending = invitation
            elif response == "accepted":
                pair.connected_event = cause
            elif response in ("ignored", "unknown") and pair.block_event is None:
                pair.block_event = cause
                pair.block_type = (
                    "invitation_ignored" if response == "ignored" else "invitation_marked_unknown"
                )
        views.pairs[(a, b)] = pair


def _candidate(sender: str, recipient: str, email: str | None, moment: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": "check",
        "type": "invitation_sent",
        "at": moment,
        "invitation": "check-candidate",
        "sender": sender,
        "recipient": recipient,
    }
    if email is not None:
        fields["recipient_email"] = email
    return fields
