"""The synthetic history: reproducible, ordered, realistic, and valid under the invitation rules."""

from __future__ import annotations

import json
from collections import Counter, defaultdict, deque
from datetime import UTC, datetime, timedelta

import pytest

from ledger.events import EVENT_TYPES, parse
from ledger.policy import DEFAULT_POLICY
from ledger.simulation import simulate
from projections import standing

Event = dict[str, object]

MEMBERS, INVITATIONS, SEED = 2000, 20000, 20260108


@pytest.fixture(scope="module")
def history() -> list[Event]:
    return list(simulate(members=MEMBERS, invitations=INVITATIONS, seed=SEED))


def invitation_rule_violations(events: list[Event]) -> list[str]:
    """Replays SPEC.md's invitation rules over a history; returns one line per broken rule."""
    # invitation -> (sender, recipient, sent at, state)
    invitations: dict[str, tuple[str, str, str, str]] = {}
    connected: set[frozenset[str]] = set()
    blocked: set[tuple[str, str]] = set()  # (sender, recipient): recipient blocked sender
    pending: set[tuple[str, str]] = set()
    allowed = {
        "invitation_accepted": ("pending",),
        "invitation_ignored": ("pending",),
        "invitation_marked_unknown": ("pending", "ignored"),
        "invitation_withdrawn": ("pending",),
    }
    problems = []
    for event in events:
        kind, at = event["type"], str(event["at"])
        if kind == "invitation_sent":
            inv, s, r = str(event["invitation"]), str(event["sender"]), str(event["recipient"])
            if inv in invitations:
                problems.append(f"{event['id']}: invitation {inv} used twice")
            if s == r:
                problems.append(f"{event['id']}: {s} invites themself")
            if (s, r) in blocked:
                problems.append(f"{event['id']}: {r} blocked {s}")
            if frozenset((s, r)) in connected:
                problems.append(f"{event['id']}: {s} and {r} are connected")
            if (s, r) in pending:
                problems.append(f"{event['id']}: {s} already has an invitation pending to {r}")
            invitations[inv] = (s, r, at, "pending")
            pending.add((s, r))
        elif kind in allowed:
            inv = str(event["invitation"])
            if inv not in invitations:
                problems.append(f"{event['id']}: unknown invitation {inv}")
                continue
            s, r, sent_at, state = invitations[inv]
            if at < sent_at:  # same format, whole seconds: text order is time order
                problems.append(f"{event['id']}: response before the send")
            if state not in allowed[kind]:
                problems.append(f"{event['id']}: {kind} from state {state}")
            pending.discard((s, r))
            if kind == "invitation_accepted":
                connected.add(frozenset((s, r)))
            elif kind in ("invitation_ignored", "invitation_marked_unknown"):
                blocked.add((s, r))
            state = kind.removeprefix("invitation_").replace("marked_unknown", "unknown")
            invitations[inv] = (s, r, sent_at, state)
    return problems


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    first = list(simulate(members=300, invitations=2000, seed=1))
    assert first == list(simulate(members=300, invitations=2000, seed=1))
    assert first != list(simulate(members=300, invitations=2000, seed=2))


def test_events_come_in_time_order_with_counter_ids(history: list[Event]) -> None:
    times = [str(event["at"]) for event in history]
    assert times == sorted(times)
    assert history[0]["id"] == "e-000000001"
    assert len({event["id"] for event in history}) == len(history)
    assert "2025-01-01T00:00:00Z" <= times[0] <= times[-1] <= "2026-01-01T00:00:00Z"


def test_every_event_type_but_policy_changes_appears(history: list[Event]) -> None:
    seen = {event["type"] for event in history}
    assert seen == set(EVENT_TYPES) - {"policy_changed"}


def test_policy_changes_appear_when_asked_for() -> None:
    changes = [
        event
        for event in simulate(members=300, invitations=1000, seed=3, policy_changes=True)
        if event["type"] == "policy_changed"
    ]
    assert [change["policy"]["version"] for change in changes] == [2, 3]  # type: ignore[index]


def test_every_event_is_valid_json_in_the_import_format(history: list[Event]) -> None:
    for event in history:
        parse(json.dumps(event))


def test_no_invitation_rule_is_broken(history: list[Event]) -> None:
    assert invitation_rule_violations(history) == []


