"""The standing rules: pure functions from a member's reports and appeals to a level.

Implements docs/standing-interface.md and SPEC.md "How standing evolves". No I/O, no
clock: every moment is an argument, so a replay reproduces history exactly.

Readings chosen where SPEC.md is silent (each keeps its worked example intact):
- An event whose time is earlier than the state's clock counts reports at its own time,
  but what it changes is stamped at the clock, so no change already made is undone.
- An escalation is a suspension even when the email restriction it replaces began more
  than recidive_days ago: k is then taken as 1 (the first suspension length).
- A warning keeps the causes it opened with; later reports only push its end back.
- An open warning leaves the window by the window_days and warn_at of its latest
  judgement (a report against the member, or an expiry), kept in `judged`: a policy
  change does not by itself end it, whatever moment is asked. At the next report, a
  warning below the new warn_at (or out of the new window) ends there, "window".
- A report dated at the very moment the oldest report a warning needs leaves the window
  keeps the warning open when it tops the count up again: the count never fell.
- Any unresolved appeal is the open appeal, even when its restriction has since ended.
- An appeal filed with no active restriction (possible only in a what-if replay under
  another policy) is recorded with restriction -1, and granting it changes nothing.
- `StandingView.next_change` also counts a counted report leaving the window, because
  that changes `reports_counted`.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Literal

from ledger.moments import format_time
from ledger.policy import MAX_WINDOW_DAYS, Policy

Level = Literal["good", "warned", "email_required", "suspended"]
LEVELS: tuple[str, ...] = ("good", "warned", "email_required", "suspended")  # lowest first

IDK = "'I don't know this person'"
NO_RESTRICTION = -1  # AppealRecord.restriction when nothing was active to appeal
_MAX_DOUBLINGS = 40  # 7 * 2**40 days is far past any cap: stops huge ints for big k
_MAX_WINDOW = timedelta(days=MAX_WINDOW_DAYS)
_RESTRICTION_NAMES = {"email_required": "email restriction", "suspended": "suspension"}

_at = attrgetter("at")

__all__ = [
    "LEVELS",
    "NO_RESTRICTION",
    "AppealRecord",
    "Episode",
    "Level",
    "MemberStanding",
    "Report",
    "StandingView",
    "advance",
    "appealed",
    "check_appeal",
    "is_restriction",
    "new_standing",
    "on_appeal_filed",
    "on_appeal_resolved",
    "on_report",
    "restriction_name",
    "view",
]


@dataclass(frozen=True, slots=True)
class Report:
    """One IDK report against a member (from invitation_marked_unknown)."""

    event_id: str
    position: int
    at: datetime
    invitation: str
    recipient: str

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "position": self.position,
            "at": self.at.isoformat(),
            "invitation": self.invitation,
            "recipient": self.recipient,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            event_id=data["event_id"],
            position=data["position"],
            at=datetime.fromisoformat(data["at"]),
            invitation=data["invitation"],
            recipient=data["recipient"],
        )


@dataclass(slots=True)
class Episode:
    """A stretch of time at one level, with the rule and the exact reports that caused it."""

    level: str  # "warned" | "email_required" | "suspended"
    began_at: datetime
    began_position: int  # for expiry-judged warnings: the last event seen
    until: datetime | None  # None for warned
    policy_version: int
    rule: str
    causes: tuple[Report, ...]
    ended_at: datetime | None = None
    ended_by: str | None = None  # "window" | "escalation" | "expiry" | "appeal"

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "began_at": self.began_at.isoformat(),
            "began_position": self.began_position,
            "until": _iso(self.until),
            "policy_version": self.policy_version,
            "rule": self.rule,
            "causes": [cause.to_json() for cause in self.causes],
            "ended_at": _iso(self.ended_at),
            "ended_by": self.ended_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Episode:
        return cls(
            level=data["level"],
            began_at=datetime.fromisoformat(data["began_at"]),
            began_position=data["began_position"],
            until=_from_iso(data["until"]),
            policy_version=data["policy_version"],
            rule=data["rule"],
            causes=tuple(Report.from_json(cause) for cause in data["causes"]),
            ended_at=_from_iso(data["ended_at"]),
            ended_by=data["ended_by"],
        )


@dataclass(slots=True)
class AppealRecord:
    appeal: str
    filed_at: datetime
    position: int
    statement: str
    restriction: int  # index in episodes of the restriction appealed
    outcome: str | None = None  # None | "granted" | "denied"
    agent: str | None = None
    note: str | None = None
    resolved_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "appeal": self.appeal,
            "filed_at": self.filed_at.isoformat(),
            "position": self.position,
            "statement": self.statement,
            "restriction": self.restriction,
            "outcome": self.outcome,
            "agent": self.agent,
            "note": self.note,
            "resolved_at": _iso(self.resolved_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppealRecord:
        return cls(
            appeal=data["appeal"],
            filed_at=datetime.fromisoformat(data["filed_at"]),
            position=data["position"],
            statement=data["statement"],
            restriction=data["restriction"],
            outcome=data["outcome"],
            agent=data["agent"],
            note=data["note"],
            resolved_at=_from_iso(data["resolved_at"]),
        )


@dataclass(slots=True)
class MemberStanding:
    """Everything the rules remember about one member as a sender."""

    member: str
    reports: list[Report]  # after the clean slate, oldest first; pruned past MAX_WINDOW_DAYS
    clean_slate: int  # position; reports at or before it never count
    episodes: list[Episode]  # oldest first, never pruned
    appeals: list[AppealRecord]
    clock: datetime | None  # latest moment judged
    # (window_days, warn_at) of the policy at the latest judgement (a report against the
    # member, or an expiry): an open warning leaves the window by these, since a policy
    # change takes effect at the next judgement and does not by itself end an episode.
    judged: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "reports": [report.to_json() for report in self.reports],
            "clean_slate": self.clean_slate,
            "episodes": [episode.to_json() for episode in self.episodes],
            "appeals": [appeal.to_json() for appeal in self.appeals],
            "clock": _iso(self.clock),
            "judged": None if self.judged is None else list(self.judged),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemberStanding:
        return cls(
            member=data["member"],
            reports=[Report.from_json(report) for report in data["reports"]],
            clean_slate=data["clean_slate"],
            episodes=[Episode.from_json(episode) for episode in data["episodes"]],
            appeals=[AppealRecord.from_json(appeal) for appeal in data["appeals"]],
            clock=_from_iso(data["clock"]),
            judged=_judged(data.get("judged")),
        )


@dataclass(frozen=True, slots=True)
class StandingView:
    level: str
    until: datetime | None  # end of the active restriction (None when good/warned)
    reports_counted: int  # after the clean slate, inside the window at t
    episode: Episode | None  # the episode that sets `level` (None when good)
    open_appeal: AppealRecord | None
    next_change: datetime | None  # earliest later moment an expiry or window exit may matter
    episodes: int  # warnings and restrictions begun by t, those opened at t's judgement too


def new_standing(member: str) -> MemberStanding:
    return MemberStanding(
        member=member, reports=[], clean_slate=0, episodes=[], appeals=[], clock=None
    )


def is_restriction(level: str) -> bool:
    return level in ("email_required", "suspended")


def restriction_name(level: str) -> str:
    """A restriction's level in words: "email restriction", "suspension"."""
    return _RESTRICTION_NAMES.get(level, level)


