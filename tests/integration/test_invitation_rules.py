"""The invitation, appeal and send-time rules of SPEC.md, against a real ledger file.

Every rule is shown refusing and allowing. Times are days of 2026 at noon UTC.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from ledger.application import Appended, Ledger
from ledger.errors import BadInput, RuleViolation, UnknownId
from projections import queries

START = datetime(2026, 1, 1, 12, tzinfo=UTC)

RESPONSES = {
    "accepted": "invitation_accepted",
    "ignored": "invitation_ignored",
    "unknown": "invitation_marked_unknown",
    "withdrawn": "invitation_withdrawn",
}


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def send(
    book: Ledger,
    invitation: str,
    sender: str,
    recipient: str,
    at: datetime,
    *,
    email: str | None = None,
    command_rules: bool = False,
) -> Appended:
    return book.record(
        {
            "type": "invitation_sent",
            "invitation": invitation,
            "sender": sender,
            "recipient": recipient,
            "recipient_email": email,
            "at": at,
        },
        command_rules=command_rules,
    )


def respond(book: Ledger, status: str, invitation: str, at: datetime) -> Appended:
    return book.record({"type": RESPONSES[status], "invitation": invitation, "at": at})


def reported(book: Ledger, sender: str, recipients: list[str], first_day: int) -> None:
    """One IDK report a day against `sender`, one recipient each."""
    for offset, recipient in enumerate(recipients):
        invitation = f"inv-{sender}-{recipient}"
        send(book, invitation, sender, recipient, day(first_day + offset) - timedelta(hours=3))
        respond(book, "unknown", invitation, day(first_day + offset))


def file_appeal(book: Ledger, appeal: str, member: str, at: datetime) -> Appended:
    return book.record(
        {
            "type": "appeal_filed",
            "appeal": appeal,
            "member": member,
            "statement": "I know them",
            "at": at,
        }
    )


def resolve(book: Ledger, outcome: str, appeal: str, at: datetime) -> Appended:
    return book.record(
        {"type": f"appeal_{outcome}", "appeal": appeal, "agent": "support-sam", "at": at}
    )


def exported(book: Ledger) -> bytes:
    out = io.BytesIO()
    book.export(out)
    return out.getvalue()


def refused_rule(action: object) -> str:
    """Run `action`; it must be refused by a rule. Returns the rule's name."""
    with pytest.raises(RuleViolation) as caught:
        action()  # type: ignore[operator]
    return caught.value.rule


def checked(
    book: Ledger, sender: str, recipient: str, at: datetime, email: str | None = None
) -> queries.CheckOut:
    book.ensure_current()
    with book.store.read() as tx:
        return queries.check(tx, sender, recipient, email, at)


# An invitation id is used once; sender and recipient differ ------------------------


def test_an_invitation_id_cannot_be_used_twice(book: Ledger) -> None:
    send(book, "inv-olive", "olive", "pavel", day(1))

    rule = refused_rule(lambda: send(book, "inv-olive", "quinn", "rosa", day(2)))

    assert rule == "invitation-id-used"


def test_a_fresh_invitation_id_from_the_same_sender_is_allowed(book: Ledger) -> None:
    send(book, "inv-olive-1", "olive", "pavel", day(1))

    appended = send(book, "inv-olive-2", "olive", "rosa", day(2))

    assert appended.event.invitation == "inv-olive-2"  # type: ignore[union-attr]


def test_an_event_id_cannot_be_used_twice(book: Ledger) -> None:
    book.record(
        {
            "id": "evt-1",
            "type": "invitation_sent",
            "invitation": "inv-a",
            "sender": "olive",
            "recipient": "pavel",
            "at": day(1),
        }
    )

    rule = refused_rule(
        lambda: book.record(
            {
                "id": "evt-1",
                "type": "invitation_sent",
                "invitation": "inv-b",
                "sender": "olive",
                "recipient": "rosa",
                "at": day(1),
            }
        )
    )

    assert rule == "event-id-used"


def test_a_member_cannot_invite_themselves(book: Ledger) -> None:
    rule = refused_rule(lambda: send(book, "inv-mirror", "narcissa", "narcissa", day(1)))

    assert rule == "self-invitation"


# Responses need a sent invitation, not earlier than the send -----------------------


@pytest.mark.parametrize("status", list(RESPONSES))
def test_a_response_to_an_invitation_never_sent_is_an_unknown_id(book: Ledger, status: str) -> None:
    with pytest.raises(UnknownId, match="inv-ghost"):
        respond(book, status, "inv-ghost", day(1))


