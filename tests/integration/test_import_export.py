"""Import and export of JSONL history, against real ledger files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Imported, Ledger
from ledger.errors import ImportStopped
from ledger.moments import from_us
from projections import queries

# A short history of the Harbour Street book club: ana invites three members.
HISTORY: list[dict[str, Any]] = [
    {
        "id": "e1",
        "type": "invitation_sent",
        "at": "2026-02-01T09:00:00Z",
        "invitation": "i-ana-ben",
        "sender": "ana",
        "recipient": "ben",
        "message": "Book club on Thursday?",
    },
    {
        "id": "e2",
        "type": "invitation_accepted",
        "at": "2026-02-01T10:00:00Z",
        "invitation": "i-ana-ben",
    },
    {
        "id": "e3",
        "type": "invitation_sent",
        "at": "2026-02-02T09:00:00Z",
        "invitation": "i-ana-cyd",
        "sender": "ana",
        "recipient": "cyd",
    },
    {
        "id": "e4",
        "type": "invitation_ignored",
        "at": "2026-02-03T09:00:00Z",
        "invitation": "i-ana-cyd",
    },
    {
        "id": "e5",
        "type": "invitation_sent",
        "at": "2026-02-04T09:00:00Z",
        "invitation": "i-ana-dee",
        "sender": "ana",
        "recipient": "dee",
        "recipient_email": "dee@example.org",
    },
]


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def import_file(book: Ledger, path: Path) -> Imported:
    with path.open("rb") as file:
        return book.import_lines(file)


def exported(book: Ledger, since: int = 0) -> bytes:
    out = io.BytesIO()
    book.export(out, since)
    return out.getvalue()


def ids(book: Ledger) -> list[str]:
    return [event.id for _, event in book.events()]


def reputation(book: Ledger, member: str) -> queries.ReputationOut:
    book.ensure_current()
    with book.store.read() as tx:
        return queries.status(tx, member, from_us(4_000_000_000_000_000)).reputation


# Idempotence -----------------------------------------------------------------------


def test_importing_a_file_appends_every_event(book: Ledger, tmp_path: Path) -> None:
    history = write(tmp_path / "club.jsonl", jsonl(HISTORY))

    result = import_file(book, history)

    assert result == Imported(imported=5, skipped=0)
    assert ids(book) == ["e1", "e2", "e3", "e4", "e5"]


def test_importing_the_same_file_twice_skips_everything_the_second_time(
    book: Ledger, tmp_path: Path
) -> None:
    history = write(tmp_path / "club.jsonl", jsonl(HISTORY))
    import_file(book, history)
    after_first = exported(book)

    result = import_file(book, history)

    assert result == Imported(imported=0, skipped=5)
    assert exported(book) == after_first


def test_a_second_import_does_not_count_twice_in_the_projections(
    book: Ledger, tmp_path: Path
) -> None:
    history = write(tmp_path / "club.jsonl", jsonl(HISTORY))
    import_file(book, history)

    import_file(book, history)

    counts = reputation(book, "ana")
    assert (counts.sent, counts.accepted, counts.ignored, counts.pending) == (3, 1, 1, 1)


def test_idempotence_compares_content_not_spelling(book: Ledger, tmp_path: Path) -> None:
    # The same first event with its fields reordered and its time written with an offset.
    respelled = dict(reversed(list(HISTORY[0].items())))
    respelled["at"] = "2026-02-01T10:00:00+01:00"
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))

    result = import_file(book, write(tmp_path / "respelled.jsonl", jsonl([respelled])))

    assert result == Imported(imported=0, skipped=1)


def test_a_repeated_line_within_one_file_is_skipped(book: Ledger, tmp_path: Path) -> None:
    history = write(tmp_path / "club.jsonl", jsonl([HISTORY[0], HISTORY[0], HISTORY[1]]))

    result = import_file(book, history)

    assert result == Imported(imported=2, skipped=1)


def test_an_explicit_null_is_the_same_content_as_an_absent_optional_field(
    book: Ledger, tmp_path: Path
) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY[2:3])))

    result = import_file(
        book, write(tmp_path / "nulls.jsonl", jsonl([{**HISTORY[2], "message": None}]))
    )

    assert result == Imported(imported=0, skipped=1)


def test_the_same_id_with_other_content_is_an_error_naming_the_line(
    book: Ledger, tmp_path: Path
) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))
    altered = {**HISTORY[2], "message": "a different message"}
    before = exported(book)

    with pytest.raises(ImportStopped) as caught:
        import_file(
            book, write(tmp_path / "altered.jsonl", jsonl([HISTORY[0], HISTORY[1], altered]))
        )

    assert caught.value.line == 3
    assert "'e3'" in caught.value.reason
    assert "other content" in caught.value.reason
    assert str(caught.value).startswith("line 3: ")
    assert exported(book) == before


# A bad line stops the import -------------------------------------------------------


BAD_LINES = {
    "not-json": b"{this is not json",
    "unknown-type": json.dumps(
        {
            "id": "e4",
            "type": "invitation_liked",
            "at": "2026-02-03T09:00:00Z",
            "invitation": "i-ana-cyd",
        }
    ).encode(),
    "missing-field": json.dumps(
        {"id": "e4", "type": "invitation_ignored", "at": "2026-02-03T09:00:00Z"}
    ).encode(),
    "broken-rule": json.dumps(
        {
            "id": "e4",
            "type": "invitation_accepted",
            "at": "2026-02-03T09:00:00Z",
            "invitation": "i-ana-ben",
        }
    ).encode(),  # i-ana-ben was already accepted
    "unknown-invitation": json.dumps(
        {
            "id": "e4",
            "type": "invitation_ignored",
            "at": "2026-02-03T09:00:00Z",
            "invitation": "i-nobody",
        }
    ).encode(),
}


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_a_bad_line_stops_the_import_with_its_number_keeping_what_came_before(
    book: Ledger, tmp_path: Path, kind: str
) -> None:
    lines = jsonl(HISTORY[:3]) + BAD_LINES[kind] + b"\n" + jsonl(HISTORY[4:])

    with pytest.raises(ImportStopped) as caught:
        import_file(book, write(tmp_path / "club.jsonl", lines))

    assert caught.value.line == 4
    assert caught.value.imported == 3
    assert ids(book) == ["e1", "e2", "e3"]


def test_nothing_after_a_bad_line_is_written_nor_counted(book: Ledger, tmp_path: Path) -> None:
    lines = jsonl(HISTORY[:3]) + BAD_LINES["missing-field"] + b"\n" + jsonl(HISTORY[4:])

    with pytest.raises(ImportStopped):
        import_file(book, write(tmp_path / "club.jsonl", lines))

    counts = reputation(book, "ana")
    assert (counts.sent, counts.accepted, counts.ignored, counts.pending) == (2, 1, 0, 1)


def test_the_reason_of_a_bad_line_says_what_is_wrong(book: Ledger, tmp_path: Path) -> None:
    lines = jsonl(HISTORY[:1]) + BAD_LINES["missing-field"] + b"\n"

    with pytest.raises(ImportStopped) as caught:
        import_file(book, write(tmp_path / "club.jsonl", lines))

    assert caught.value.reason == "missing field 'invitation'"
    assert str(caught.value) == "line 2: missing field 'invitation'"


def test_running_the_fixed_file_again_resumes_after_the_committed_part(
    book: Ledger, tmp_path: Path
) -> None:
    broken = jsonl(HISTORY[:3]) + BAD_LINES["not-json"] + b"\n" + jsonl(HISTORY[4:])
    with pytest.raises(ImportStopped):
        import_file(book, write(tmp_path / "club.jsonl", broken))

    result = import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))

    assert result == Imported(imported=2, skipped=3)
    assert ids(book) == ["e1", "e2", "e3", "e4", "e5"]


@pytest.mark.parametrize("kind", ["not-json", "broken-rule"])
@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_stop_in_a_later_batch_keeps_the_earlier_batches_and_the_good_lines_before_it(
    book: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, batch: int
) -> None:
    monkeypatch.setattr("ledger.application.IMPORT_BATCH", batch)
    lines = jsonl(HISTORY[:3]) + BAD_LINES[kind] + b"\n" + jsonl(HISTORY[4:])

    with pytest.raises(ImportStopped) as caught:
        import_file(book, write(tmp_path / "club.jsonl", lines))

    assert (caught.value.line, caught.value.imported) == (4, 3)
    assert ids(book) == ["e1", "e2", "e3"]


def test_an_import_records_what_happened_without_the_send_time_rules(
    book: Ledger, tmp_path: Path
) -> None:
    # ana invited ben; ben invited ana while it was pending: send would refuse, import records it.
    both_ways = [
        HISTORY[0],
        {
            "id": "e9",
            "type": "invitation_sent",
            "at": "2026-02-01T09:30:00Z",
            "invitation": "i-ben-ana",
            "sender": "ben",
            "recipient": "ana",
        },
    ]

    result = import_file(book, write(tmp_path / "both.jsonl", jsonl(both_ways)))

    assert result.imported == 2


# Blank lines and line endings ------------------------------------------------------


def test_blank_lines_are_skipped_but_still_numbered(book: Ledger, tmp_path: Path) -> None:
    lines = (
        b"\n"
        + jsonl(HISTORY[:2])
        + b"   \n\n"
        + jsonl(HISTORY[2:3])
        + b"\n"
        + BAD_LINES["not-json"]
        + b"\n"
    )

    with pytest.raises(ImportStopped) as caught:
        import_file(book, write(tmp_path / "club.jsonl", lines))

    assert caught.value.line == 8
    assert ids(book) == ["e1", "e2", "e3"]


def test_a_file_with_only_blank_lines_imports_nothing(book: Ledger, tmp_path: Path) -> None:
    result = import_file(book, write(tmp_path / "empty.jsonl", b"\n\n  \n"))

    assert result == Imported(imported=0, skipped=0)
    assert exported(book) == b""


def test_windows_line_endings_are_accepted(book: Ledger, tmp_path: Path) -> None:
    crlf = jsonl(HISTORY).replace(b"\n", b"\r\n")

    result = import_file(book, write(tmp_path / "club.jsonl", crlf))

    assert result.imported == 5


def test_a_file_without_a_final_newline_imports_its_last_line(book: Ledger, tmp_path: Path) -> None:
    result = import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY).rstrip(b"\n")))

    assert result.imported == 5


# Export ----------------------------------------------------------------------------


def test_export_writes_one_canonical_line_per_event_in_log_order(
    book: Ledger, tmp_path: Path
) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY[:2])))

    assert exported(book) == (
        b'{"id":"e1","type":"invitation_sent","at":"2026-02-01T09:00:00Z","invitation":"i-ana-ben",'
        b'"sender":"ana","recipient":"ben","message":"Book club on Thursday?"}\n'
        b'{"id":"e2","type":"invitation_accepted","at":"2026-02-01T10:00:00Z","invitation":"i-ana-ben"}\n'
    )


def test_export_then_import_into_an_empty_ledger_gives_a_byte_identical_export(
    book: Ledger, second_book: Ledger, tmp_path: Path
) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))
    book.record(
        {
            "type": "policy_changed",
            "policy": {"version": 2, "warn_at": 3},
            "at": "2026-02-05T00:00:00Z",
        }
    )
    book.record(
        {
            "type": "invitation_marked_unknown",
            "invitation": "i-ana-dee",
            "at": "2026-02-06T00:00:00.25Z",
        }
    )
    original = exported(book)

    second_book.import_lines(io.BytesIO(original))

    assert exported(second_book) == original
    assert len(original.splitlines()) == 7


def test_a_copied_ledger_answers_queries_like_the_original(
    book: Ledger, second_book: Ledger, tmp_path: Path
) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))

    second_book.import_lines(io.BytesIO(exported(book)))

    assert reputation(second_book, "ana") == reputation(book, "ana")


def test_export_since_a_position_writes_only_the_later_events(book: Ledger, tmp_path: Path) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))
    positions = {event.id: position for position, event in book.events()}

    later = exported(book, since=positions["e3"])

    assert [json.loads(line)["id"] for line in later.splitlines()] == ["e4", "e5"]


def test_export_since_the_last_position_writes_nothing(book: Ledger, tmp_path: Path) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))
    last = max(position for position, _ in book.events())

    assert exported(book, since=last) == b""


def test_positions_grow_in_the_order_events_were_stored(book: Ledger, tmp_path: Path) -> None:
    import_file(book, write(tmp_path / "club.jsonl", jsonl(HISTORY)))

    positions = [position for position, _ in book.events()]

    assert positions == sorted(positions)
    assert len(set(positions)) == 5
    assert positions[0] > 0


def test_ids_and_handles_with_quotes_backslashes_and_braces_are_looked_up_exactly(
    book: Ledger, tmp_path: Path
) -> None:
    # On PostgreSQL the import's lookups pass their keys as one array literal: the
    # characters that literal quotes must reach the rules, and the duplicates check,
    # unchanged.
    odd = ['a"b', "c\\d", "{e,f}", "NULL", 'g\\"h', "ü,ß"]
    events: list[dict[str, Any]] = []
    for number, name in enumerate(odd):
        invitation = f"i{name}"
        events.append(
            {
                "id": f"e{name}",
                "type": "invitation_sent",
                "at": f"2026-02-0{number + 1}T09:00:00Z",
                "invitation": invitation,
                "sender": name,
                "recipient": f"r{name}",
            }
        )
        events.append(
            {
                "id": f"x{name}",
                "type": "invitation_ignored",
                "at": f"2026-02-0{number + 1}T10:00:00Z",
                "invitation": invitation,
            }
        )
    history = write(tmp_path / "odd.jsonl", jsonl(events))
    assert import_file(book, history) == Imported(len(events), 0)
    # Every id is found again: the second import skips them all.
    assert import_file(book, history) == Imported(0, len(events))
    for name in odd:
        assert reputation(book, name).ignored == 1, name
    # Each pair's block is found: sending again is refused, naming the ignore.
    again = [
        {
            "id": f"y{name}",
            "type": "invitation_sent",
            "at": "2026-03-01T09:00:00Z",
            "invitation": f"j{name}",
            "sender": name,
            "recipient": f"r{name}",
        }
        for name in odd
    ]
    for number, event in enumerate(again):
        with pytest.raises(ImportStopped, match="blocked") as stopped:
            import_file(book, write(tmp_path / f"again{number}.jsonl", jsonl([event])))
        assert stopped.value.imported == 0
