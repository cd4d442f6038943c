"""A question about a past moment gets the answer a ledger of only the events until then gives.

The full ledger answers `--at T` from its views (refolding a member's inputs when T
is before their latest one); the oracle is a scratch rebuild of the events at or
before T (`rebuild.feed(..., until=T)`), asked the same question at T.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.render import plain
from ledger.application import Ledger
from ledger.errors import RuleViolation
from ledger.simulation import simulate
from ledger.store import Store
from projections import queries, rebuild

START = datetime(2026, 1, 1, 12, tzinfo=UTC)


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def answers(store: Store, moment: datetime, members: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with store.read() as tx:
        for member in members:
            found[f"status {member}"] = plain(queries.status(tx, member, moment))
            found[f"audit {member}"] = plain(queries.audit(tx, member, moment))
            found[f"blocks {member}"] = plain(queries.blocks(tx, member, moment))
        found["restricted"] = plain(queries.restricted(tx, moment))
        found["appeals"] = plain(queries.appeals(tx, moment, False, False))
    return found


def assert_past_moments_agree(book: Ledger, moments: list[datetime], members: list[str]) -> None:
    for moment in moments:
        with rebuild.scratch() as space:
            rebuild.feed(book.store, space, until=moment)
            expected = answers(space, moment, members)
        got = answers(book.store, moment, members)
        for key in expected:
            assert got[key] == expected[key], (moment, key)


def history_of(tmp_path: Path, events: list[dict[str, Any]], url: str | None = None) -> Ledger:
    book = Ledger(url or str(tmp_path / "ledger.db"))
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(e, default=str) + "\n" for e in events))
    with path.open("rb") as lines:
        book.import_lines(lines)
    return book


def test_a_wider_window_after_a_warning_has_left_it_does_not_revive_it_in_the_past(
    tmp_path: Path, ledger_url: str
) -> None:
    events: list[dict[str, Any]] = []
    for i in range(6):  # five reports: warned on day 5; the sixth comes on day 50
        at = day(1 + i) if i < 5 else day(50)
        events += [
            {
                "type": "invitation_sent",
                "id": f"s{i}",
                "at": at.isoformat(),
                "invitation": f"i{i}",
                "sender": "alice",
                "recipient": f"r{i}",
            },
            {
                "type": "invitation_marked_unknown",
                "id": f"u{i}",
                "at": at.isoformat(),
                "invitation": f"i{i}",
            },
        ]
    # The warning leaves the 30-day window on day 31; on day 35 the window widens to 45.
    events.insert(
        10,
        {
            "type": "policy_changed",
            "id": "p2",
            "at": day(35).isoformat(),
            "policy": {"version": 2, "window_days": 45},
        },
    )
    book = history_of(tmp_path, events, ledger_url)

    with book.store.read() as tx:
        assert queries.status(tx, "alice", day(40)).standing == "good"
    assert_past_moments_agree(book, [day(n) for n in (4, 5, 30, 31, 35, 36, 40, 49)], ["alice"])


@pytest.mark.parametrize("seed", [2, 9])
def test_past_moments_of_a_simulated_history_with_policy_changes(
    tmp_path: Path, seed: int, ledger_url: str
) -> None:
    events = list(simulate(40, 400, seed=seed, policy_changes=True))
    book = history_of(tmp_path, events, ledger_url)
    times = sorted({datetime.fromisoformat(e["at"]) for e in events})
    chosen = times[:: max(1, len(times) // 12)]
    moments = [t + d for t in chosen for d in (timedelta(0), timedelta(microseconds=-1))]
    members = sorted({e["sender"] for e in events if e["type"] == "invitation_sent"})[:15]
    assert_past_moments_agree(book, moments, members)


def test_reports_logged_after_a_policy_dated_later_are_judged_without_it_before_its_date(
    tmp_path: Path, ledger_url: str
) -> None:
    # A stricter policy dated day 100 is logged first; three reports dated days 1-3 follow.
    events: list[dict[str, Any]] = [
        {
            "type": "policy_changed",
            "id": "p2",
            "at": day(100).isoformat(),
            "policy": {"version": 2, "warn_at": 2, "restrict_at": 3},
        },
    ]
    for i in range(3):
        events += [
            {
                "type": "invitation_sent",
                "id": f"s{i}",
                "at": day(1 + i).isoformat(),
                "invitation": f"i{i}",
                "sender": "alice",
                "recipient": f"r{i}",
            },
            {
                "type": "invitation_marked_unknown",
                "id": f"u{i}",
                "at": day(1 + i).isoformat(),
                "invitation": f"i{i}",
            },
        ]
    book = history_of(tmp_path, events, ledger_url)

    with book.store.read() as tx:
        # Before day 100 the reports fall under policy 1: three are not even a warning.
        assert queries.audit(tx, "alice", day(50)).episodes == []
        # From day 100 the log's order counts: the policy came first, so they restricted her.
        assert [e.level for e in queries.audit(tx, "alice", day(100)).episodes] == [
            "warned",
            "email_required",
        ]
    assert_past_moments_agree(book, [day(n) for n in (2, 3, 50, 99, 100)], ["alice"])


def test_an_idk_logged_after_an_ignore_but_dated_before_it_is_the_block_of_its_days(
    tmp_path: Path, ledger_url: str
) -> None:
    events = [
        {
            "type": "invitation_sent",
            "id": "s1",
            "at": day(1).isoformat(),
            "invitation": "i1",
            "sender": "alice",
            "recipient": "bob",
        },
        {"type": "invitation_ignored", "id": "g1", "at": day(10).isoformat(), "invitation": "i1"},
        {
            "type": "invitation_marked_unknown",
            "id": "u1",
            "at": day(5).isoformat(),
            "invitation": "i1",
        },
    ]
    book = history_of(tmp_path, events, ledger_url)

    with book.store.read() as tx:
        assert [b.event_id for b in queries.blocks(tx, "alice", day(7)).blocked_by] == ["u1"]
        assert [b.event_id for b in queries.blocks(tx, "alice", day(11)).blocked_by] == ["g1"]
    assert_past_moments_agree(book, [day(n) for n in (1, 4, 5, 7, 10, 11)], ["alice", "bob"])


def test_restricted_at_a_past_moment_agrees_with_status_when_late_reports_were_dropped(
    tmp_path: Path, ledger_url: str
) -> None:
    # A report dated day 400 is logged first; seven dated days 1-7 follow. The full fold
    # drops them as older than a year; a ledger of the events until day 10 restricts alice.
    events: list[dict[str, Any]] = []
    for i, n in enumerate([400, 1, 2, 3, 4, 5, 6, 7]):
        events += [
            {
                "type": "invitation_sent",
                "id": f"s{i}",
                "at": day(n).isoformat(),
                "invitation": f"i{i}",
                "sender": "alice",
                "recipient": f"r{i}",
            },
            {
                "type": "invitation_marked_unknown",
                "id": f"u{i}",
                "at": day(n).isoformat(),
                "invitation": f"i{i}",
            },
        ]
    book = history_of(tmp_path, events, ledger_url)

    with book.store.read() as tx:
        assert queries.status(tx, "alice", day(10)).standing == "email_required"
        assert [m.member for m in queries.restricted(tx, day(10)).members] == ["alice"]
    assert_past_moments_agree(book, [day(n) for n in (5, 7, 10, 399, 400)], ["alice"])


def reported(member: str, days: list[int]) -> list[dict[str, Any]]:
    """An invitation from `member` marked unknown on each of those days."""
    events: list[dict[str, Any]] = []
    for n in days:
        events += [
            {
                "type": "invitation_sent",
                "id": f"s-{member}-{n}",
                "at": day(n).isoformat(),
                "invitation": f"i-{member}-{n}",
                "sender": member,
                "recipient": f"r-{member}-{n}",
            },
            {
                "type": "invitation_marked_unknown",
                "id": f"u-{member}-{n}",
                "at": day(n).isoformat(),
                "invitation": f"i-{member}-{n}",
            },
        ]
    return events


def policy_change(event_id: str, n: int, **fields: int) -> dict[str, Any]:
    return {"type": "policy_changed", "id": event_id, "at": day(n).isoformat(), "policy": fields}


def test_a_policy_change_dated_later_but_logged_first_is_not_in_force_before_its_date(
    tmp_path: Path, ledger_url: str
) -> None:
    # Version 2 (dated day 100: strict thresholds) is logged before version 3 (dated day 10:
    # a wider window). Between days 10 and 100 only version 3's own field is in force.
    events = [
        policy_change("p2", 100, version=2, warn_at=2, restrict_at=3),
        policy_change("p3", 10, version=3, window_days=60),
        *reported("alice", [20, 21, 22]),
    ]
    book = history_of(tmp_path, events, ledger_url)

    with book.store.read() as tx:
        then = queries.status(tx, "alice", day(50))
        assert (then.standing, then.policy_version) == ("good", 3)
        assert queries.audit(tx, "alice", day(50)).episodes == []
        # From day 100 the log's order counts: both changes, the later-dated one first.
        assert queries.status(tx, "alice", day(100)).policy_version == 3
    assert_past_moments_agree(book, [day(n) for n in (5, 10, 21, 22, 50, 99, 100)], ["alice"])


def test_a_policy_change_whose_fields_fit_only_with_one_logged_before_it_applies_as_it_is(
    tmp_path: Path, ledger_url: str
) -> None:
    # warn_at 8 fits with version 2's restrict_at 10, not with the default restrict_at 7:
    # before day 100 the change applies as it is (the rules still judge every report).
    events = [
        policy_change("p2", 100, version=2, restrict_at=10),
        policy_change("p3", 10, version=3, warn_at=8),
        *reported("alice", list(range(20, 27))),
    ]
    book = history_of(tmp_path, events, ledger_url)

    with book.store.read() as tx:
        assert queries.status(tx, "alice", day(30)).standing == "email_required"
        assert queries.status(tx, "alice", day(120)).standing == "good"
    assert_past_moments_agree(book, [day(n) for n in (10, 25, 26, 30, 99, 100, 120)], ["alice"])


@pytest.mark.parametrize("between", [False, True])
def test_a_late_report_imposes_from_the_moment_a_later_dated_event_brought_the_member_to(
    tmp_path: Path, ledger_url: str, between: bool
) -> None:
    # Given one report restricting alice on day 1 (email required until day 31: one report
    # restricts under version 2), and, when `between`, a policy change dated day 40 that
    # touches no threshold logged next
    events = [policy_change("p2", 0, version=2, warn_at=1, restrict_at=1), *reported("alice", [1])]
    if between:
        events.append(policy_change("p3", 40, version=3, appeal_overdue_hours=72))
    # When a report dated day 5 is logged after it
    events += reported("alice", [5])
    book = history_of(tmp_path, events, ledger_url)

    with book.store.read() as tx:
        found = queries.audit(tx, "alice", day(60)).episodes
    # Then without it the report escalates the email restriction on day 5; with it, the
    # change brought alice to day 40, the restriction had expired by then and is not
    # undone, and the report imposes a new one from day 40 (README: events in log order)
    shape = [(e.level, e.began_at, e.ended_by) for e in found]
    if between:
        assert shape == [
            ("email_required", day(1), "expiry"),
            ("suspended", day(40), "expiry"),
        ]
    else:
        assert shape == [
            ("email_required", day(1), "escalation"),
            ("suspended", day(5), "expiry"),
        ]
    assert_past_moments_agree(book, [day(n) for n in (3, 5, 20, 39, 40, 45)], ["alice"])


def test_policy_set_is_checked_against_the_latest_dated_change_not_the_last_logged(
    tmp_path: Path, ledger_url: str
) -> None:
    # given a history imported as it was: version 2 dated day 100, then version 3 dated
    # day 10 (an import records policy changes out of date order; `policy set` does not)
    events = [policy_change("p2", 100, version=2), policy_change("p3", 10, version=3)]
    book = history_of(tmp_path, events, ledger_url)

    # when `policy set` dates version 4 on day 50: after the last logged, before day 100
    with pytest.raises(RuleViolation) as refused:
        book.record(
            {"type": "policy_changed", "policy": {"version": 4}, "at": day(50)},
            command_rules=True,
        )

    # then it is refused: it would take effect before version 2
    assert refused.value.rule == "policy-order"
    assert f"takes effect at {day(100).strftime('%Y-%m-%dT%H:%M:%SZ')}" in str(refused.value)