def test_a_response_earlier_than_the_send_is_refused(book: Ledger) -> None:
    send(book, "inv-tomas", "tomas", "ursula", day(5))

    rule = refused_rule(
        lambda: respond(book, "accepted", "inv-tomas", day(5) - timedelta(seconds=1))
    )

    assert rule == "response-before-send"


def test_a_response_at_the_very_moment_of_the_send_is_allowed(book: Ledger) -> None:
    send(book, "inv-tomas", "tomas", "ursula", day(5))

    appended = respond(book, "accepted", "inv-tomas", day(5))

    assert appended.event.type == "invitation_accepted"


# The life of an invitation ---------------------------------------------------------


@pytest.mark.parametrize("status", list(RESPONSES))
def test_a_pending_invitation_takes_any_response(book: Ledger, status: str) -> None:
    send(book, "inv-vera", "vera", "walt", day(1))

    appended = respond(book, status, "inv-vera", day(2))

    assert appended.event.type == RESPONSES[status]


def test_an_ignored_invitation_may_still_be_marked_unknown(book: Ledger) -> None:
    send(book, "inv-vera", "vera", "walt", day(1))
    respond(book, "ignored", "inv-vera", day(2))

    appended = respond(book, "unknown", "inv-vera", day(3))

    assert appended.event.type == "invitation_marked_unknown"


@pytest.mark.parametrize("then", ["accepted", "ignored", "withdrawn"])
def test_an_ignored_invitation_cannot_be_accepted_ignored_again_or_withdrawn(
    book: Ledger, then: str
) -> None:
    send(book, "inv-vera", "vera", "walt", day(1))
    respond(book, "ignored", "inv-vera", day(2))

    rule = refused_rule(lambda: respond(book, then, "inv-vera", day(3)))

    assert rule == "invitation-state"


@pytest.mark.parametrize("final", ["accepted", "unknown", "withdrawn"])
@pytest.mark.parametrize("then", list(RESPONSES))
def test_accepted_marked_unknown_and_withdrawn_are_final(
    book: Ledger, final: str, then: str
) -> None:
    send(book, "inv-xena", "xena", "yusuf", day(1))
    respond(book, final, "inv-xena", day(2))

    rule = refused_rule(lambda: respond(book, then, "inv-xena", day(3)))

    assert rule == "invitation-state"


# Blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["ignored", "unknown"])
def test_an_ignored_or_unknown_invitation_blocks_the_sender_from_inviting_again(
    book: Ledger, status: str
) -> None:
    send(book, "inv-zack-1", "zack", "amara", day(1))
    respond(book, status, "inv-zack-1", day(2))

    with pytest.raises(RuleViolation) as caught:
        send(book, "inv-zack-2", "zack", "amara", day(3))

    assert caught.value.rule == "blocked"
    assert "amara blocked zack" in str(caught.value)


@pytest.mark.parametrize("status", ["ignored", "unknown"])
def test_a_block_is_one_way_so_the_recipient_may_still_invite_the_sender(
    book: Ledger, status: str
) -> None:
    send(book, "inv-zack", "zack", "amara", day(1))
    respond(book, status, "inv-zack", day(2))

    appended = send(book, "inv-amara", "amara", "zack", day(3))

    assert appended.event.sender == "amara"  # type: ignore[union-attr]


def test_a_block_names_the_event_that_caused_it(book: Ledger) -> None:
    send(book, "inv-zack-1", "zack", "amara", day(1))
    ignored = respond(book, "ignored", "inv-zack-1", day(2))

    with pytest.raises(RuleViolation) as caught:
        send(book, "inv-zack-2", "zack", "amara", day(3))

    assert ignored.event.id in str(caught.value)


def test_a_withdrawn_invitation_does_not_block_a_new_one(book: Ledger) -> None:
    send(book, "inv-bruno-1", "bruno", "cleo", day(1))
    respond(book, "withdrawn", "inv-bruno-1", day(2))

    appended = send(book, "inv-bruno-2", "bruno", "cleo", day(3))

    assert appended.event.invitation == "inv-bruno-2"  # type: ignore[union-attr]


# Connected pairs and pending invitations -------------------------------------------


def test_a_connected_pair_cannot_be_invited_again_by_the_sender(book: Ledger) -> None:
    send(book, "inv-dario", "dario", "elke", day(1))
    respond(book, "accepted", "inv-dario", day(2))

    rule = refused_rule(lambda: send(book, "inv-dario-2", "dario", "elke", day(3)))

    assert rule == "connected"


