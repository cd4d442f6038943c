"""The questions users ask (status, audit, blocks, restricted, appeals, check), on a real ledger.

Most tests read SPEC.md's worked example, recorded through `Ledger.record` with
explicit times: day N is 2026-01-01 + N days, noon UTC. Each IDK report of day N
comes from `stranger-NN`, who received alice's invitation three hours earlier.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ledger.application import Appended, Ledger
from projections import queries
from projections.statement import statement_fields, statement_of_reasons

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
REPORT_DAYS = [*range(1, 8), *range(20, 27), *range(40, 47)]


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def stranger(n: int) -> str:
    return f"stranger-{n:02d}"


@dataclass
class Story:
    book: Ledger
    reports: dict[int, Appended]  # the IDK report of each report day


def send(book: Ledger, invitation: str, sender: str, recipient: str, at: datetime) -> Appended:
    return book.record(
        {
            "type": "invitation_sent",
            "invitation": invitation,
            "sender": sender,
            "recipient": recipient,
            "at": at,
        }
    )


def respond(book: Ledger, event_type: str, invitation: str, at: datetime) -> Appended:
    return book.record({"type": event_type, "invitation": invitation, "at": at})


def report(book: Ledger, sender: str, recipient: str, at: datetime) -> Appended:
    invitation = f"inv-{sender}-{recipient}"
    send(book, invitation, sender, recipient, at - timedelta(hours=3))
    return respond(book, "invitation_marked_unknown", invitation, at)


def file_appeal(book: Ledger, appeal: str, member: str, at: datetime, statement: str) -> Appended:
    return book.record(
        {
            "type": "appeal_filed",
            "appeal": appeal,
            "member": member,
            "statement": statement,
            "at": at,
        }
    )


def record_worked_example(book: Ledger) -> dict[int, Appended]:
    reports = {}
    for n in REPORT_DAYS[:7]:
        reports[n] = report(book, "alice", stranger(n), day(n))
    file_appeal(book, "ap-alice", "alice", day(10), "These were my classmates from Ghent")
    book.record(
        {"type": "appeal_granted", "appeal": "ap-alice", "agent": "agent-grete", "at": day(11)}
    )
    for n in REPORT_DAYS[7:]:
        reports[n] = report(book, "alice", stranger(n), day(n))
    return reports


@pytest.fixture(scope="module")
def story(module_ledger_url: str) -> Iterator[Story]:
    """The whole worked example, recorded once on each backend; its tests only read."""
    book = Ledger(module_ledger_url)
    reports = record_worked_example(book)
    book.ensure_current()
    yield Story(book, reports)
    book.close()


def ask(book: Ledger, query: object, *args: object) -> object:
    book.ensure_current()
    with book.store.read() as tx:
        return query(tx, *args)  # type: ignore[operator]


def status(book: Ledger, member: str, at: datetime) -> queries.StatusOut:
    return ask(book, queries.status, member, at)  # type: ignore[return-value]


def audit(book: Ledger, member: str, at: datetime) -> queries.AuditOut:
    return ask(book, queries.audit, member, at)  # type: ignore[return-value]


# Status at chosen moments, after the whole example is recorded ---------------------


@pytest.mark.parametrize(
    ("moment", "standing", "until"),
    [
        (day(0), "good", None),
        (day(4), "good", None),
        (day(5), "warned", None),
        (day(6), "warned", None),
        (day(7), "email_required", day(37)),
        (day(8), "email_required", day(37)),
        (day(10.5), "email_required", day(37)),
        (day(11), "good", None),
        (day(23), "good", None),
        (day(24), "warned", None),
        (day(26), "suspended", day(33)),
        (day(33) - timedelta(seconds=1), "suspended", day(33)),
        (day(33), "good", None),
        (day(45), "warned", None),
        (day(46), "suspended", day(60)),
        (day(60), "good", None),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_status_at_a_past_moment_tells_the_standing_of_that_moment(
    story: Story, moment: datetime, standing: str, until: datetime | None
) -> None:
    seen = status(story.book, "alice", moment)

    assert (seen.standing, seen.until) == (standing, until)
    assert seen.as_of == moment


def test_on_day_8_alice_must_give_emails_until_day_37_even_after_everything_later(
    story: Story,
) -> None:
    seen = status(story.book, "alice", day(8))

    assert seen.standing == "email_required"
    assert seen.until == day(37)
    assert (seen.can_send, seen.requires_email) == (True, True)
    assert seen.policy_version == 1


def test_a_suspended_member_cannot_send(story: Story) -> None:
    seen = status(story.book, "alice", day(27))

    assert (seen.can_send, seen.requires_email) == (False, False)


def test_reports_counted_are_the_reports_in_the_window_after_the_clean_slate(story: Story) -> None:
    assert status(story.book, "alice", day(6)).reports_counted == 6
    assert status(story.book, "alice", day(8)).reports_counted == 0  # the restriction took them
    assert status(story.book, "alice", day(22)).reports_counted == 3


def test_the_open_appeal_shows_while_it_is_open(story: Story) -> None:
    during = status(story.book, "alice", day(10.5))
    after = status(story.book, "alice", day(12))

    assert during.open_appeal is not None
    assert during.open_appeal.appeal == "ap-alice"
    assert during.open_appeal.filed_at == day(10)
    assert during.open_appeal.outcome is None
    assert after.open_appeal is None


def test_status_of_a_member_never_seen_is_good_with_an_empty_reputation(story: Story) -> None:
    seen = status(story.book, "newcomer-nina", day(50))

    assert (seen.standing, seen.until, seen.reports_counted) == ("good", None, 0)
    assert (seen.reputation.sent, seen.reputation.acceptance_rate, seen.reputation.score) == (
        0,
        None,
        50,
    )


# Audit -----------------------------------------------------------------------------


def test_audit_lists_every_episode_oldest_first_with_how_it_ended(story: Story) -> None:
    episodes = audit(story.book, "alice", day(100)).episodes

    assert [(e.level, e.began_at, e.until, e.ended_at, e.ended_by) for e in episodes] == [
        ("warned", day(5), None, day(7), "escalation"),
        ("email_required", day(7), day(37), day(11), "appeal"),
        ("warned", day(24), None, day(26), "escalation"),
        ("suspended", day(26), day(33), day(33), "expiry"),
        ("warned", day(44), None, day(46), "escalation"),
        ("suspended", day(46), day(60), day(60), "expiry"),
    ]
    assert {e.policy_version for e in episodes} == {1}
    assert all(e.rule for e in episodes)


def test_audit_causes_are_exactly_the_counted_reports_with_ids_positions_and_recipients(
    story: Story,
) -> None:
    episodes = audit(story.book, "alice", day(100)).episodes
    restriction, suspension = episodes[1], episodes[3]

    def expected(days: range) -> list[tuple[str, int, str, str, str, datetime]]:
        return [
            (
                story.reports[n].event.id,
                story.reports[n].position,
                "invitation_marked_unknown",
                f"inv-alice-{stranger(n)}",
                stranger(n),
                day(n),
            )
            for n in days
        ]

    def causes(episode: queries.EpisodeOut) -> list[tuple[str, int, str, str, str, datetime]]:
        return [
            (c.event_id, c.position, c.type, c.invitation, c.recipient, c.at)
            for c in episode.causes
        ]

    assert causes(episodes[0]) == expected(range(1, 6))
    assert causes(restriction) == expected(range(1, 8))
    assert causes(suspension) == expected(range(20, 27))


def test_audit_at_a_past_moment_shows_only_what_had_happened(story: Story) -> None:
    then = audit(story.book, "alice", day(8))

    assert then.standing == "email_required"
    assert [(e.level, e.ended_at, e.ended_by) for e in then.episodes] == [
        ("warned", day(7), "escalation"),
        ("email_required", None, None),
    ]
    assert then.appeals == []


def test_audit_lists_the_appeal_with_its_outcome(story: Story) -> None:
    (appeal,) = audit(story.book, "alice", day(100)).appeals

    assert (appeal.appeal, appeal.filed_at, appeal.statement) == (
        "ap-alice",
        day(10),
        "These were my classmates from Ghent",
    )
    assert (appeal.outcome, appeal.agent, appeal.resolved_at) == ("granted", "agent-grete", day(11))


def test_an_episode_names_the_policy_version_in_force_when_it_began(ledger_url: str) -> None:
    book = Ledger(ledger_url)
    book.record(
        {
            "type": "policy_changed",
            "policy": {"version": 4, "warn_at": 2, "restrict_at": 3},
            "at": day(0),
        }
    )
    for n in (1, 2, 3):
        report(book, "basil", f"guest-{n}", day(n))

    episodes = audit(book, "basil", day(4)).episodes
    book.close()

    assert [(e.level, e.policy_version) for e in episodes] == [("warned", 4), ("email_required", 4)]
    assert "version 4" in episodes[1].rule


def test_a_warning_ends_when_its_oldest_needed_report_leaves_the_window(ledger_url: str) -> None:
    book = Ledger(ledger_url)
    for n in range(1, 6):
        report(book, "wendy", f"neighbour-{n}", day(n))

    before, at_exit = (
        status(book, "wendy", day(31) - timedelta(seconds=1)),
        status(book, "wendy", day(31)),
    )
    (warning,) = audit(book, "wendy", day(40)).episodes
    book.close()

    assert (before.standing, at_exit.standing) == ("warned", "good")
    assert (warning.ended_at, warning.ended_by) == (day(31), "window")


# The statement of reasons ----------------------------------------------------------


def test_the_statement_of_reasons_names_no_recipient(story: Story) -> None:
    for moment in (day(8), day(27), day(100)):
        text = statement_of_reasons(audit(story.book, "alice", moment))

        assert "stranger-" not in text
        assert "inv-alice" not in text
        assert all(r.event.id not in text for r in story.reports.values())


def test_the_statement_of_reasons_gives_the_decision_period_policy_version_and_how_to_appeal(
    story: Story,
) -> None:
    text = statement_of_reasons(audit(story.book, "alice", day(8)))

    assert "alice" in text
    assert "email" in text
    assert "2026-01-08" in text and "2026-02-07" in text  # day 7 until day 37
    assert "policy version 1" in text
    assert "appeal" in text.lower()
    assert "7 invitations" in text
    assert "to your account in every country where the network is offered" in text


def test_the_statement_fields_give_a_restrictions_scope_and_none_for_a_warning(
    story: Story,
) -> None:
    restricted = statement_fields(audit(story.book, "alice", day(8)))
    warned = statement_fields(audit(story.book, "alice", day(6)))
    never = statement_fields(audit(story.book, "nobody-at-all", day(6)))

    assert restricted["territorial_scope"] == "worldwide"
    assert warned["decision"] == "warning" and warned["territorial_scope"] is None
    assert never["territorial_scope"] is None


def test_the_statement_of_reasons_for_a_member_never_restricted_says_none_is_due(
    story: Story,
) -> None:
    text = statement_of_reasons(audit(story.book, "alice", day(6)))

    assert "No restriction" in text
    assert "stranger-" not in text


def test_the_statement_for_a_warning_says_no_restriction_applies_and_gives_its_facts(
    story: Story,
) -> None:
    # Day 6: warned since day 5 by five reports, never restricted.
    text = statement_of_reasons(audit(story.book, "alice", day(6)))

    assert "warned since 2026-01-06 12:00 UTC" in text
    assert "No restriction applies: you may send invitations" in text
    assert "to the policy's restriction limit, or finds them there, a restriction will" in text
    assert "5 invitations you sent were reported" in text
    assert "cannot be appealed" in text
    assert "Earlier:" not in text


def test_the_statement_after_a_granted_appeal_tells_the_restriction_in_the_past(
    story: Story,
) -> None:
    # Day 12: the email restriction of day 7 was lifted by the appeal granted on day 11.
    text = statement_of_reasons(audit(story.book, "alice", day(12)))

    assert "your account was restricted (recipient email required)" in text
    assert "until 2026-01-12 12:00 UTC (ended by a granted appeal)" in text
    assert "It no longer applies" in text
    assert "a person reviewed it on your appeal and lifted it" in text
    assert "your appeal was reviewed by a person and granted on 2026-01-12 12:00 UTC" in text
    assert "without an individual review" not in text
    assert "you may appeal this decision while it applies" not in text


def test_the_statement_while_an_appeal_is_open_says_a_person_is_reviewing_it(
    story: Story,
) -> None:
    # Day 10.5: alice appealed on day 10; the appeal is granted on day 11.
    text = statement_of_reasons(audit(story.book, "alice", day(10.5)))

    assert "your account is restricted (recipient email required)" in text
    assert "your appeal of 2026-01-11 12:00 UTC is open" in text
    assert "you may appeal this decision" not in text
    assert "without an individual review" in text


def test_the_statement_after_a_denied_appeal_gives_the_review_and_its_reason(
    queue: Ledger,
) -> None:
    # Day 10: olga's appeal was denied on day 9, "reports confirmed"; pete's is open.
    olga = statement_of_reasons(audit(queue, "olga", day(10)))
    pete = statement_of_reasons(audit(queue, "pete", day(10)))

    assert "a person reviewed it on your appeal and upheld it" in olga
    assert "denied on 2026-01-10 12:00 UTC, with this reason: reports confirmed." in olga
    assert "You may appeal again while the decision applies" in olga
    assert "without an individual review" not in olga
    assert "your appeal of 2026-01-09 12:00 UTC is open" in pete


def test_the_statement_gives_its_date_and_names_no_policy_field(story: Story) -> None:
    for moment in (day(8), day(10.5), day(12), day(24.05), day(27), day(35), day(100)):
        text = statement_of_reasons(audit(story.book, "alice", moment))

        assert moment.strftime("as of %Y-%m-%d %H:%M UTC") in text.splitlines()[0]
        assert re.search(r"\w+=\d", text) is None, text


def test_the_statement_while_warned_again_names_the_earlier_restriction_as_ended(
    story: Story,
) -> None:
    # Day 24: warned by the reports of days 20-24; the restriction of day 7 was lifted.
    text = statement_of_reasons(audit(story.book, "alice", day(24.05)))

    assert "warned since 2026-01-25 12:00 UTC" in text
    assert "Earlier: your account was restricted (recipient email required)" in text
    assert "It no longer applies." in text.splitlines()[-1]


def test_the_statement_after_a_suspension_expired_says_it_ended_by_expiry(story: Story) -> None:
    # Day 35: the suspension of days 26-33 has expired.
    text = statement_of_reasons(audit(story.book, "alice", day(35)))

    assert "your account was suspended from sending invitations" in text
    assert "(ended by expiry): you could not send invitations." in text
    assert "7 invitations you sent were reported" in text


def test_the_statement_for_one_report_speaks_of_one_invitation_on_its_day(
    ledger_url: str,
) -> None:
    # Given a policy that restricts at the first report, and one report on day 2
    book = Ledger(ledger_url)
    book.record(
        {
            "type": "policy_changed",
            "policy": {"version": 2, "warn_at": 1, "restrict_at": 1},
            "at": day(0),
        }
    )
    report(book, "rhea", "guest-1", day(2))
    text = statement_of_reasons(audit(book, "rhea", day(3)))
    book.close()

    assert "under invitation policy version 2" in text
    assert (
        "2. Facts: 1 invitation you sent was reported by its recipient as \"I don't know "
        'this person", on 2026-01-03. The recipient is not named here' in text
    )


# Blocks ----------------------------------------------------------------------------


def test_blocks_lists_who_blocked_a_member_with_the_causing_event(story: Story) -> None:
    out = ask(story.book, queries.blocks, "alice", day(100))

    assert [
        (b.member, b.event_id, b.position, b.type, b.invitation, b.at) for b in out.blocked_by
    ] == [  # type: ignore[attr-defined]
        (
            stranger(n),
            story.reports[n].event.id,
            story.reports[n].position,
            "invitation_marked_unknown",
            f"inv-alice-{stranger(n)}",
            day(n),
        )
        for n in REPORT_DAYS
    ]
    assert out.blocked == []  # type: ignore[attr-defined]


def test_blocks_lists_whom_a_member_blocked(story: Story) -> None:
    out = ask(story.book, queries.blocks, stranger(3), day(100))

    assert [(b.member, b.event_id) for b in out.blocked] == [("alice", story.reports[3].event.id)]  # type: ignore[attr-defined]
    assert out.blocked_by == []  # type: ignore[attr-defined]


def test_blocks_at_a_past_moment_leave_out_later_blocks(story: Story) -> None:
    out = ask(story.book, queries.blocks, "alice", day(2))

    assert [b.member for b in out.blocked_by] == [stranger(1), stranger(2)]  # type: ignore[attr-defined]


def test_an_ignore_blocks_with_its_own_event_type(ledger_url: str) -> None:
    book = Ledger(ledger_url)
    send(book, "inv-hal", "hal", "iris", day(1))
    ignored = respond(book, "invitation_ignored", "inv-hal", day(2))

    out = ask(book, queries.blocks, "hal", day(3))
    book.close()

    assert [(b.member, b.type, b.event_id) for b in out.blocked_by] == [  # type: ignore[attr-defined]
        ("iris", "invitation_ignored", ignored.event.id)
    ]


# Restricted ------------------------------------------------------------------------


@pytest.fixture
def three_senders(ledger_url: str) -> Iterator[Ledger]:
    """By day 30: sam is suspended, erin must give emails, walter is warned, greta is good."""
    book = Ledger(ledger_url)
    for n in range(1, 8):
        report(book, "erin", f"e-guest-{n}", day(n))
    for n in range(1, 6):
        report(book, "walter", f"w-guest-{n}", day(n + 20))
    for n in range(1, 15):  # seven restrict, seven more escalate
        report(book, "sam", f"s-guest-{n}", day(n + 10))
    send(book, "inv-greta", "greta", "hans", day(2))
    respond(book, "invitation_accepted", "inv-greta", day(3))
    yield book
    book.close()


def test_restricted_lists_every_member_not_in_good_standing_worst_first(
    three_senders: Ledger,
) -> None:
    out = ask(three_senders, queries.restricted, day(26))

    assert [(m.member, m.standing) for m in out.members] == [  # type: ignore[attr-defined]
        ("sam", "suspended"),
        ("erin", "email_required"),
        ("walter", "warned"),
    ]


def test_restricted_at_a_past_moment_lists_who_was_restricted_then(three_senders: Ledger) -> None:
    out = ask(three_senders, queries.restricted, day(8))

    assert [(m.member, m.standing, m.until) for m in out.members] == [
        ("erin", "email_required", day(37))
    ]  # type: ignore[attr-defined]


def test_restricted_after_every_restriction_expired_is_empty(story: Story) -> None:
    out = ask(story.book, queries.restricted, day(61))

    assert out.members == []  # type: ignore[attr-defined]


# The appeals queue -----------------------------------------------------------------


@pytest.fixture
def queue(ledger_url: str) -> Iterator[Ledger]:
    """Three restricted members appeal on day 8: olga at 08:00, pete at noon, quincy at 16:00.

    Olga's appeal is denied on day 9; the others stay open.
    """
    book = Ledger(ledger_url)
    for member in ("olga", "pete", "quincy"):
        for n in range(1, 8):
            report(book, member, f"{member}-guest-{n}", day(n))
    file_appeal(book, "ap-olga", "olga", day(8) - timedelta(hours=4), "I run a meetup")
    file_appeal(book, "ap-pete", "pete", day(8), "I am a recruiter")
    file_appeal(book, "ap-quincy", "quincy", day(8) + timedelta(hours=4), "Those are my students")
    book.record(
        {
            "type": "appeal_denied",
            "appeal": "ap-olga",
            "agent": "agent-ron",
            "note": "reports confirmed",
            "at": day(9),
        }
    )
    yield book
    book.close()


def appeal_ids(book: Ledger, at: datetime, only_open: bool, only_overdue: bool) -> list[str]:
    out = ask(book, queries.appeals, at, only_open, only_overdue)
    return [a.appeal for a in out.appeals]  # type: ignore[attr-defined]


def test_the_appeals_queue_lists_every_appeal_oldest_first(queue: Ledger) -> None:
    assert appeal_ids(queue, day(20), False, False) == ["ap-olga", "ap-pete", "ap-quincy"]


def test_the_open_appeals_leave_out_resolved_ones(queue: Ledger) -> None:
    assert appeal_ids(queue, day(20), True, False) == ["ap-pete", "ap-quincy"]


def test_an_appeal_resolved_later_was_open_at_an_earlier_moment(queue: Ledger) -> None:
    assert appeal_ids(queue, day(8.5), True, False) == ["ap-olga", "ap-pete", "ap-quincy"]


def test_an_appeal_is_overdue_only_after_48_hours(queue: Ledger) -> None:
    at_48_hours = day(10)

    assert appeal_ids(queue, at_48_hours, False, True) == []
    assert appeal_ids(queue, at_48_hours + timedelta(minutes=1), False, True) == ["ap-pete"]
    assert appeal_ids(queue, day(10.5), False, True) == ["ap-pete", "ap-quincy"]


def test_a_resolved_appeal_is_never_overdue(queue: Ledger) -> None:
    out = ask(queue, queries.appeals, day(30), False, False)

    olga = next(a for a in out.appeals if a.appeal == "ap-olga")  # type: ignore[attr-defined]
    assert (olga.outcome, olga.agent, olga.note, olga.resolved_at, olga.overdue) == (
        "denied",
        "agent-ron",
        "reports confirmed",
        day(9),
        False,
    )
    assert out.overdue_after_hours == 48  # type: ignore[attr-defined]


def test_a_shorter_overdue_policy_makes_appeals_overdue_sooner(queue: Ledger) -> None:
    queue.record(
        {
            "type": "policy_changed",
            "policy": {"version": 2, "appeal_overdue_hours": 12},
            "at": day(8.6),
        }
    )

    # 12 hours after filing: olga (day 7.83) and pete (day 8) are overdue, quincy (day 8.17) not yet.
    assert appeal_ids(queue, day(8.6), False, True) == ["ap-olga", "ap-pete"]
    assert appeal_ids(queue, day(8.6), False, False) == ["ap-olga", "ap-pete", "ap-quincy"]


# Check at a moment -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "allowed", "rule"),
    [
        (day(6), True, None),
        (day(8), False, "email-required"),
        (day(27), False, "suspended"),
        (day(34), True, None),
    ],
)
def test_check_answers_for_the_moment_asked(
    story: Story, moment: datetime, allowed: bool, rule: str | None
) -> None:
    out = ask(story.book, queries.check, "alice", "newcomer-nina", None, moment)

    assert (out.allowed, out.rule) == (allowed, rule)  # type: ignore[attr-defined]


def test_check_now_refuses_a_blocked_pair_and_names_the_event_that_caused_the_block(
    story: Story,
) -> None:
    out = ask(story.book, queries.check, "alice", stranger(1), "s1@example.org", day(100))

    assert (out.allowed, out.rule) == (False, "blocked")  # type: ignore[attr-defined]
    assert story.reports[1].event.id in out.reason  # type: ignore[attr-defined]


def test_check_at_a_past_moment_names_the_event_that_caused_the_block(story: Story) -> None:
    # Day 34 lies before the last event (day 46): the pair is rebuilt as it stood then.
    out = ask(story.book, queries.check, "alice", stranger(1), "s1@example.org", day(34))

    assert (out.allowed, out.rule) == (False, "blocked")  # type: ignore[attr-defined]
    assert story.reports[1].event.id in out.reason  # type: ignore[attr-defined]


# Reputation ------------------------------------------------------------------------


@pytest.fixture
def clara(ledger_url: str) -> Iterator[Ledger]:
    """clara sent six invitations: two accepted, one ignored, one marked unknown, one withdrawn, one pending."""
    book = Ledger(ledger_url)
    outcomes = [
        "invitation_accepted",
        "invitation_accepted",
        "invitation_ignored",
        "invitation_marked_unknown",
        "invitation_withdrawn",
        None,
    ]
    for n, outcome in enumerate(outcomes, 1):
        send(book, f"inv-clara-{n}", "clara", f"friend-{n}", day(n))
        if outcome:
            respond(book, outcome, f"inv-clara-{n}", day(n + 0.5))
    yield book
    book.close()


def test_reputation_counts_every_outcome(clara: Ledger) -> None:
    rep = status(clara, "clara", day(10)).reputation

    assert (rep.sent, rep.pending, rep.accepted, rep.ignored, rep.unknown, rep.withdrawn) == (
        6,
        1,
        2,
        1,
        1,
        1,
    )
    assert rep.acceptance_rate == pytest.approx(2 / 4)
    assert rep.score == 38  # 300 / 8 = 37.5, a half rounded up
    assert "accepted" in rep.score_formula


def test_reputation_at_a_past_moment_counts_what_had_happened(clara: Ledger) -> None:
    rep = status(clara, "clara", day(3)).reputation
    later = status(clara, "clara", day(5.75)).reputation

    assert (rep.sent, rep.pending, rep.accepted, rep.ignored) == (3, 1, 2, 0)
    assert (
        later.sent,
        later.pending,
        later.accepted,
        later.ignored,
        later.unknown,
        later.withdrawn,
    ) == (
        5,
        0,
        2,
        1,
        1,
        1,
    )


def test_an_ignored_then_unknown_invitation_counts_once_as_unknown(ledger_url: str) -> None:
    book = Ledger(ledger_url)
    send(book, "inv-dan", "dan", "eve", day(1))
    respond(book, "invitation_ignored", "inv-dan", day(2))
    respond(book, "invitation_marked_unknown", "inv-dan", day(3))

    rep = status(book, "dan", day(4)).reputation
    book.close()

    assert (rep.sent, rep.ignored, rep.unknown, rep.pending) == (1, 0, 1, 0)


def test_more_idk_reports_never_raise_the_score(ledger_url: str) -> None:
    book = Ledger(ledger_url)
    send(book, "inv-fox-0", "fox", "gale", day(0))
    respond(book, "invitation_accepted", "inv-fox-0", day(0.5))
    scores = [status(book, "fox", day(1)).reputation.score]
    for n in range(1, 6):
        report(book, "fox", f"victim-{n}", day(n))
        scores.append(status(book, "fox", day(n)).reputation.score)
    book.close()

    assert scores == sorted(scores, reverse=True)
    assert scores[-1] < scores[0]


def test_more_acceptances_never_lower_the_score(ledger_url: str) -> None:
    book = Ledger(ledger_url)
    report(book, "gwen", "skeptic", day(0.5))
    scores = [status(book, "gwen", day(1)).reputation.score]
    for n in range(1, 6):
        send(book, f"inv-gwen-{n}", "gwen", f"colleague-{n}", day(n))
        respond(book, "invitation_accepted", f"inv-gwen-{n}", day(n + 0.25))
        scores.append(status(book, "gwen", day(n + 0.5)).reputation.score)
    book.close()

    assert scores == sorted(scores)
    assert scores[-1] > scores[0]
    assert all(0 <= s <= 100 for s in scores)


# The log, filtered -----------------------------------------------------------------


def logged_ids(
    book: Ledger, member: str | None = None, event_type: str | None = None, since: int = 0
) -> list[str]:
    return [event.id for _, event in book.events(member, event_type, since)]


def test_the_log_of_a_member_holds_what_they_sent_received_and_appealed(story: Story) -> None:
    ids = logged_ids(story.book, member="alice")

    assert len(ids) == 21 * 2 + 2
    assert ids[-1] == story.reports[46].event.id


def test_the_log_of_a_recipient_holds_the_invitation_and_their_response(story: Story) -> None:
    types = [event.type for _, event in story.book.events(member=stranger(3))]

    assert types == ["invitation_sent", "invitation_marked_unknown"]


def test_the_log_of_a_member_by_type_holds_the_reports_against_them(story: Story) -> None:
    ids = logged_ids(story.book, member="alice", event_type="invitation_marked_unknown")

    assert ids == [story.reports[n].event.id for n in REPORT_DAYS]


def test_the_log_of_a_member_since_a_position_keeps_responses_to_earlier_invitations(
    story: Story,
) -> None:
    # The report of day 1 answers an invitation stored just before it.
    first_report = story.reports[1]

    ids = logged_ids(story.book, member="alice", since=first_report.position - 1)

    assert ids[0] == first_report.event.id


def test_the_log_by_type_holds_only_that_type(story: Story) -> None:
    events = list(story.book.events(event_type="appeal_granted"))

    assert [(e.type, e.appeal) for _, e in events] == [("appeal_granted", "ap-alice")]  # type: ignore[union-attr]


# The statement of reasons and the appeals that concern its restriction ---------------


def resolve(book: Ledger, appeal: str, outcome: str, at: datetime, note: str) -> None:
    book.record(
        {
            "type": f"appeal_{outcome}",
            "appeal": appeal,
            "agent": "agent-ida",
            "note": note,
            "at": at,
        }
    )


@pytest.mark.parametrize("outcome", ["denied", "granted"])
def test_an_appeal_open_across_an_escalation_is_told_when_decided(
    ledger_url: str, outcome: str
) -> None:
    # Given email required on day 7, an appeal on day 8, and a suspension by day 15
    book = Ledger(ledger_url)
    for n in range(1, 8):
        report(book, "ines", f"i-guest-{n}", day(n))
    file_appeal(book, "ap-ines", "ines", day(8), "My alumni")
    for n in range(9, 16):
        report(book, "ines", f"i-guest-{n}", day(n))
    # When the appeal is decided on day 16
    resolve(book, "ap-ines", outcome, day(16), "checked the invitations")
    text = statement_of_reasons(audit(book, "ines", day(16.5)))
    fields = statement_fields(audit(book, "ines", day(16.5)))
    book.close()

    # Then the suspension's statement tells that review, with its reason
    assert "without an individual review" not in text
    assert f"{outcome} on 2026-01-17 12:00 UTC, with this reason: checked the invitations" in text
    assert fields["appeal"]["appeal"] == "ap-ines"


def test_an_appeal_left_open_on_an_expired_restriction_is_told_as_the_earlier_ones(
    ledger_url: str,
) -> None:
    # Given email required on day 7, appealed on day 30 and expired on day 37 unanswered,
    # and a new restriction by day 60
    book = Ledger(ledger_url)
    for n in range(1, 8):
        report(book, "carl", f"c-guest-{n}", day(n))
    file_appeal(book, "ap-carl", "carl", day(30), "Colleagues")
    for n in range(54, 61):
        report(book, "carl", f"c-guest-{n}", day(n))
    text = statement_of_reasons(audit(book, "carl", day(61)))
    fields = statement_fields(audit(book, "carl", day(61)))
    book.close()

    # Then the statement does not take it for an appeal of this decision, and says it
    # comes first: `appeal` refuses a second open appeal (one at a time)
    assert "your account is suspended" in text
    assert "a person is reviewing the decision" not in text
    assert "against an earlier decision, is still open" in text
    assert "once a person has decided it, you may appeal this decision while it applies" in text
    assert fields["appeal"] is None
    assert fields["earlier_open_appeal"] == {"appeal": "ap-carl", "filed_at": day(30)}


def test_an_agents_note_naming_a_reporter_reaches_the_member_without_the_name(
    ledger_url: str,
) -> None:
    # Given email required on day 7 by reports from nora-guest-1..7 (and nora-guest-10,
    # whose handle begins like one of theirs, never reported her), appealed on day 8
    book = Ledger(ledger_url)
    for n in range(1, 8):
        report(book, "nora", f"nora-guest-{n}", day(n))
    file_appeal(book, "ap-nora", "nora", day(8), "All of them are colleagues")
    # When the agent's note names two reporters, one in another case, and a third person
    note = "Nora-Guest-3 and nora-guest-5's replies confirm it; nora-guest-10 was asked too"
    resolve(book, "ap-nora", "denied", day(9), note)
    found = audit(book, "nora", day(9.5))
    text = statement_of_reasons(found)
    fields = statement_fields(found)
    book.close()

    # Then the statement and its fields say what the note says, without the reporters
    told = "[a recipient] and [a recipient]'s replies confirm it; nora-guest-10 was asked too"
    assert f"with this reason: {told}." in text
    assert fields["appeal"]["reason"] == told
    assert re.search(r"nora-guest-[1-7]\b", text, flags=re.IGNORECASE) is None
    # and the support queue, which is not told to the member, keeps the note as written
    assert found.appeals[0].note == note


def test_the_statement_gives_a_time_off_the_minute_to_the_second_and_an_end_rounded_up(
    ledger_url: str,
) -> None:
    # Given the seventh report at 12:00:50.25 on day 7: email required until then + 30 days
    book = Ledger(ledger_url)
    for n in range(1, 7):
        report(book, "otto", f"o-guest-{n}", day(n))
    report(book, "otto", "o-guest-7", day(7) + timedelta(seconds=50, microseconds=250_000))
    text = statement_of_reasons(audit(book, "otto", day(8)))
    book.close()

    assert (
        "This applies from 2026-01-08 12:00:50 UTC until 2026-02-07 12:00:51 UTC, to your account"
        in text
    )
    assert text.splitlines()[0].endswith("as of 2026-01-09 12:00 UTC")


def test_an_appeal_granted_after_the_restriction_expired_did_not_lift_it(ledger_url: str) -> None:
    # Given email required from day 7 to day 37, appealed on day 30, granted on day 40
    book = Ledger(ledger_url)
    for n in range(1, 8):
        report(book, "gail", f"g-guest-{n}", day(n))
    file_appeal(book, "ap-gail", "gail", day(30), "Colleagues")
    late = statement_of_reasons(audit(book, "gail", day(38)))
    resolve(book, "ap-gail", "granted", day(40), "reports were mistaken")
    text = statement_of_reasons(audit(book, "gail", day(41)))
    book.close()

    assert "(ended by expiry)" in text
    assert "lifted it" not in text
    assert "found for you after it had ended" in text
    assert "granted on 2026-02-10 12:00 UTC, after the restriction had ended" in text
    assert "is still open, and a person will reply" in late


def test_a_warning_left_by_an_expired_restriction_names_no_policy_field(ledger_url: str) -> None:
    # Given email required on day 7 and five reports on days 32-36, counted when it expires
    book = Ledger(ledger_url)
    for n in [*range(1, 8), *range(32, 37)]:
        report(book, "will", f"w-guest-{n}", day(n))
    found = audit(book, "will", day(38))
    book.close()
    text = statement_of_reasons(found)

    assert found.standing == "warned"
    assert "reaching the warning limit of 5" in text
    assert re.search(r"\w+=\d", text) is None, text
    assert re.search(r"\w+=\d", statement_fields(found)["grounds"]) is None
