"""An import sends a batch's lookups before it parses the next lines, and reads them after.

On PostgreSQL the queries go in pipeline mode and the server answers them while the
import parses; on SQLite they are answered at once. Either way, once the rows are read
the batch must be checkable without another query: the responses to invitations that
only the database holds (sent by an earlier import, their rows flushed and forgotten)
need their pairs, senders and standing read in a second round.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger import events as ev
from ledger import rules
from ledger.application import Ledger, _parsed_batches, current_views
from ledger.errors import ImportStopped
from projections import rebuild


def _views_equal_a_rebuild(book: Ledger) -> bool:
    with rebuild.scratch() as space:
        rebuild.feed(book.store, space)
        return rebuild.fingerprints(space) == rebuild.fingerprints(book.store)


class _NoQueries:
    """A transaction that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the batch asked the database again: tx.{name}")


def _events(lines: list[bytes]) -> list[ev.Event]:
    return [event for batch, *_ in _parsed_batches(lines) for _, event, _ in batch]


def _split(history: Path) -> tuple[list[bytes], list[bytes]]:
    """The history's first 2,000 lines, and the 400 after them without policy changes
    (a policy change reads the members it affects, which no prefetch can know)."""
    lines = history.read_bytes().splitlines(keepends=True)
    later = [line for line in lines[2000:2400] if b'"policy_changed"' not in line]
    return lines[:2000], later


def test_once_the_rows_sent_for_are_read_the_batch_needs_no_other_query(
    book: Ledger, history: Path
) -> None:
    earlier, later = _split(history)
    book.import_lines(earlier)
    batch = _events(later)
    answered_earlier = {e.invitation for e in _events(earlier) if hasattr(e, "invitation")}
    # Given responses and appeal decisions whose rows only the database holds
    assert any(
        getattr(e, "invitation", None) in answered_earlier and not isinstance(e, ev.InvitationSent)
        for e in batch
    )
    assert any(isinstance(e, (ev.AppealGranted, ev.AppealDenied)) for e in batch)

    with book.store.write() as tx:
        views = current_views(tx)
        position = tx.next_position()
        # When the lookups are sent, and their rows read after other work
        complete = views.prefetch_later(batch)
        complete()
        # Then every rule and change of the batch finds its rows in memory
        views.tx = _NoQueries()  # type: ignore[assignment]
        for event in batch:
            rules.check(event, views)
            views.apply(event, position)
            position += 1
        views.tx = tx


def test_an_import_resumed_over_responses_to_forgotten_rows_equals_a_rebuild(
    book: Ledger, history: Path
) -> None:
    earlier, _ = _split(history)
    whole = history.read_bytes().splitlines(keepends=True)
    book.import_lines(earlier)

    # A second import, from the start again: the first 2,000 lines are skipped as
    # duplicates, the rest answers invitations and appeals of the first import.
    result = book.import_lines(whole)

    assert (result.imported, result.skipped) == (len(whole) - len(earlier), len(earlier))
    assert _views_equal_a_rebuild(book)


def test_a_bad_line_in_the_batch_parsed_ahead_keeps_every_line_before_it(
    book: Ledger, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ledger.application.IMPORT_BATCH", 100)
    lines = history.read_bytes().splitlines(keepends=True)[:450]
    lines[420] = b'{"id": "x-1", "type": "invitation_sent", "at": "not a time"}\n'

    with pytest.raises(ImportStopped) as stopped:
        book.import_lines(io.BytesIO(b"".join(lines)))

    assert stopped.value.line == 421
    assert stopped.value.imported == 420
    ids = [json.loads(state)["id"] for _, _, state in book.notifications()]
    assert ids == [json.loads(line)["id"] for line in lines[:420]]
    assert _views_equal_a_rebuild(book)


def test_input_that_fails_to_read_while_a_batch_is_stored_keeps_that_batch(
    book: Ledger, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ledger.application.IMPORT_BATCH", 100)
    lines = history.read_bytes().splitlines(keepends=True)[:450]

    def read() -> Any:
        # Given input whose reading fails after line 450: in the lines parsed while the
        # batch of lines 301-400 is being stored
        yield from lines
        raise OSError("the disk went away")

    # When it is imported
    with pytest.raises(OSError, match="the disk went away"):
        book.import_lines(read())

    # Then every batch read whole before the failure is stored, and the views agree
    ids = [json.loads(state)["id"] for _, _, state in book.notifications()]
    assert ids == [json.loads(line)["id"] for line in lines[:400]]
    assert _views_equal_a_rebuild(book)