def test_a_connected_pair_cannot_be_invited_again_by_the_recipient(book: Ledger) -> None:
    send(book, "inv-dario", "dario", "elke", day(1))
    respond(book, "accepted", "inv-dario", day(2))

    rule = refused_rule(lambda: send(book, "inv-elke", "elke", "dario", day(3)))

    assert rule == "connected"


def test_a_sender_has_at_most_one_pending_invitation_per_recipient(book: Ledger) -> None:
    send(book, "inv-farah-1", "farah", "gus", day(1))

    rule = refused_rule(lambda: send(book, "inv-farah-2", "farah", "gus", day(2)))

    assert rule == "pending"


def test_a_sender_may_have_pending_invitations_to_different_recipients(book: Ledger) -> None:
    send(book, "inv-farah-gus", "farah", "gus", day(1))

    appended = send(book, "inv-farah-hana", "farah", "hana", day(1))

    assert appended.event.recipient == "hana"  # type: ignore[union-attr]


def test_a_pending_invitation_does_not_stop_the_recipient_from_recording_one_the_other_way(
    book: Ledger,
) -> None:
    # The invitation rules hold per directed pair; the either-way rule is a send-time rule.
    send(book, "inv-farah", "farah", "gus", day(1))

    appended = send(book, "inv-gus", "gus", "farah", day(2))

    assert appended.event.sender == "gus"  # type: ignore[union-attr]


# A refused append stores nothing ---------------------------------------------------


def test_a_refused_invitation_stores_nothing(book: Ledger) -> None:
    send(book, "inv-ivo", "ivo", "jana", day(1))
    respond(book, "accepted", "inv-ivo", day(2))
    before = exported(book)

    with pytest.raises(RuleViolation):
        send(book, "inv-ivo-again", "ivo", "jana", day(3))

    assert exported(book) == before
    assert list(book.events(member="ivo"))[-1][1].type == "invitation_accepted"


def test_a_refused_response_stores_nothing_and_leaves_the_invitation_as_it_was(
    book: Ledger,
) -> None:
    send(book, "inv-ivo", "ivo", "jana", day(1))
    respond(book, "withdrawn", "inv-ivo", day(2))
    before = exported(book)

    with pytest.raises(RuleViolation):
        respond(book, "unknown", "inv-ivo", day(3))

    assert exported(book) == before
    book.ensure_current()
    with book.store.read() as tx:
        counts = queries.status(tx, "ivo", day(4)).reputation
    assert (counts.withdrawn, counts.unknown) == (1, 0)


def test_an_unknown_id_stores_nothing(book: Ledger) -> None:
    send(book, "inv-ivo", "ivo", "jana", day(1))
    before = exported(book)

    with pytest.raises(UnknownId):
        respond(book, "ignored", "inv-nobody-sent", day(2))

    assert exported(book) == before


# Appeals ---------------------------------------------------------------------------

SEVEN = ["kai", "lena", "mo", "nell", "omar", "pia", "raj"]


def test_an_appeal_needs_an_active_restriction(book: Ledger) -> None:
    reported(book, "kasper", SEVEN[:6], first_day=1)  # six reports: warned, not restricted

    rule = refused_rule(lambda: file_appeal(book, "ap-kasper", "kasper", day(8)))

    assert rule == "appeal-not-allowed"


def test_a_member_in_good_standing_cannot_appeal(book: Ledger) -> None:
    rule = refused_rule(lambda: file_appeal(book, "ap-saint", "saint", day(1)))

    assert rule == "appeal-not-allowed"


def test_a_restricted_member_may_appeal(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)

    appended = file_appeal(book, "ap-kasper", "kasper", day(8))

    assert appended.event.appeal == "ap-kasper"  # type: ignore[union-attr]


def test_an_appeal_after_the_restriction_expired_is_refused(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)  # email_required from day 7 to day 37

    rule = refused_rule(lambda: file_appeal(book, "ap-late", "kasper", day(38)))

    assert rule == "appeal-not-allowed"


def test_an_appeal_dated_before_the_restriction_began_is_refused(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)  # email_required from day 7

    rule = refused_rule(lambda: file_appeal(book, "ap-early", "kasper", day(5)))

    assert rule == "appeal-not-allowed"


def test_a_member_has_at_most_one_open_appeal(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)
    file_appeal(book, "ap-kasper-1", "kasper", day(8))

    rule = refused_rule(lambda: file_appeal(book, "ap-kasper-2", "kasper", day(9)))

    assert rule == "appeal-not-allowed"


