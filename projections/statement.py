"""The member-facing statement of reasons for a restriction (after EU DSA Art. 17(3)).

It says what is restricted, since and until when, the facts (how many reports,
over which days) without naming any recipient, that the decision was automated
under which rule and policy version, and how to appeal.
"""

from __future__ import annotations

from projections.queries import AuditOut, EpisodeOut

WHAT = {
    "warned": "No restriction applies yet: this is a warning.",
    "email_required": "Every invitation you send must include the recipient's email address.",
    "suspended": "You cannot send invitations.",
}


def statement_of_reasons(audit: AuditOut, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    episode = _latest_restriction(audit.episodes)
    if episode is None:
        return (
            f"Statement for {audit.member} as of {audit.as_of.strftime(fmt)}\n\n"
            "No restriction has been imposed on your account: no statement of reasons is due."
        )
    days = sorted({c.at.date() for c in episode.causes})
    first, last = (days[0], days[-1]) if days else (None, None)
    if episode.ended_at is not None:
        period = (
            f"from {episode.began_at.strftime(fmt)} until {episode.ended_at.strftime(fmt)} "
            f"(ended by {_ended(episode.ended_by)})"
        )
    else:
        until = episode.until.strftime(fmt) if episode.until else "further notice"
        period = f"from {episode.began_at.strftime(fmt)} until {until}"
    lines = [
        f"Statement of reasons for {audit.member}",
        "",
        f"1. Decision: your account is {_level(episode.level)}. {WHAT[episode.level]}",
        f"   This applies {period}.",
        (
            f"2. Facts: {len(episode.causes)} invitations you sent were reported by their recipients "
            f'as "I don\'t know this person", between {first} and {last}. The recipients are not '
            "named here, to protect them."
        ),
        f"3. Grounds: {episode.rule}",
        (
            f"4. Automation: this decision was taken by automated means under invitation policy "
            f"version {episode.policy_version}, without an individual review. Every report it relies "
            "on is recorded and can be checked by our support team."
        ),
        (
            "5. Redress: you may appeal this decision while it applies (one appeal at a time), through "
            'the support form ("appeal"), stating why you think it is wrong; a person will review it and '
            "reply. You may also use out-of-court dispute settlement or the courts."
        ),
    ]
    return "\n".join(lines)


def _latest_restriction(episodes: list[EpisodeOut]) -> EpisodeOut | None:
    restrictions = [e for e in episodes if e.level in ("email_required", "suspended")]
    return restrictions[-1] if restrictions else None


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
