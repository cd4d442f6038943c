"""How query results read on a terminal, and the one JSON printer."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from projections import queries as q


def plain(value: Any) -> Any:
    """A query answer as JSON values: fields in order, times in ISO 8601 UTC with `Z`."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, datetime):
        from ledger.moments import format_time

        return format_time(value)
    return value


def print_json(answer: Any) -> None:
    click.echo(json.dumps(plain(answer), indent=2, ensure_ascii=False))


def show(model: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    """The one way a query answer is printed: its JSON, or its human form."""
    if as_json:
        print_json(model)
    else:
        click.echo(human(model))


def when(moment: datetime | None) -> str:
    from ledger.moments import format_time

    return format_time(moment) if moment is not None else "-"


def width(text: str) -> int:
    """How many terminal columns `text` takes: a wide (East Asian) character or an emoji
    two, none for what joins the character before it (a combining mark, an invisible
    format character, an emoji's skin tone, the vowel and final consonant of a Hangul
    syllable written in jamo), every other character one."""
    columns = 0
    for index, char in enumerate(text):
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        if index and _joins_the_one_before(char):
            continue
        columns += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return columns


def _joins_the_one_before(char: str) -> bool:
    point = ord(char)
    return (
        0x1F3FB <= point <= 0x1F3FF  # skin tone modifiers
        or 0x1160 <= point <= 0x11FF  # Hangul jamo: vowels and final consonants
        or 0xD7B0 <= point <= 0xD7FF  # their extension
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns lined up by the columns each cell takes on a terminal, not its length."""
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in r] for r in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _percent(part: int, whole: int) -> str:
    """part / whole as a whole percentage, a half rounded up as the score rounds it (1/8 is 13%)."""
    return f"{(200 * part + whole) // (2 * whole)}%"


def status(out: q.StatusOut) -> str:
    rep = out.reputation
    rate = (
        "-"
        if rep.acceptance_rate is None
        else _percent(rep.accepted, rep.accepted + rep.ignored + rep.unknown)
    )
    lines = [
        f"member:          {out.member}",
        f"as of:           {when(out.as_of)}",
        f"standing:        {out.standing}"
        + (f" since {when(out.since)}" if out.since else "")
        + (f" until {when(out.until)}" if out.until else ""),
        f"can send:        {'yes' if out.can_send else 'no'}"
        + (" (recipient email required)" if out.requires_email else ""),
        f"reports counted: {out.reports_counted} (policy version {out.policy_version})",
    ]
    if out.rule:
        lines.append(f"rule:            {out.rule}")
    lines += [
        (
            f"reputation:      score {rep.score}/100, {rep.sent} sent, {rep.pending} pending, "
            f"{rep.accepted} accepted, {rep.ignored} ignored, {rep.unknown} marked unknown, "
            f"{rep.withdrawn} withdrawn, acceptance {rate}"
        ),
        f"score formula:   {rep.score_formula}",
    ]
    if out.open_appeal:
        a = out.open_appeal
        lines.append(
            f"open appeal:     {a.appeal} filed {when(a.filed_at)}"
            + (" (overdue)" if a.overdue else "")
            + (f", {against(a)}" if a.against else "")
        )
    return "\n".join(lines)


def against(appeal: q.AppealOut) -> str:
    """What an appeal stands against, and what it was filed against where that differs."""
    from projections.standing import restriction_name

    if appeal.against is None:
        return "against no restriction"
    now = restriction_name(appeal.against.level)
    text = f"against the {now} from {when(appeal.against.began_at)}"
    if appeal.escalated_from is not None:
        text += (
            f" (filed against the {restriction_name(appeal.escalated_from.level)} from "
            f"{when(appeal.escalated_from.began_at)}, which the {now} replaced)"
        )
    return text


def audit(out: q.AuditOut) -> str:
    lines = [f"{out.member}: {out.standing} as of {when(out.as_of)}"]
    if not out.episodes:
        lines.append("no episodes: nothing was ever imposed.")
    for number, e in enumerate(out.episodes, 1):
        ended = f"ended {when(e.ended_at)} by {e.ended_by}" if e.ended_at else "open"
        until = f" until {when(e.until)}" if e.until else ""
        lines += [
            "",
            f"episode {number}: {e.level} from {when(e.began_at)}{until}, {ended}",
            f"  rule: {e.rule}",
            f"  causes ({len(e.causes)}):",
        ]
        lines += [
            f"    #{c.position}  {when(c.at)}  {c.type}  invitation {c.invitation}  "
            f"recipient {c.recipient}  event {c.event_id}"
            for c in e.causes
        ]
    for a in out.appeals:
        outcome = f"{a.outcome} by {a.agent} at {when(a.resolved_at)}" if a.outcome else "open"
        lines += ["", f"appeal {a.appeal} filed {when(a.filed_at)}, {against(a)}: {outcome}"]
        lines += free_text("statement", a.statement)
        if a.note:
            lines += free_text("note", a.note)
    return "\n".join(lines)


def free_text(label: str, text: str) -> list[str]:
    """A member's or an agent's own words under `label`: text of several lines is set off,
    each line behind a bar, so it can never read as a line of the ledger's own output."""
    lines = text.splitlines()
    if len(lines) <= 1:
        return [f"  {label}: {text.strip()}"]
    return [f"  {label}:"] + [f"    | {line}" for line in lines]


def blocks(out: q.BlocksOut) -> str:
    lines = [f"who blocked {out.member} ({len(out.blocked_by)}):"]
    lines += [
        f"  {b.member}  by {b.type} of {b.invitation} at {when(b.at)} (event {b.event_id}, #{b.position})"
        for b in out.blocked_by
    ] or ["  nobody"]
    lines.append(f"whom {out.member} blocked ({len(out.blocked)}):")
    lines += [
        f"  {b.member}  by {b.type} of {b.invitation} at {when(b.at)} (event {b.event_id}, #{b.position})"
        for b in out.blocked
    ] or ["  nobody"]
    return "\n".join(lines)


def restricted(out: q.RestrictedOut) -> str:
    if not out.members:
        return f"every member is in good standing as of {when(out.as_of)}"
    return table(
        ["member", "standing", "since", "until", "reports"],
        [
            (m.member, m.standing, when(m.since), when(m.until), m.reports_counted)
            for m in out.members
        ],
    )


def appeals(out: q.AppealsOut) -> str:
    if not out.appeals:
        return "no appeals match"
    return table(
        ["appeal", "member", "filed", "against", "outcome", "resolved", "agent", "overdue"],
        [
            (
                a.appeal,
                a.member,
                when(a.filed_at),
                _against_cell(a),
                a.outcome or "open",
                when(a.resolved_at),
                a.agent,
                "yes" if a.overdue else "",
            )
            for a in out.appeals
        ],
    )


def _against_cell(appeal: q.AppealOut) -> str:
    if appeal.against is None:
        return "-"
    if appeal.escalated_from is None:
        return appeal.against.level
    return f"{appeal.against.level} (escalated from {appeal.escalated_from.level})"