def test_a_denied_appeal_keeps_the_restriction_and_closes_the_appeal(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)
    file_appeal(book, "ap-kasper-1", "kasper", day(8))

    resolve(book, "denied", "ap-kasper-1", day(9))

    book.ensure_current()
    with book.store.read() as tx:
        status = queries.status(tx, "kasper", day(9))
    assert status.standing == "email_required"
    assert status.open_appeal is None


def test_after_a_denied_appeal_no_appeal_is_open_so_a_new_one_may_be_filed(book: Ledger) -> None:
    # SPEC: filing needs an active restriction and no open appeal; nothing more.
    reported(book, "kasper", SEVEN, first_day=1)
    file_appeal(book, "ap-kasper-1", "kasper", day(8))
    resolve(book, "denied", "ap-kasper-1", day(9))

    appended = file_appeal(book, "ap-kasper-2", "kasper", day(10))

    assert appended.event.appeal == "ap-kasper-2"  # type: ignore[union-attr]


def test_an_appeal_id_is_used_once(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)
    reported(book, "lotte", SEVEN, first_day=1)
    file_appeal(book, "ap-shared", "kasper", day(8))

    rule = refused_rule(lambda: file_appeal(book, "ap-shared", "lotte", day(8)))

    assert rule == "appeal-id-used"


@pytest.mark.parametrize("first", ["granted", "denied"])
@pytest.mark.parametrize("second", ["granted", "denied"])
def test_an_appeal_is_resolved_once(book: Ledger, first: str, second: str) -> None:
    reported(book, "kasper", SEVEN, first_day=1)
    file_appeal(book, "ap-kasper", "kasper", day(8))
    resolve(book, first, "ap-kasper", day(9))

    rule = refused_rule(lambda: resolve(book, second, "ap-kasper", day(10)))

    assert rule == "appeal-resolved"


def test_a_resolution_earlier_than_the_filing_is_refused(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)
    file_appeal(book, "ap-kasper", "kasper", day(8))

    rule = refused_rule(
        lambda: resolve(book, "granted", "ap-kasper", day(8) - timedelta(minutes=1))
    )

    assert rule == "resolution-before-filing"


@pytest.mark.parametrize("outcome", ["granted", "denied"])
def test_resolving_an_appeal_never_filed_is_an_unknown_id(book: Ledger, outcome: str) -> None:
    with pytest.raises(UnknownId, match="ap-phantom"):
        resolve(book, outcome, "ap-phantom", day(1))


def test_a_granted_appeal_lifts_the_restriction(book: Ledger) -> None:
    reported(book, "kasper", SEVEN, first_day=1)
    file_appeal(book, "ap-kasper", "kasper", day(8))

    resolve(book, "granted", "ap-kasper", day(9))

    book.ensure_current()
    with book.store.read() as tx:
        assert queries.status(tx, "kasper", day(9)).standing == "good"


# Policy changes -------------------------------------------------------------------


def test_a_policy_change_must_raise_the_version(book: Ledger) -> None:
    book.record({"type": "policy_changed", "policy": {"version": 3, "warn_at": 4}, "at": day(1)})

    rule = refused_rule(
        lambda: book.record(
            {"type": "policy_changed", "policy": {"version": 3, "warn_at": 3}, "at": day(2)}
        )
    )

    assert rule == "policy-version"


def test_a_policy_change_with_a_larger_version_is_allowed(book: Ledger) -> None:
    book.record({"type": "policy_changed", "policy": {"version": 3, "warn_at": 4}, "at": day(1)})

    appended = book.record(
        {"type": "policy_changed", "policy": {"version": 4, "warn_at": 3}, "at": day(2)}
    )

    assert appended.event.type == "policy_changed"


def test_policy_set_refuses_a_change_dated_before_the_latest_one(book: Ledger) -> None:
    # given a change that takes effect on day 150
    later = {"version": 2, "warn_at": 3, "restrict_at": 3}
    book.record({"type": "policy_changed", "policy": later, "at": day(150)}, command_rules=True)
    before = exported(book)

    # when `policy set` dates a larger version day 0: it would be in force before version
    # 2, and was checked against version 2 (warn 5 with restrict 4 never would have been)
    rule = refused_rule(
        lambda: book.record(
            {"type": "policy_changed", "policy": {"version": 3, "restrict_at": 4}, "at": day(0)},
            command_rules=True,
        )
    )

    # then it is refused, and nothing is stored
    assert rule == "policy-order"
    assert exported(book) == before
    # and one dated at the same moment as the latest is taken (the later logged wins)
    book.record(
        {"type": "policy_changed", "policy": {"version": 3, "warn_at": 2}, "at": day(150)},
        command_rules=True,
    )