def appealed(state: MemberStanding, record: AppealRecord) -> tuple[Episode | None, Episode | None]:
    """The restriction an appeal stands against (what granting it lifts, unless that has
    ended), and the one it was filed against when an escalation has replaced that one
    since (an open appeal follows to the suspension; else None). (None, None) for an
    appeal filed with nothing active."""
    if not 0 <= record.restriction < len(state.episodes):
        return None, None
    target = state.episodes[record.restriction]
    if target.began_position <= record.position:  # in force when the appeal was filed
        return target, None
    for earlier in reversed(state.episodes[: record.restriction]):
        if is_restriction(earlier.level):
            return target, earlier if earlier.ended_by == "escalation" else None
    return target, None


# --- events -----------------------------------------------------------------------------


def advance(state: MemberStanding, t: datetime, policy: Policy) -> MemberStanding:
    """Apply every expiry and window exit at or before t, in time order."""
    _advance(state, t, policy)
    _prune(state)
    return state


def on_report(state: MemberStanding, report: Report, policy: Policy) -> MemberStanding:
    """Count one IDK report, then judge: restriction, escalation or warning."""
    advance(state, report.at, policy)
    if report.position <= state.clean_slate:
        return state  # behind the clean slate: it can never count
    reports = state.reports
    if not reports or reports[-1].at <= report.at:
        reports.append(report)
    else:
        insort(reports, report, key=_at)  # a late event: keep the list in time order

    # Counting uses indices: causes are only materialised when an episode begins, so a
    # long suspension that piles up reports stays linear.
    oldest, newest = _counted_span(state, report.at, policy)
    count = newest - oldest
    now = _now(state, report.at)
    state.judged = (policy.window_days, policy.warn_at)
    restriction = _active_restriction(state)
    if restriction is None:
        if now == report.at:  # a late-timed report does not reopen the past
            _rejudge_warning(state, count, now, policy)
        if count >= policy.restrict_at:
            causes = tuple(reports[oldest:newest])
            _restrict(state, causes, report.position, now, policy, escalating=None)
        elif count >= policy.warn_at and _open_warning(state) is None:
            state.episodes.append(
                Episode(
                    level="warned",
                    began_at=now,
                    began_position=report.position,
                    until=None,
                    policy_version=policy.version,
                    rule=_warning_rule(count, policy, expired=None),
                    causes=tuple(reports[oldest:newest]),
                )
            )
    elif restriction.level == "email_required" and count >= policy.restrict_at:
        causes = tuple(reports[oldest:newest])
        _restrict(state, causes, report.position, now, policy, escalating=restriction)
    # During a suspension nothing new is imposed; the report waits in `reports`.
    return state