def test_the_checker_catches_a_reinvitation_after_a_block() -> None:
    sent = {
        "type": "invitation_sent",
        "at": "2025-01-01T00:00:00Z",
        "sender": "a",
        "recipient": "b",
    }
    events: list[Event] = [
        {"id": "e1", **sent, "invitation": "i1"},
        {
            "id": "e2",
            "type": "invitation_ignored",
            "at": "2025-01-02T00:00:00Z",
            "invitation": "i1",
        },
        {"id": "e3", **sent, "at": "2025-01-03T00:00:00Z", "invitation": "i2"},
    ]
    assert invitation_rule_violations(events) == ["e3: b blocked a"]


def test_most_ordinary_invitations_are_accepted(history: list[Event]) -> None:
    counts = Counter(event["type"] for event in history)
    assert 0.55 < counts["invitation_accepted"] / counts["invitation_sent"] < 0.8


def test_some_spammer_collects_seven_reports_within_thirty_days(history: list[Event]) -> None:
    sender_of = {
        event["invitation"]: event["sender"]
        for event in history
        if event["type"] == "invitation_sent"
    }
    recent: dict[object, deque[datetime]] = defaultdict(deque)
    most = 0
    for event in history:
        if event["type"] == "invitation_marked_unknown":
            at = datetime.fromisoformat(str(event["at"]))
            window = recent[sender_of[event["invitation"]]]
            window.append(at)
            while window[0] <= at - timedelta(days=30):
                window.popleft()
            most = max(most, len(window))
    assert most >= 7


def test_appeals_are_filed_once_and_resolved_once_after_filing(history: list[Event]) -> None:
    filed: dict[object, str] = {}
    resolved: set[object] = set()
    for event in history:
        if event["type"] == "appeal_filed":
            assert event["appeal"] not in filed
            filed[event["appeal"]] = str(event["at"])
        elif event["type"] in ("appeal_granted", "appeal_denied"):
            assert event["appeal"] in filed and event["appeal"] not in resolved
            assert str(event["at"]) >= filed[event["appeal"]]
            assert str(event["agent"]) in {f"agent-{i}" for i in range(1, 6)}
            resolved.add(event["appeal"])


def test_appeals_are_filed_only_when_allowed_and_some_members_end_restricted(
    history: list[Event],
) -> None:
    sender_of, recipient_of = {}, {}
    states: dict[str, standing.MemberStanding] = {}
    appeal_member: dict[str, str] = {}
    for position, event in enumerate(history, start=1):
        at = datetime.fromisoformat(str(event["at"]))
        if event["type"] == "invitation_sent":
            sender_of[event["invitation"]] = str(event["sender"])
            recipient_of[event["invitation"]] = str(event["recipient"])
        elif event["type"] == "invitation_marked_unknown":
            sender = sender_of[event["invitation"]]
            state = states.setdefault(sender, standing.new_standing(sender))
            report = standing.Report(
                str(event["id"]),
                position,
                at,
                str(event["invitation"]),
                recipient_of[event["invitation"]],
            )
            states[sender] = standing.on_report(state, report, DEFAULT_POLICY)
        elif event["type"] == "appeal_filed":
            member = appeal_member[str(event["appeal"])] = str(event["member"])
            assert standing.check_appeal(states[member], at, DEFAULT_POLICY) is None
            states[member] = standing.on_appeal_filed(
                states[member],
                str(event["appeal"]),
                at,
                position,
                str(event["statement"]),
                DEFAULT_POLICY,
            )
        elif event["type"] in ("appeal_granted", "appeal_denied"):
            member = appeal_member[str(event["appeal"])]
            states[member] = standing.on_appeal_resolved(
                states[member],
                str(event["appeal"]),
                event["type"] == "appeal_granted",
                str(event["agent"]),
                str(event["note"]) if "note" in event else None,
                at,
                position,
                DEFAULT_POLICY,
            )
    end = datetime(2026, 1, 1, tzinfo=UTC)
    levels = Counter(standing.view(state, end, DEFAULT_POLICY).level for state in states.values())
    assert levels["email_required"] + levels["suspended"] > 0


def test_too_many_invitations_for_the_members_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 10 distinct invitations"):
        simulate(members=5, invitations=11, seed=1)
