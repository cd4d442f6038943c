"""The member-facing statement of reasons for a restriction (after EU DSA Art. 17(3)).

It says what is restricted, since and until when, the facts (how many reports,
over which days) without naming any recipient, that the decision was automated
under which rule and policy version, and how to appeal. A restriction that has
ended is told in the past tense, and an open warning (which restricts nothing)
gets a statement of its own. An appeal against the restriction is told as it
stands: open, denied or granted by a person, with the reason the agent recorded.
The grounds are the audit's rule sentence in plain words: no policy field names.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta
from typing import Any

from projections.queries import AppealOut, AuditOut, EpisodeOut
from projections.standing import in_plain_words

WHAT = {
    "email_required": "Every invitation you send must include the recipient's email address.",
    "suspended": "You cannot send invitations.",
}
WHAT_THEN = {
    "email_required": "every invitation you sent had to include the recipient's email address",
    "suspended": "you could not send invitations",
}
COURTS = "You may also use out-of-court dispute settlement or the courts."
UNNAMED = "[a recipient]"


def statement_fields(audit: AuditOut) -> dict[str, Any]:
    """The statement's facts as fields, for a platform's own notice or a transparency
    report: the decision it speaks of, its facts and grounds, and its review on appeal."""
    decision, episode, appeals = _subject(audit)
    if episode is None:  # no decision to speak of: the same fields, empty
        return {
            "decision": decision,
            **dict.fromkeys(("level", "began_at", "until", "ended_at", "ended_by")),
            "reports": 0,
            **dict.fromkeys(("reports_from", "reports_to", "grounds", "policy_version")),
            "automated": None,
            "territorial_scope": None,
            "appeal": None,
            "earlier_open_appeal": None,
        }
    days = _report_days(episode)
    reviewed = appeals[-1] if appeals else None
    earlier_open = _earlier_open(audit, appeals) if decision == "restriction_in_force" else None
    return {
        "decision": decision,
        "level": episode.level,
        "began_at": episode.began_at,
        "until": episode.until,
        "ended_at": episode.ended_at,
        "ended_by": episode.ended_by,
        "reports": len(episode.causes),
        "reports_from": days[0].isoformat() if days else None,
        "reports_to": days[-1].isoformat() if days else None,
        "grounds": in_plain_words(episode.rule),
        "policy_version": episode.policy_version,
        "automated": True,
        # A restriction is on the account, wherever it is used; a warning restricts nothing.
        "territorial_scope": None if decision == "warning" else "worldwide",
        "appeal": None
        if reviewed is None
        else {
            "appeal": reviewed.appeal,
            "filed_at": reviewed.filed_at,
            "outcome": reviewed.outcome,
            "resolved_at": reviewed.resolved_at,
            "reason": reviewed.note,
        },
        "earlier_open_appeal": None
        if earlier_open is None
        else {"appeal": earlier_open.appeal, "filed_at": earlier_open.filed_at},
    }


def statement_of_reasons(audit: AuditOut) -> str:
    """The statement for the decision that matters at `audit.as_of` (see `_subject`)."""
    decision, episode, appeals = _subject(audit)
    if decision == "restriction_in_force" and episode is not None:
        earlier_open = _earlier_open(audit, appeals)
        return _in_force(audit.member, episode, appeals, earlier_open, audit.as_of)
    if decision == "warning" and episode is not None:
        earlier = _latest_restriction(audit.episodes)
        return _warned(audit.member, episode, earlier, audit.as_of)
    if decision == "restriction_ended" and episode is not None:
        return _ended_restriction(audit.member, episode, appeals, audit.as_of)
    return (
        f"Statement for {audit.member}, as of {_at(audit.as_of)}\n\n"
        "No restriction has been imposed on your account: no statement of reasons is due."
    )


def _earlier_open(audit: AuditOut, appeals: list[AppealOut]) -> AppealOut | None:
    """An appeal still open against an earlier restriction that ended otherwise: one
    appeal is open at a time, so it is decided before this restriction can be appealed."""
    own = {a.appeal for a in appeals}
    return next((a for a in audit.appeals if a.outcome is None and a.appeal not in own), None)


def _with_note_unnamed(appeal: AppealOut, audit: AuditOut) -> AppealOut:
    if not appeal.note:
        return appeal
    return dataclasses.replace(appeal, note=_unnamed(appeal.note, audit))


def _unnamed(note: str, audit: AuditOut) -> str:
    """The agent's note with the handle of every recipient whose report an episode relies
    on replaced by UNNAMED: the note is told to the member, who must not learn from it
    who reported them. A handle counts where no letter, digit or '_' touches it, in any
    case (a note that spells a handle otherwise still names its holder)."""
    names = {c.recipient for e in audit.episodes for c in e.causes}
    if not names:
        return note
    longest_first = sorted(names, key=len, reverse=True)
    pattern = "|".join(rf"(?<!\w){re.escape(name)}(?!\w)" for name in longest_first)
    return re.sub(pattern, UNNAMED, note, flags=re.IGNORECASE)


def _at(moment: datetime) -> str:
    """A time for the member to read, in UTC: to the minute, or to the second when it
    does not fall on one (the fraction left out)."""
    if moment.second or moment.microsecond:
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _end(moment: datetime) -> str:
    """A time something lasts until, as `_at` gives it but a fraction rounded up: the
    member is never told a restriction ended before it did."""
    if moment.microsecond:
        moment += timedelta(microseconds=1_000_000 - moment.microsecond)
    return _at(moment)


def _subject(audit: AuditOut) -> tuple[str, EpisodeOut | None, list[AppealOut]]:
    """The decision a statement speaks of, with the appeals against it: the restriction
    in force; else the open warning; else the last restriction, ended; else none."""
    restriction = _latest_restriction(audit.episodes)
    warning = _open_warning(audit.episodes)
    if restriction is not None and restriction.ended_at is None:
        return "restriction_in_force", restriction, _appeals(audit, restriction)
    if warning is not None:
        return "warning", warning, []
    if restriction is not None:
        return "restriction_ended", restriction, _appeals(audit, restriction)
    return "none", None, []


def _in_force(
    member: str,
    episode: EpisodeOut,
    appeals: list[AppealOut],
    earlier_open: AppealOut | None,
    as_of: datetime,
) -> str:
    until = _end(episode.until) if episode.until else "further notice"
    return "\n".join(
        [
            f"Statement of reasons for {member}, as of {_at(as_of)}",
            "",
            f"1. Decision: your account is {_level(episode.level)}. {WHAT[episode.level]}",
            (
                f"   This applies from {_at(episode.began_at)} until {until}, to your account "
                "in every country where the network is offered."
            ),
            _facts(episode),
            f"3. Grounds: {in_plain_words(episode.rule)}",
            _automation(episode, appeals),
            _redress_in_force(appeals, earlier_open),
        ]
    )


def _redress_in_force(appeals: list[AppealOut], earlier_open: AppealOut | None) -> str:
    """`earlier_open`: an appeal still open against an earlier restriction that ended
    otherwise; a member has one open appeal at a time, so it must be decided first."""
    last = appeals[-1] if appeals else None
    if last is not None and last.outcome is None:
        if last.escalated_from is not None:
            # It was filed against the email restriction this suspension replaced.
            return (
                f"5. Redress: your appeal of {_at(last.filed_at)}, filed against the "
                "requirement to give the recipient's email address that this decision "
                "replaced, is open and covers this decision: a person is reviewing it and "
                f"will reply. {COURTS}"
            )
        return (
            f"5. Redress: your appeal of {_at(last.filed_at)} is open: a person is "
            f"reviewing the decision and will reply. {COURTS}"
        )
    if last is not None and last.outcome == "denied":
        assert last.resolved_at is not None
        return (
            f"5. Redress: your appeal was reviewed by a person and denied on "
            f"{_at(last.resolved_at)}{_reason(last)} You may appeal again while the "
            f'decision applies, through the support form ("appeal"). {COURTS}'
        )
    if earlier_open is not None:
        return (
            f"5. Redress: your appeal of {_at(earlier_open.filed_at)}, against an "
            "earlier decision, is still open, and one appeal is open at a time: once a person "
            "has decided it, you may appeal this decision while it applies, through the "
            f'support form ("appeal"). {COURTS}'
        )
    return (
        "5. Redress: you may appeal this decision while it applies (one appeal at a "
        'time), through the support form ("appeal"), stating why you think it is '
        f"wrong; a person will review it and reply. {COURTS}"
    )


def _ended_restriction(
    member: str, episode: EpisodeOut, appeals: list[AppealOut], as_of: datetime
) -> str:
    last = appeals[-1] if appeals else None
    if last is not None and last.outcome is None:
        redress = (
            f"5. Redress: the restriction has ended; your appeal of {_at(last.filed_at)} "
            f"is still open, and a person will reply. {COURTS}"
        )
    elif last is not None and last.outcome == "granted" and last.resolved_at is not None:
        after = "" if episode.ended_by == "appeal" else ", after the restriction had ended"
        redress = (
            f"5. Redress: your appeal was reviewed by a person and granted on "
            f"{_at(last.resolved_at)}{after}{_reason(last)} Nothing more is needed. "
            f"{COURTS}"
        )
    elif last is not None and last.outcome == "denied" and last.resolved_at is not None:
        redress = (
            f"5. Redress: your appeal was reviewed by a person and denied on "
            f"{_at(last.resolved_at)}{_reason(last)} The restriction has ended, so it "
            f"can no longer be appealed. {COURTS}"
        )
    else:
        redress = (
            "5. Redress: the restriction has ended, so it can no longer be appealed. If you "
            "think it was wrong, tell our support team; a person will review it and reply. "
            f"{COURTS}"
        )
    return "\n".join(
        [
            f"Statement of reasons for {member}, as of {_at(as_of)}",
            "",
            (
                f"1. Decision: {_past(episode)} It no longer applies: you may send "
                "invitations as before."
            ),
            _facts(episode),
            f"3. Grounds: {in_plain_words(episode.rule)}",
            _automation(episode, appeals),
            redress,
        ]
    )


def _warned(member: str, warning: EpisodeOut, earlier: EpisodeOut | None, as_of: datetime) -> str:
    lines = [
        f"Statement for {member}, as of {_at(as_of)}",
        "",
        (
            f"1. Decision: your account has been warned since {_at(warning.began_at)}. "
            "No restriction applies: you may send invitations. If a further report like "
            "these brings the reports counted to the policy's restriction limit, or finds "
            "them there, a restriction will follow."
        ),
        _facts(warning),
        f"3. Grounds: {in_plain_words(warning.rule)}",
        _automation(warning, []),
        (
            "5. Redress: a warning restricts nothing and cannot be appealed. If you think "
            "the reports are wrong, tell our support team; a person will review them."
        ),
    ]
    if earlier is not None:
        lines += ["", f"Earlier: {_past(earlier)} It no longer applies."]
    return "\n".join(lines)


def _past(episode: EpisodeOut) -> str:
    assert episode.ended_at is not None
    return (
        f"your account was {_level(episode.level)} from {_at(episode.began_at)} "
        f"until {_end(episode.ended_at)} (ended by {_ended(episode.ended_by)}): "
        f"{WHAT_THEN[episode.level]}."
    )


def _report_days(episode: EpisodeOut) -> list[date]:
    return sorted({c.at.date() for c in episode.causes})


def _facts(episode: EpisodeOut) -> str:
    days = _report_days(episode)
    count = len(episode.causes)
    reported = (
        "1 invitation you sent was reported by its recipient"
        if count == 1
        else f"{count} invitations you sent were reported by their recipients"
    )
    if not days:  # no episode opens without reports; said plainly all the same
        when = "on no recorded day"
    else:
        when = f"on {days[0]}" if len(days) == 1 else f"between {days[0]} and {days[-1]}"
    return (
        f'2. Facts: {reported} as "I don\'t know this person", {when}. The '
        f"recipient{'' if count == 1 else 's'} {'is' if count == 1 else 'are'} not named "
        "here, to protect them."
    )


def _automation(episode: EpisodeOut, appeals: list[AppealOut]) -> str:
    reviewed = [a for a in appeals if a.outcome is not None and a.resolved_at is not None]
    if reviewed:
        last = reviewed[-1]
        assert last.resolved_at is not None
        if last.outcome == "denied":
            verdict = "upheld it"
        elif episode.ended_by == "appeal":
            verdict = "lifted it"
        else:
            verdict = "found for you after it had ended"
        review = f"; on {_at(last.resolved_at)} a person reviewed it on your appeal and {verdict}."
    else:
        review = ", without an individual review."
    return (
        "4. Automation: this decision was taken by automated means under invitation policy "
        f"version {episode.policy_version}{review} Every report it relies on is recorded and "
        "can be checked by our support team."
    )


def _appeals(audit: AuditOut, restriction: EpisodeOut) -> list[AppealOut]:
    """The member's appeals against `restriction`, in filing order: those filed while it
    applied, and those filed against a restriction it escalated from and still open when
    it began (the standing rules move an open appeal onto the restriction that replaces
    its own). An appeal against an earlier restriction that ended otherwise is not one.
    Each comes with its note as the member is told it (`_unnamed`)."""
    start = restriction.began_at
    while True:
        replaced = [
            e
            for e in audit.episodes
            if e.level in WHAT and e.ended_by == "escalation" and e.ended_at == start
        ]
        if not replaced:
            break
        start = replaced[0].began_at
    end = restriction.ended_at or audit.as_of
    return [
        _with_note_unnamed(a, audit)
        for a in audit.appeals
        if restriction.began_at <= a.filed_at <= end
        or (
            start <= a.filed_at < restriction.began_at
            and (a.resolved_at is None or a.resolved_at >= restriction.began_at)
        )
    ]


def _reason(appeal: AppealOut) -> str:
    """The agent's recorded reason, as a sentence ending the clause before it."""
    note = " ".join((appeal.note or "").split())
    return f", with this reason: {note.rstrip('.')}." if note else "."


def _latest_restriction(episodes: list[EpisodeOut]) -> EpisodeOut | None:
    restrictions = [e for e in episodes if e.level in ("email_required", "suspended")]
    return restrictions[-1] if restrictions else None


def _open_warning(episodes: list[EpisodeOut]) -> EpisodeOut | None:
    last = episodes[-1] if episodes else None
    return last if last is not None and last.level == "warned" and last.ended_at is None else None


def _level(level: str) -> str:
    return {
        "email_required": "restricted (recipient email required)",
        "suspended": "suspended from sending invitations",
    }[level]


def _ended(ended_by: str | None) -> str:
    return {
        "expiry": "expiry",
        "appeal": "a granted appeal",
        "escalation": "a stricter restriction that replaced it",
    }.get(ended_by or "", ended_by or "")