def _rejudge_warning(state: MemberStanding, count: int, now: datetime, policy: Policy) -> None:
    """A report against a member with no active restriction judges the warning anew.

    A warning that left the window at this very moment is topped up again by this
    report: the count never fell below warn_at, so it never ended. An open warning
    whose count is below warn_at under the policy now in force (a changed policy)
    ends at this judgement.
    """
    last = state.episodes[-1] if state.episodes else None
    if last is None or last.level != "warned":
        return
    if last.ended_by == "window" and last.ended_at == now and count >= policy.warn_at:
        last.ended_at = last.ended_by = None
    elif last.ended_at is None and count < policy.warn_at:
        last.ended_at, last.ended_by = now, "window"


def check_appeal(state: MemberStanding, at: datetime, policy: Policy) -> str | None:
    """None when an appeal may be filed at `at`, else the rule that refuses it."""
    seen = view(state, at, policy)
    if not is_restriction(seen.level):
        return f"{state.member} has no active restriction to appeal"
    if seen.episode is not None and seen.episode.began_at > at:
        # Dated before later-dated events logged earlier (a view never looks back past the
        # clock): the restriction in force now had not begun at the appeal's time.
        return (
            f"{state.member}'s latest restriction began at "
            f"{format_time(seen.episode.began_at)}, after the appeal's time: an appeal is "
            "against the restriction in force when it is logged, and cannot be dated before it"
        )
    if seen.open_appeal is not None:
        # One open appeal at a time, even when its restriction has since ended (expired:
        # granting it then changes no standing); say so, as the statement of reasons does.
        own = seen.open_appeal.restriction
        appealed = state.episodes[own] if own >= 0 else None
        earlier = (
            ""
            if appealed is not None and seen.episode is not None
            and appealed.began_at == seen.episode.began_at
            else ", against an earlier restriction: it is decided first"
        )  # fmt: skip
        return f"{state.member} already has an open appeal ({seen.open_appeal.appeal}){earlier}"
    return None


def on_appeal_filed(
    state: MemberStanding,
    appeal: str,
    at: datetime,
    position: int,
    statement: str,
    policy: Policy,
) -> MemberStanding:
    advance(state, at, policy)
    target = None if _active_restriction(state) is None else len(state.episodes) - 1
    state.appeals.append(
        AppealRecord(
            appeal=appeal,
            filed_at=at,
            position=position,
            statement=statement,
            restriction=NO_RESTRICTION if target is None else target,
        )
    )
    return state