def test_an_import_records_policy_changes_out_of_date_order_as_they_were(book: Ledger) -> None:
    # An import records a history (from an earlier version, or another tool) as it was:
    # an export of any ledger imports into an empty one.
    lines = [
        {"type": "policy_changed", "id": "p2", "at": day(150).isoformat(),
         "policy": {"version": 2}},
        {"type": "policy_changed", "id": "p3", "at": day(149).isoformat(),
         "policy": {"version": 3}},
    ]  # fmt: skip

    result = book.import_lines([json.dumps(line).encode() + b"\n" for line in lines])

    assert result.imported == 2
    assert [json.loads(line)["id"] for line in exported(book).splitlines()] == ["p2", "p3"]


def test_a_policy_whose_warning_comes_after_its_restriction_is_bad_input(book: Ledger) -> None:
    before = exported(book)

    with pytest.raises(BadInput, match=r"warn_at \(9\) may not exceed restrict_at \(7\)"):
        book.record(
            {"type": "policy_changed", "policy": {"version": 2, "warn_at": 9}, "at": day(1)}
        )

    assert exported(book) == before


# Send-time rules (send and check) --------------------------------------------------

# With this policy one report restricts (email_required) and a second escalates to a suspension.
HAIR_TRIGGER = {"type": "policy_changed", "policy": {"version": 2, "warn_at": 1, "restrict_at": 1}}


def suspended(book: Ledger, member: str) -> None:
    book.record({**HAIR_TRIGGER, "at": day(0)})
    reported(book, member, [f"{member}-victim-1", f"{member}-victim-2"], first_day=1)


def email_required(book: Ledger, member: str) -> None:
    book.record({**HAIR_TRIGGER, "at": day(0)})
    reported(book, member, [f"{member}-victim-1"], first_day=1)


def test_a_suspended_sender_is_refused_before_anything_else(book: Ledger) -> None:
    suspended(book, "sid")
    # sid is also blocked by the second victim: suspension is rule 1 and wins.
    rule = refused_rule(
        lambda: send(book, "inv-sid", "sid", "sid-victim-2", day(3), command_rules=True)
    )

    assert rule == "suspended"
    assert checked(book, "sid", "sid-victim-2", day(3)).rule == "suspended"


def test_a_suspended_sender_cannot_invite_even_a_stranger_with_an_email(book: Ledger) -> None:
    suspended(book, "sid")

    outcome = checked(book, "sid", "tereza", day(3), email="tereza@example.org")

    assert (outcome.allowed, outcome.rule) == (False, "suspended")


def test_a_suspension_is_not_a_reason_to_refuse_an_imported_fact(book: Ledger) -> None:
    suspended(book, "sid")

    appended = send(book, "inv-sid-late", "sid", "tereza", day(3))

    assert appended.position > 0


def test_a_suspended_member_may_appeal(book: Ledger) -> None:
    suspended(book, "sid")

    appended = file_appeal(book, "ap-sid", "sid", day(3))

    assert appended.event.appeal == "ap-sid"  # type: ignore[union-attr]


def test_a_backdated_send_is_judged_by_the_standing_at_its_own_time_as_check_judges_it(
    book: Ledger,
) -> None:
    # ezra must give emails from day 1; a second report on day 5 suspends him until day 12.
    book.record({**HAIR_TRIGGER, "at": day(0)})
    reported(book, "ezra", ["ezra-victim-1"], first_day=1)
    reported(book, "ezra", ["ezra-victim-2"], first_day=5)
    assert checked(book, "ezra", "fleur", day(3), email="fleur@example.org").allowed

    appended = send(
        book,
        "inv-ezra-fleur",
        "ezra",
        "fleur",
        day(3),
        email="fleur@example.org",
        command_rules=True,
    )

    assert appended.event.at == day(3)


def test_a_block_is_refused_before_a_connection(book: Ledger) -> None:
    # uma ignored vito, then vito invited uma and she accepted: blocked and connected at once.
    send(book, "inv-vito", "vito", "uma", day(1))
    respond(book, "ignored", "inv-vito", day(2))
    send(book, "inv-uma", "uma", "vito", day(3))
    respond(book, "accepted", "inv-uma", day(4))

    rule = refused_rule(lambda: send(book, "inv-vito-2", "vito", "uma", day(5), command_rules=True))

    assert rule == "blocked"
    assert checked(book, "vito", "uma", day(5)).rule == "blocked"


