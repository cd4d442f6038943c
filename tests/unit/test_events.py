"""Validation at the edge: what may become an event, and the canonical form it takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ledger import events as ev
from ledger.errors import BadInput
from ledger.moments import parse_moment

# One invitation from dora to emil, the line every test below bends a little.
DORA_TO_EMIL: dict[str, Any] = {
    "id": "evt-dora-1",
    "type": "invitation_sent",
    "at": "2026-03-14T09:26:53Z",
    "invitation": "inv-dora-emil",
    "sender": "dora",
    "recipient": "emil",
}


def line(**changes: Any) -> str:
    return json.dumps({**DORA_TO_EMIL, **changes})


def refusal(raw: str | bytes) -> str:
    with pytest.raises(BadInput) as caught:
        ev.parse(raw)
    return str(caught.value)


# Handles and ids -----------------------------------------------------------------


def test_a_plain_invitation_line_becomes_an_invitation_sent_event() -> None:
    event = ev.parse(line())

    assert isinstance(event, ev.InvitationSent)
    assert (event.sender, event.recipient, event.invitation) == ("dora", "emil", "inv-dora-emil")
    assert event.at == datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


@pytest.mark.parametrize(
    "handle",
    ["do ra", "do\tra", "dora\n", "do\x00ra", "do\x1bra", "do\x7fra", "do\x85ra", "do\u00a0ra"],
    ids=["space", "tab", "newline", "nul", "esc", "del", "c1-nel", "nbsp"],
)
def test_a_sender_handle_with_whitespace_or_control_characters_is_refused(handle: str) -> None:
    reason = refusal(line(sender=handle))

    assert "sender" in reason
    assert "whitespace or control characters" in reason


@pytest.mark.parametrize("field", ["id", "invitation", "recipient"])
def test_every_id_and_handle_field_refuses_a_space(field: str) -> None:
    reason = refusal(line(**{field: "has space"}))

    assert f"'{field}'" in reason


def test_an_empty_handle_is_refused() -> None:
    reason = refusal(line(recipient=""))

    assert "recipient" in reason


def test_a_handle_of_128_characters_is_accepted_and_129_is_refused() -> None:
    longest = "d" * 128

    assert ev.parse(line(sender=longest)).sender == longest  # type: ignore[union-attr]
    assert "sender" in refusal(line(sender=longest + "d"))


def test_an_appeal_id_longer_than_128_characters_is_refused() -> None:
    appeal = {
        "id": "evt-appeal-1",
        "type": "appeal_filed",
        "at": "2026-03-15T10:00:00Z",
        "appeal": "a" * 129,
        "member": "dora",
        "statement": "I met them all at the Lisbon meetup",
    }

    assert "appeal" in refusal(json.dumps(appeal))


def test_an_invitation_id_given_as_a_number_is_refused() -> None:
    assert "invitation" in refusal(line(invitation=31415))


def test_an_invitation_id_given_as_a_number_is_refused_from_command_line_values_too() -> None:
    with pytest.raises(BadInput, match="invitation"):
        ev.from_fields({**DORA_TO_EMIL, "invitation": 31415})


# Free text -----------------------------------------------------------------------


def test_a_message_of_300_characters_is_accepted_and_301_is_refused() -> None:
    assert len(ev.parse(line(message="m" * 300)).message or "") == 300  # type: ignore[union-attr]
    assert "message" in refusal(line(message="m" * 301))


@pytest.mark.parametrize(
    "message",
    ["see \x1b[31mred\x1b[0m", "csi \x9b31m", "bell \x07", "carriage \r return", "nul \x00"],
    ids=["esc", "c1-csi", "bel", "cr", "nul"],
)
def test_a_message_with_a_control_character_is_refused(message: str) -> None:
    assert refusal(line(message=message)) == "field 'message' contains control characters"


def test_a_message_may_hold_newlines_and_tabs() -> None:
    text = "Hi Emil,\n\twe met at PyCon Lisbon."

    assert ev.parse(line(message=text)).message == text  # type: ignore[union-attr]


def test_an_appeal_statement_with_an_escape_sequence_is_refused() -> None:
    with pytest.raises(BadInput, match="statement"):
        ev.from_fields(
            {
                "id": "evt-appeal-esc",
                "type": "appeal_filed",
                "at": "2026-03-15T10:00:00Z",
                "appeal": "ap-dora",
                "member": "dora",
                "statement": "innocent\x1b]0;owned\x07",
            }
        )


def test_a_grant_note_with_a_c1_control_is_refused() -> None:
    grant = {
        "id": "evt-grant-c1",
        "type": "appeal_granted",
        "at": "2026-03-16T10:00:00Z",
        "appeal": "ap-dora",
        "agent": "felix",
        "note": "ok\x9b2J",
    }

    assert "note" in refusal(json.dumps(grant))


# Emails --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["emil-at-example.org", "emil@", "@example.org", "em il@example.org"]
)
def test_an_invalid_recipient_email_is_refused(email: str) -> None:
    assert "recipient_email" in refusal(line(recipient_email=email))


def test_a_valid_recipient_email_is_kept() -> None:
    event = ev.parse(line(recipient_email="emil@example.org"))

    assert event.recipient_email == "emil@example.org"  # type: ignore[union-attr]


# Times ---------------------------------------------------------------------------


def test_a_time_without_a_zone_is_refused() -> None:
    assert "at" in refusal(line(at="2026-03-14T09:26:53"))


def test_a_time_without_a_zone_is_refused_from_command_line_values_too() -> None:
    with pytest.raises(BadInput):
        ev.from_fields({**DORA_TO_EMIL, "at": datetime(2026, 3, 14, 9, 26, 53)})


def test_a_time_with_an_offset_is_stored_in_utc() -> None:
    event = ev.parse(line(at="2026-03-14T11:26:53+02:00"))

    assert event.at == datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert event.at.utcoffset() == timedelta(0)
    assert b'"at":"2026-03-14T09:26:53Z"' in ev.encode(event)


def test_a_time_with_a_negative_offset_crossing_midnight_moves_to_the_next_utc_day() -> None:
    event = ev.parse(line(at="2026-03-14T21:30:00-05:00"))

    assert event.at == datetime(2026, 3, 15, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "when", ["2026-02-30T12:00:00Z", "2026-13-01T12:00:00Z", "2026-01-01T25:00:00Z"]
)
def test_an_impossible_date_is_refused(when: str) -> None:
    assert "at" in refusal(line(at=when))


def test_a_command_line_time_requires_a_zone() -> None:
    with pytest.raises(ValueError, match="2026-03-14T09:26:53.* has no time zone"):
        parse_moment("2026-03-14T09:26:53")


def test_a_command_line_time_converts_an_offset_to_utc() -> None:
    assert parse_moment("2026-03-14T10:26:53+01:00") == datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


def test_a_command_line_time_outside_the_supported_years_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_moment("9999-12-31T23:59:59-23:59")


# The shape of a line -------------------------------------------------------------


def test_an_unknown_event_type_is_refused_by_name() -> None:
    assert refusal(line(type="invitation_liked")) == "unknown event type 'invitation_liked'"


@pytest.mark.parametrize(("given", "shown"), [(None, "null"), (True, "true"), ([1], "[1]")])
def test_a_type_that_is_not_a_string_is_shown_as_json_writes_it(given: object, shown: str) -> None:
    assert refusal(line(type=given)) == f"unknown event type {shown}"


def test_a_missing_field_is_refused_by_name() -> None:
    without_sender = {k: v for k, v in DORA_TO_EMIL.items() if k != "sender"}

    assert refusal(json.dumps(without_sender)) == "missing field 'sender'"


def test_a_missing_type_is_refused() -> None:
    without_type = {k: v for k, v in DORA_TO_EMIL.items() if k != "type"}

    assert "type" in refusal(json.dumps(without_type))


def test_an_unknown_field_is_refused_by_name() -> None:
    assert refusal(line(colour="teal")) == "unknown field 'colour'"


@pytest.mark.parametrize("raw", ['["dora", "emil"]', "42", '"invitation_sent"', "null"])
def test_json_that_is_not_an_object_is_refused(raw: str) -> None:
    assert refusal(raw) == "not a JSON object with a 'type' field"


def test_a_line_that_is_not_json_is_refused() -> None:
    assert refusal("{dora invites emil").startswith("not valid JSON")


def test_invalid_utf8_is_refused() -> None:
    raw = line(message="caf\u00e9").encode().replace(b"caf\\u00e9", b"caf\xe9")

    assert b"\xe9" in raw  # the test really carries a broken byte
    where = raw.index(b"\xe9") + 1
    assert refusal(raw) == f"not UTF-8 text (byte {where} of the line)"


def test_a_gzip_or_utf16_file_is_refused_with_what_to_do() -> None:
    import gzip

    zipped = gzip.compress(line().encode()).split(b"\n")[0]
    utf16 = line().encode("utf-16")

    assert refusal(zipped).endswith(
        ": a gzip file? decompress it first (gunzip -c FILE | invledger import -)"
    )
    assert refusal(utf16) == (
        "not UTF-8 text (byte 1 of the line): UTF-16 text? convert it to UTF-8 first "
        "(iconv -f UTF-16 -t UTF-8 FILE)"
    )


def test_a_byte_order_mark_past_the_first_line_says_files_were_joined() -> None:
    assert refusal(ev.UTF8_BOM + line().encode()).startswith(
        "starts with a byte order mark (U+FEFF), which only a file's first line may have"
    )


def test_bad_json_is_placed_by_its_column_alone() -> None:
    assert refusal("{dora") == "not valid JSON (key must be a string at column 2)"


def test_a_line_longer_than_the_limit_is_refused_before_parsing() -> None:
    reason = refusal(" " * (ev.MAX_LINE_BYTES + 1))

    assert "longer than" in reason


def test_a_policy_change_with_a_version_given_as_a_string_is_refused() -> None:
    change = {
        "id": "evt-policy-2",
        "type": "policy_changed",
        "at": "2026-04-01T00:00:00Z",
        "policy": {"version": "2", "warn_at": 4},
    }

    assert "version" in refusal(json.dumps(change))


# The canonical encoding ----------------------------------------------------------


def test_the_encoding_puts_fields_in_a_fixed_order_whatever_the_input_order() -> None:
    shuffled = json.dumps(dict(reversed(list({**DORA_TO_EMIL, "message": "hola"}.items()))))
    ordered = line(message="hola")

    assert ev.encode(ev.parse(shuffled)) == ev.encode(ev.parse(ordered))
    assert ev.encode(ev.parse(ordered)) == (
        b'{"id":"evt-dora-1","type":"invitation_sent","at":"2026-03-14T09:26:53Z",'
        b'"invitation":"inv-dora-emil","sender":"dora","recipient":"emil","message":"hola"}'
    )


def test_the_encoding_leaves_out_absent_optional_fields() -> None:
    encoded = ev.encode(ev.parse(line()))

    assert b"message" not in encoded
    assert b"recipient_email" not in encoded
    assert b"null" not in encoded


def test_the_encoding_round_trips_through_parse() -> None:
    original = ev.parse(
        line(
            message="Grüße aus Köln\n\tDora",
            recipient_email="emil@example.org",
            at="2026-03-14T09:26:53.25+01:00",
        )
    )

    again = ev.parse(ev.encode(original))

    assert again == original
    assert ev.encode(again) == ev.encode(original)


def test_the_encoding_of_a_policy_change_round_trips() -> None:
    change = ev.parse(
        json.dumps(
            {
                "id": "evt-policy-2",
                "type": "policy_changed",
                "at": "2026-04-01T00:00:00Z",
                "policy": {"version": 2, "warn_at": 4, "window_days": 14},
            }
        )
    )

    assert ev.parse(ev.encode(change)) == change
    assert b'"policy":{"version":2' in ev.encode(change)


def test_an_event_built_from_command_line_values_encodes_like_the_same_line() -> None:
    from_cli = ev.from_fields(
        {
            **DORA_TO_EMIL,
            "at": datetime(2026, 3, 14, 10, 26, 53, tzinfo=timezone(timedelta(hours=1))),
        }
    )

    assert ev.encode(from_cli) == ev.encode(ev.parse(line()))


# Printing times ------------------------------------------------------------------


def test_format_time_writes_utc_with_z_and_no_fraction_for_whole_seconds() -> None:
    assert ev.format_time(datetime(2026, 1, 8, 12, tzinfo=UTC)) == "2026-01-08T12:00:00Z"


def test_format_time_converts_an_offset_to_utc() -> None:
    moment = datetime(2026, 1, 8, 14, tzinfo=timezone(timedelta(hours=2)))

    assert ev.format_time(moment) == "2026-01-08T12:00:00Z"


@pytest.mark.parametrize(
    ("microsecond", "text"),
    [
        (500000, "2026-01-08T12:00:00.500000Z"),
        (123000, "2026-01-08T12:00:00.123000Z"),
        (1, "2026-01-08T12:00:00.000001Z"),
    ],
)
def test_format_time_writes_fractional_seconds_only_when_they_are_not_zero(
    microsecond: int, text: str
) -> None:
    assert ev.format_time(datetime(2026, 1, 8, 12, 0, 0, microsecond, tzinfo=UTC)) == text


@pytest.mark.parametrize("microsecond", [0, 1, 120000, 999999])
def test_format_time_spells_a_time_as_the_event_line_does(microsecond: int) -> None:
    moment = datetime(2026, 1, 8, 12, 0, 0, microsecond, tzinfo=UTC)
    stored = ev.encode(ev.parse(line(at=ev.format_time(moment))))

    assert f'"at":"{ev.format_time(moment)}"'.encode() in stored