def on_appeal_resolved(
    state: MemberStanding,
    appeal: str,
    granted: bool,
    agent: str,
    note: str | None,
    at: datetime,
    position: int,
    policy: Policy,
) -> MemberStanding:
    advance(state, at, policy)
    record = next((a for a in reversed(state.appeals) if a.appeal == appeal), None)
    if record is None:
        raise KeyError(f"no appeal {appeal!r} for {state.member}")
    if record.outcome is not None:
        raise ValueError(f"appeal {appeal!r} was already {record.outcome}")
    record.outcome = "granted" if granted else "denied"
    record.agent = agent
    record.note = note
    record.resolved_at = at
    if granted and record.restriction != NO_RESTRICTION:
        restriction = state.episodes[record.restriction]
        if restriction.ended_at is None:  # granting an expired restriction changes nothing
            restriction.ended_at = _now(state, at)
            restriction.ended_by = "appeal"
            _move_clean_slate(state, position)
    return state


def lifts_nothing(
    state: MemberStanding, appeal: str, at: datetime, policy: Policy
) -> Episode | None:
    """The restriction `appeal` was against when it has ended by `at`, so that granting
    the appeal then changes no standing (and gives no clean slate); None when a grant
    would lift it, or the appeal was against none."""
    record = next((a for a in reversed(state.appeals) if a.appeal == appeal), None)
    if record is None or record.restriction == NO_RESTRICTION:
        return None
    target = state.episodes[record.restriction]
    seen = view(state, at, policy)
    lifted = seen.episode if is_restriction(seen.level) else None
    return None if lifted is not None and lifted.began_at == target.began_at else target


def view(state: MemberStanding, t: datetime, policy: Policy) -> StandingView:
    """The standing at t, without touching `state`."""
    # _advance() only appends episodes and ends the open one, and never touches reports
    # or appeals: copy the episode list and the open episode, share the rest.
    episodes = list(state.episodes)
    if episodes and episodes[-1].ended_at is None:
        episodes[-1] = dataclasses.replace(episodes[-1])
    seen = MemberStanding(
        member=state.member,
        reports=state.reports,
        clean_slate=state.clean_slate,
        episodes=episodes,
        appeals=state.appeals,
        clock=state.clock,
        judged=state.judged,
    )
    _advance(seen, t, policy)

    restriction = _active_restriction(seen)
    episode = restriction if restriction is not None else _open_warning(seen)
    oldest, newest = _counted_span(seen, t, policy)
    changes: list[datetime] = []
    if newest > oldest:  # the oldest counted report leaving lowers reports_counted
        changes.append(seen.reports[oldest].at + timedelta(days=policy.window_days))
    if restriction is not None and restriction.until is not None:
        changes.append(restriction.until)
    return StandingView(
        level="good" if episode is None else episode.level,
        until=None if restriction is None else restriction.until,
        reports_counted=newest - oldest,
        episode=episode,
        open_appeal=next((a for a in reversed(seen.appeals) if a.outcome is None), None),
        next_change=min(changes, default=None),
        episodes=sum(1 for e in seen.episodes if e.began_at <= t),
    )


# --- rules ------------------------------------------------------------------------------


def _advance(state: MemberStanding, t: datetime, policy: Policy) -> None:
    if state.clock is not None and t < state.clock:
        return  # the past is already decided
    if not state.episodes or state.episodes[-1].ended_at is not None:
        state.clock = t  # nothing open, so nothing can expire or leave the window
        return
    cursor = t if state.clock is None else state.clock
    window_days, warn_at = state.judged or (policy.window_days, policy.warn_at)
    window = timedelta(days=window_days)
    while True:
        restriction = _active_restriction(state)
        if restriction is not None:
            assert restriction.until is not None
            if restriction.until > t:
                break
            cursor = max(cursor, restriction.until)
            restriction.ended_at = cursor
            restriction.ended_by = "expiry"
            _warn_at_expiry(state, restriction, cursor, policy)  # a judgement
            window_days, warn_at = state.judged = (policy.window_days, policy.warn_at)
            window = timedelta(days=window_days)
            continue
        warning = _open_warning(state)
        if warning is None:
            break
        oldest = bisect_right(state.reports, cursor - window, key=_at)
        newest = bisect_right(state.reports, cursor, key=_at)
        if newest - oldest >= warn_at:
            # The warn_at-th newest report is the oldest one the warning still needs.
            leaves = state.reports[newest - warn_at].at + window
            ends = max(leaves, cursor)
        else:
            # Below warn_at already at the latest judgement: only a view kept from
            # before `judged` was recorded gets here. It ends then, not at a later `t`.
            ends = cursor
        if ends > t:
            break
        cursor = max(cursor, ends)
        warning.ended_at = cursor
        warning.ended_by = "window"
    state.clock = t


