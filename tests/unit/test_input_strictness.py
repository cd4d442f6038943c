"""Input a review found too lenient: a field given twice in a line, invisible characters
in a handle, and times that the command line and an event line read differently.

Each test reads given / when / then: the input, the reading, the outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger import events as ev
from ledger.errors import BadInput
from ledger.moments import parse_moment

# mallory's attempt, as the reviewer wrote it: alice's invitation, sent as mallory.
TWO_SENDERS = (
    '{"id":"dk","type":"invitation_sent","at":"2026-01-01T00:00:00Z","invitation":"dk",'
    '"sender":"alice","recipient":"bob2","sender":"mallory"}'
)
# One invitation from ines to jonas: the line the other tests bend.
INES_TO_JONAS: dict[str, Any] = {
    "id": "evt-ines-1",
    "type": "invitation_sent",
    "at": "2026-04-02T08:15:00Z",
    "invitation": "inv-ines-jonas",
    "sender": "ines",
    "recipient": "jonas",
}


def line(**changes: Any) -> str:
    return json.dumps({**INES_TO_JONAS, **changes})


def refusal(raw: str | bytes) -> str:
    with pytest.raises(BadInput) as caught:
        ev.parse(raw)
    return str(caught.value)


# A field given twice ------------------------------------------------------------------


def test_a_line_that_names_its_sender_twice_is_refused_naming_the_field() -> None:
    # given the reviewer's line, whose second sender would silently win
    # when it is read, as text or as the bytes import reads
    # then it is refused, and the reason names the field
    assert refusal(TWO_SENDERS) == "field 'sender' is given twice"
    assert refusal(TWO_SENDERS.encode()) == "field 'sender' is given twice"


@pytest.mark.parametrize("field", ["id", "type", "at", "invitation", "recipient"])
def test_any_field_given_twice_is_refused_even_with_the_same_value(field: str) -> None:
    given = line().encode()
    repeated = given[:-1] + f',"{field}":{json.dumps(INES_TO_JONAS[field])}}}'.encode()

    assert refusal(repeated) == f"field '{field}' is given twice"


def test_a_policy_field_given_twice_is_refused_with_its_path() -> None:
    change = (
        b'{"id":"pol-2","type":"policy_changed","at":"2026-04-02T09:00:00Z",'
        b'"policy":{"version":2,"warn_at":3,"warn_at":30}}'
    )

    assert refusal(change) == "field 'policy.warn_at' is given twice"


def test_a_canonical_line_is_read_and_is_its_own_canonical_form() -> None:
    # given the line export writes for an event
    canonical = ev.encode(ev.parse(line(message='say "sender":"x", twice')))

    # when it is read again, then the canonical form it comes with is that very line
    event, again = ev.parse_and_encode(canonical)
    assert again == canonical
    assert event.message == 'say "sender":"x", twice'  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(INES_TO_JONAS, indent=2).replace("\n", " "),
        json.dumps({**INES_TO_JONAS, "message": "caf\u00e9 \"sender\": 'x'"}),
        json.dumps({**INES_TO_JONAS, "message": None}),
    ],
    ids=["spaced-out", "escaped-text-that-looks-like-a-key", "null-message"],
)
def test_a_line_in_another_spelling_without_repeats_is_still_read(raw: str) -> None:
    assert ev.parse(raw.encode()).sender == "ines"  # type: ignore[union-attr]


# Invisible characters in handles ---------------------------------------------------------

FORMAT_CHARACTERS = {
    "zero-width-space": "\u200b",
    "byte-order-mark": "\ufeff",
    "mongolian-vowel-separator": "\u180e",
    "right-to-left-override": "\u202e",
    "left-to-right-isolate": "\u2066",
    "pop-directional-isolate": "\u2069",
    "soft-hyphen": "\u00ad",
    "zero-width-joiner": "\u200d",
    "word-joiner": "\u2060",
    "tag-latin-a": "\U000e0041",
}


@pytest.mark.parametrize(
    "char", list(FORMAT_CHARACTERS.values()), ids=list(FORMAT_CHARACTERS.keys())
)
def test_a_lookalike_of_a_handle_made_with_a_format_character_is_refused(char: str) -> None:
    # given a sender that prints as "ines" but is not
    lookalike = f"in{char}es"

    # when the line is read, then it is refused, naming the character
    assert refusal(line(sender=lookalike)) == (
        f"field 'sender' contains an invisible format character (U+{ord(char):04X})"
    )


@pytest.mark.parametrize("field", ["id", "invitation", "recipient"])
def test_every_handle_and_id_field_refuses_a_zero_width_space(field: str) -> None:
    assert f"field '{field}' contains an invisible format character" in refusal(
        line(**{field: "jon\u200bas"})
    )


def test_an_appeal_agent_with_a_byte_order_mark_is_refused() -> None:
    grant = {
        "id": "evt-grant-1",
        "type": "appeal_granted",
        "at": "2026-04-03T10:00:00Z",
        "appeal": "ap-ines",
        "agent": "\ufeffdana",
    }

    assert "field 'agent' contains an invisible format character (U+FEFF)" == refusal(
        json.dumps(grant)
    )


def test_a_command_line_handle_with_a_format_character_is_refused() -> None:
    with pytest.raises(BadInput, match=r"'recipient' contains an invisible format character"):
        ev.from_fields({**INES_TO_JONAS, "at": datetime.now(UTC), "recipient": "jo\u2060nas"})


@pytest.mark.parametrize("handle", ["zoë", "李雷", "مريم", "ines.o'neil", "👩"])
def test_visible_letters_of_any_script_stay_handles(handle: str) -> None:
    assert ev.parse(line(sender=handle)).sender == handle  # type: ignore[union-attr]


def test_an_event_stored_before_the_rule_is_still_read_from_the_log() -> None:
    # given a stored event whose sender an older version accepted
    state = ev.encode(ev.parse(line())).replace(b'"ines"', '"in\u200bes"'.encode())

    # when the log is read, then the event is as it was stored, not an error
    event = ev.decode(state)
    assert event.sender == "in\u200bes"  # type: ignore[union-attr]
    assert event.at == datetime(2026, 4, 2, 8, 15, tzinfo=UTC)
    assert ev.encode(event) == state


# Free text: bidirectional controls -----------------------------------------------------------


@pytest.mark.parametrize(
    "char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2069"]
)
def test_a_message_with_a_bidirectional_control_is_refused(char: str) -> None:
    # given a message that would show an operator its words in another order
    message = f"Hi jonas {char}gnitem eht ta tem ew"

    assert refusal(line(message=message)) == (
        f"field 'message' contains a bidirectional control character (U+{ord(char):04X})"
    )


def test_an_appeal_statement_with_a_right_to_left_override_is_refused() -> None:
    filed = {
        "id": "evt-appeal-ines",
        "type": "appeal_filed",
        "at": "2026-04-03T09:00:00Z",
        "appeal": "ap-ines",
        "member": "ines",
        "statement": "they were \u202edetsil ton\u202c classmates",
    }

    assert "bidirectional control character (U+202E)" in refusal(json.dumps(filed))


@pytest.mark.parametrize(
    "message",
    ["family 👨\u200d👩\u200d👧", "می\u200cخواهم", "שלום jonas \u200f!", "عربي and English"],
    ids=["emoji-zwj", "persian-zwnj", "hebrew-rlm", "mixed-scripts"],
)
def test_free_text_keeps_joiners_direction_marks_and_right_to_left_scripts(message: str) -> None:
    assert ev.parse(line(message=message)).message == message  # type: ignore[union-attr]


# Times: one spelling on the command line and in a line ---------------------------------------

ACCEPTED = {
    "2026-01-05T12:00:00Z": datetime(2026, 1, 5, 12, tzinfo=UTC),
    "2026-01-05T12:00:00z": datetime(2026, 1, 5, 12, tzinfo=UTC),
    "2026-01-05t12:00:00Z": datetime(2026, 1, 5, 12, tzinfo=UTC),
    "2026-01-05T12:00Z": datetime(2026, 1, 5, 12, tzinfo=UTC),
    "2026-01-05T13:00:00+01:00": datetime(2026, 1, 5, 12, tzinfo=UTC),
    "2026-01-05T12:00:00-00:00": datetime(2026, 1, 5, 12, tzinfo=UTC),
    "2026-01-05T12:00:00.5Z": datetime(2026, 1, 5, 12, 0, 0, 500000, tzinfo=UTC),
    "2026-01-05T12:00:00.123456Z": datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=UTC),
    "2026-01-05T12:00:00.123456000Z": datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=UTC),
}
FORM = "is not a time of the form YYYY-MM-DDTHH:MM[:SS[.ffffff]] with a zone (Z or ±HH:MM)"
REFUSED = {
    "2026-W02-1T12:00:00Z": FORM,  # ISO week date
    "20260105T120000Z": FORM,  # ISO basic format
    "2026-005T12:00:00Z": FORM,  # ISO ordinal date
    "2026-01-05 12:00:00Z": FORM,
    "2026-01-05_12:00:00Z": FORM,
    "2026-01-05T12:00:00,5Z": FORM,
    "2026-01-05T12:00:00+0100": FORM,
    "2026-01-05T12:00:00+01": FORM,
    "2026-01-05T12Z": FORM,
    "1767614400": FORM,
    "٢٠٢٦-01-05T12:00:00Z": FORM,
    "2026-01-05T12:00:00": "has no time zone",
    "2026-01-05T12:00:00.1234567Z": "has more than 6 fractional digits",
    "2026-01-05T12:00:00.1234560001Z": "has more than 6 fractional digits",
}


@pytest.mark.parametrize("text", list(ACCEPTED))
def test_a_time_reads_the_same_on_the_command_line_and_in_a_line(text: str) -> None:
    # given a time in one of the accepted spellings
    # when the command line reads it and an event line carries it
    # then both name the same moment, in UTC
    assert parse_moment(text) == ACCEPTED[text]
    assert ev.parse(line(at=text)).at == ACCEPTED[text]
    assert parse_moment(text).utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", list(REFUSED))
def test_a_time_is_refused_alike_on_the_command_line_and_in_a_line(text: str) -> None:
    # given a time in a spelling outside the extended format with a zone
    with pytest.raises(ValueError) as caught:
        parse_moment(text)
    on_the_command_line = str(caught.value)

    # then the command line refuses it, and import refuses it in the same words
    assert on_the_command_line.startswith(f"{text!r} {REFUSED[text]}")
    assert refusal(line(at=text)) == f"field 'at': {on_the_command_line}"


def test_a_day_the_month_does_not_have_is_refused_alike() -> None:
    with pytest.raises(ValueError) as caught:
        parse_moment("2026-02-30T12:00:00Z")

    assert "is not a valid date" in str(caught.value)
    assert refusal(line(at="2026-02-30T12:00:00Z")) == f"field 'at': {caught.value}"


def test_a_time_outside_the_supported_years_is_refused_alike() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_moment("1899-12-31T23:59:59Z")
    assert refusal(line(at="1899-12-31T23:59:59Z")) == (
        "field 'at': time is out of range (years 1900 to 2999 in UTC)"
    )


def test_a_time_given_as_a_number_is_refused_with_the_form() -> None:
    assert refusal(line(at=1767614400)).startswith("field 'at': not a time of the form")


def test_an_offset_time_is_stored_in_utc() -> None:
    event = ev.parse(line(at="2026-01-05T14:30:00+02:30"))

    assert event.at == datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert b'"at":"2026-01-05T12:00:00Z"' in ev.encode(event)


# Appeal statements --------------------------------------------------------------------

APPEAL = {
    "type": "appeal_filed",
    "id": "ap-e1",
    "at": "2026-04-03T08:00:00Z",
    "appeal": "ap-1",
    "member": "ines",
    "statement": "I met them at a conference.",
}


@pytest.mark.parametrize("statement", ["", " ", "\n\t \n"])
def test_an_appeal_that_says_nothing_is_refused(statement: str) -> None:
    assert refusal(json.dumps({**APPEAL, "statement": statement})) == (
        "field 'statement': an appeal's statement may not be empty"
    )


def test_an_empty_appeal_stored_before_the_rule_is_still_read_from_the_log() -> None:
    state = ev.encode(ev.parse(json.dumps(APPEAL))).replace(b'"I met them at a conference."', b'""')

    event = ev.decode(state)

    assert event.statement == ""  # type: ignore[union-attr]
    assert ev.encode(event) == state


INVISIBLE = ["\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f", "\u17b4", "\u180b"]
INVISIBLE += ["\u180f", "\ufe00", "\ufe0f", "\U000e0100", "\U000e01ef"]


@pytest.mark.parametrize("blank", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_a_handle_holding_a_character_that_prints_nothing_is_refused(blank: str) -> None:
    assert refusal(line(recipient=f"jo{blank}nas")) == (
        f"field 'recipient' contains a character that prints nothing or blank (U+{ord(blank):04X})"
    )
    with pytest.raises(BadInput, match="prints nothing or blank"):
        ev.from_fields({**INES_TO_JONAS, "at": datetime.now(UTC), "sender": blank})


@pytest.mark.parametrize("blank", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_an_appeal_of_only_invisible_characters_says_nothing(blank: str) -> None:
    assert refusal(json.dumps({**APPEAL, "statement": f" {blank}\u200b "})) == (
        "field 'statement': an appeal's statement may not be empty"
    )


def test_the_hangul_letters_around_the_fillers_stay_handles() -> None:
    assert ev.parse(line(recipient="한국어")).recipient == "한국어"  # type: ignore[union-attr]