def test_a_connected_pair_is_refused_at_send_time_either_way(book: Ledger) -> None:
    send(book, "inv-wanda", "wanda", "xavi", day(1))
    respond(book, "accepted", "inv-wanda", day(2))

    assert checked(book, "wanda", "xavi", day(3)).rule == "connected"
    assert checked(book, "xavi", "wanda", day(3)).rule == "connected"


def test_a_pending_invitation_the_other_way_refuses_a_send(book: Ledger) -> None:
    send(book, "inv-yara", "yara", "zeno", day(1))

    rule = refused_rule(lambda: send(book, "inv-zeno", "zeno", "yara", day(2), command_rules=True))

    assert rule == "pending"
    assert checked(book, "zeno", "yara", day(2)).rule == "pending"


def test_a_pending_invitation_is_refused_before_the_email_requirement(book: Ledger) -> None:
    book.record({**HAIR_TRIGGER, "at": day(0)})
    send(book, "inv-ezra-pending", "ezra", "fleur", day(0))
    reported(book, "ezra", ["ezra-victim-1"], first_day=1)  # ezra is now email_required

    outcome = checked(book, "ezra", "fleur", day(2))

    assert outcome.rule == "pending"


def test_an_email_required_sender_without_an_email_is_refused(book: Ledger) -> None:
    email_required(book, "ezra")

    rule = refused_rule(lambda: send(book, "inv-ezra", "ezra", "fleur", day(2), command_rules=True))

    assert rule == "email-required"
    assert checked(book, "ezra", "fleur", day(2)).rule == "email-required"


def test_an_email_required_sender_with_an_email_may_send(book: Ledger) -> None:
    email_required(book, "ezra")

    appended = send(
        book, "inv-ezra", "ezra", "fleur", day(2), email="fleur@example.org", command_rules=True
    )

    assert appended.event.recipient_email == "fleur@example.org"  # type: ignore[union-attr]
    assert checked(book, "ezra", "gilda", day(2), email="gilda@example.org").allowed


def test_check_treats_an_invalid_email_address_as_bad_input(book: Ledger) -> None:
    # Bad input is not a "no" of the rules: SPEC gives it exit 2, so check raises BadInput.
    email_required(book, "ezra")

    with pytest.raises(BadInput, match="recipient_email"):
        checked(book, "ezra", "fleur", day(2), email="fleur-at-example")


def test_a_refused_send_stores_nothing(book: Ledger) -> None:
    email_required(book, "ezra")
    before = exported(book)

    with pytest.raises(RuleViolation):
        send(book, "inv-ezra", "ezra", "fleur", day(2), command_rules=True)

    assert exported(book) == before


def test_a_warned_sender_may_send_and_gets_a_warning(book: Ledger) -> None:
    reported(book, "hugo", SEVEN[:5], first_day=1)  # five reports: warned

    appended = send(book, "inv-hugo", "hugo", "ines", day(6), command_rules=True)
    outcome = checked(book, "hugo", "jonas", day(6))

    assert appended.warning is not None and "hugo" in appended.warning
    assert outcome.allowed is True
    assert outcome.warning is not None


def test_a_sender_in_good_standing_sends_without_a_warning(book: Ledger) -> None:
    reported(book, "hugo", SEVEN[:4], first_day=1)  # four reports: still good

    appended = send(book, "inv-hugo", "hugo", "ines", day(6), command_rules=True)
    outcome = checked(book, "hugo", "jonas", day(6))

    assert appended.warning is None
    assert (outcome.allowed, outcome.rule, outcome.warning) == (True, None, None)


def test_check_refuses_a_self_invitation(book: Ledger) -> None:
    outcome = checked(book, "narcissa", "narcissa", day(1))

    assert (outcome.allowed, outcome.rule) == (False, "self-invitation")


def test_check_writes_nothing(book: Ledger) -> None:
    send(book, "inv-kofi", "kofi", "lars", day(1))
    before = exported(book)

    checked(book, "kofi", "mila", day(2))

    assert exported(book) == before


def test_check_at_a_past_moment_sees_the_pair_as_it_was(book: Ledger) -> None:
    send(book, "inv-nico", "nico", "oona", day(1))
    respond(book, "ignored", "inv-nico", day(5))

    assert checked(book, "nico", "oona", day(3)).rule == "pending"
    assert checked(book, "nico", "oona", day(6)).rule == "blocked"