def _warn_at_expiry(state: MemberStanding, expired: Episode, at: datetime, policy: Policy) -> None:
    oldest, newest = _counted_span(state, at, policy)
    if newest - oldest < policy.warn_at:
        return
    state.episodes.append(
        Episode(
            level="warned",
            began_at=at,
            began_position=_last_position(state),
            until=None,
            policy_version=policy.version,
            rule=_warning_rule(newest - oldest, policy, expired=expired.level),
            causes=tuple(state.reports[oldest:newest]),
        )
    )


def _restrict(
    state: MemberStanding,
    counted: tuple[Report, ...],
    position: int,
    at: datetime,
    policy: Policy,
    escalating: Episode | None,
) -> None:
    earlier = _earlier_restrictions(state, at, policy)
    if escalating is not None:
        escalating.ended_at = at
        escalating.ended_by = "escalation"
        old_index = len(state.episodes) - 1  # the open episode is always the latest
        new_index = len(state.episodes)
        for appeal in state.appeals:  # an open appeal follows to the suspension
            if appeal.outcome is None and appeal.restriction == old_index:
                appeal.restriction = new_index
    warning = _open_warning(state)
    if warning is not None:
        warning.ended_at = at
        warning.ended_by = "escalation"

    if earlier == 0 and escalating is None:
        level, days = "email_required", policy.restrict_days
    else:
        level, days = "suspended", _suspension_days(max(earlier, 1), policy)
    state.episodes.append(
        Episode(
            level=level,
            began_at=at,
            began_position=position,
            until=at + timedelta(days=days),
            policy_version=policy.version,
            rule=_restriction_rule(len(counted), earlier, days, policy, escalating is not None),
            causes=counted,
        )
    )
    _move_clean_slate(state, position)


def next_restriction(state: MemberStanding, at: datetime, policy: Policy) -> tuple[str, int]:
    """The level and length in days of the restriction that reaching restrict_at at `at`
    would impose: email required the first time, else a suspension (repeat offence)."""
    earlier = _earlier_restrictions(state, at, policy)
    if earlier == 0:
        return "email_required", policy.restrict_days
    return "suspended", _suspension_days(earlier, policy)


def _suspension_days(earlier: int, policy: Policy) -> int:
    return min(_doubled_suspension_days(earlier, policy), policy.max_suspend_days)


def _doubled_suspension_days(earlier: int, policy: Policy) -> int:
    """suspend_days * 2**(k-1), before the cap."""
    return policy.suspend_days << min(max(earlier, 1) - 1, _MAX_DOUBLINGS)


def _earlier_restrictions(state: MemberStanding, at: datetime, policy: Policy) -> int:
    """Restrictions, lifted and expired ones included, that began in (at - recidive, at]."""
    since = at - timedelta(days=policy.recidive_days)
    count = 0
    for episode in reversed(state.episodes):  # episodes begin in time order
        if episode.began_at <= since:
            break
        if is_restriction(episode.level) and episode.began_at <= at:
            count += 1
    return count


def _counted_span(state: MemberStanding, t: datetime, policy: Policy) -> tuple[int, int]:
    """Slice of `reports` with `at` in (t - window, t]: the counted reports at t.

    `reports` holds only reports past the clean slate, in time order, so two binary
    searches find them.
    """
    reports = state.reports
    oldest = bisect_right(reports, t - timedelta(days=policy.window_days), key=_at)
    newest = bisect_right(reports, t, key=_at)
    return oldest, newest


def _move_clean_slate(state: MemberStanding, position: int) -> None:
    state.clean_slate = max(state.clean_slate, position)
    # In log order this empties the list; a late-timed report may sit anywhere in it.
    state.reports[:] = [r for r in state.reports if r.position > state.clean_slate]


def _prune(state: MemberStanding) -> None:
    # No policy counts a report older than MAX_WINDOW_DAYS, so memory stays bounded.
    reports = state.reports
    if state.clock is None or not reports:
        return
    horizon = state.clock - _MAX_WINDOW
    if reports[0].at < horizon:  # the common case, nothing stale, costs one comparison
        del reports[: bisect_left(reports, horizon, key=_at)]


def _now(state: MemberStanding, at: datetime) -> datetime:
    return at if state.clock is None or at > state.clock else state.clock


# At most one episode is open, and it is the latest: a warning opens only with nothing
# open, a restriction closes the open warning or the restriction it escalates, and an
# expiry closes the restriction before a warning may open.


def open_level(state: MemberStanding) -> str:
    """The level of the member's open episode, or 'good' when none is open.

    It depends on no policy and no moment: a member without an open episode is in
    good standing at every later moment under every policy (only an open episode
    can end or turn into another), so it is what an index of members to revisit
    can rely on.
    """
    episode = _open_episode(state)
    return "good" if episode is None else episode.level


def _open_episode(state: MemberStanding) -> Episode | None:
    episodes = state.episodes
    if episodes and episodes[-1].ended_at is None:
        return episodes[-1]
    return None


def _active_restriction(state: MemberStanding) -> Episode | None:
    episode = _open_episode(state)
    return episode if episode is not None and is_restriction(episode.level) else None


def _open_warning(state: MemberStanding) -> Episode | None:
    episode = _open_episode(state)
    return episode if episode is not None and episode.level == "warned" else None


def _last_position(state: MemberStanding) -> int:
    positions = [state.clean_slate]
    positions += (r.position for r in state.reports)
    positions += (a.position for a in state.appeals)
    positions += (e.began_position for e in state.episodes)
    return max(positions)


# --- statements of reasons --------------------------------------------------------------

# The rule sentences below name the policy's fields as the operator sets them
# (`restrict_at=7`); the member's statement says them in words.
_FIELD = re.compile(r"\b([a-z_]+)=(\d+)")
_IN_WORDS = {
    "warn_at": "the warning limit of {}",
    "restrict_at": "the restriction limit of {}",
    "recidive_days": "the {} days before it",
    "max_suspend_days": "the longest suspension allowed, {} days",
}


def in_plain_words(rule: str) -> str:
    """A rule sentence without the policy's field names, for the member to read."""
    return _FIELD.sub(lambda m: _IN_WORDS.get(m.group(1), "{}").format(m.group(2)), rule)


def _warning_rule(count: int, policy: Policy, expired: str | None) -> str:
    reports = _reports_within(count, policy)
    if expired is None:
        return (
            f"{reports} reached warn_at={policy.warn_at} (policy version {policy.version}): warned."
        )
    if count >= policy.restrict_at:
        # Nothing is imposed at an expiry: the next report while they still count is judged.
        return (
            f"{reports} were still counted when the {_RESTRICTION_NAMES[expired]} expired, "
            f"reaching warn_at={policy.warn_at} and restrict_at={policy.restrict_at} (policy "
            f"version {policy.version}): warned, as nothing is imposed at an expiry; the next "
            "report while they count imposes a restriction."
        )
    return (
        f"{reports} were still counted when the {_RESTRICTION_NAMES[expired]} expired, reaching "
        f"warn_at={policy.warn_at} (policy version {policy.version}): warned."
    )


def _restriction_rule(count: int, earlier: int, days: int, policy: Policy, escalation: bool) -> str:
    reports = _reports_within(count, policy)
    reached = f"reached restrict_at={policy.restrict_at} (policy version {policy.version})"
    if escalation:
        offence = (
            f"a repeat offence with {_earlier(earlier, policy)}"
            if earlier
            else "a repeat offence of the email restriction it replaces"
        )
        return (
            f"While recipient email was required, {reports} after that restriction {reached}"
            f" again, {offence}: escalated to a suspension of {days} days"
            f"{_capped(days, earlier, policy)}."
        )
    if earlier == 0:
        return f"{reports} {reached}: recipient email required for {days} days."
    return (
        f"{reports} {reached}, a repeat offence with {_earlier(earlier, policy)}: "
        f"suspended for {days} days{_capped(days, earlier, policy)}."
    )


def _reports_within(count: int, policy: Policy) -> str:
    noun = "report" if count == 1 else "reports"
    return f"{count} {IDK} {noun} within {policy.window_days} days"


def _earlier(earlier: int, policy: Policy) -> str:
    noun = "restriction" if earlier == 1 else "restrictions"
    return f"{earlier} earlier {noun} that began within recidive_days={policy.recidive_days}"


def _capped(days: int, earlier: int, policy: Policy) -> str:
    capped = days < _doubled_suspension_days(earlier, policy)
    return f" (capped at max_suspend_days={policy.max_suspend_days})" if capped else ""


def _judged(value: Any) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
