"""An import batch's events go to the log while its later lines are still checked.

On PostgreSQL a batch's events are streamed to the server by one COPY, which any
other statement of the batch (a row the rules look up, a policy change reading the
members it affects) ends first; the next event starts another. On SQLite the same
calls collect the batch and insert it at its end. Both must store every event once,
in order, with views equal to a rebuild, and roll a failed batch back whole.
"""

from __future__ import annotations

import gc
import io
import json
from typing import Any

import pytest

from ledger import rules
from ledger.application import Ledger
from ledger.errors import ImportStopped
from projections import rebuild


def _club_history() -> list[dict[str, Any]]:
    """Forty members of a rowing club invite the next one; a policy change comes midway."""
    events: list[dict[str, Any]] = []
    for n in range(40):
        events.append(
            {
                "id": f"send-{n}",
                "type": "invitation_sent",
                "at": f"2026-03-01T{n // 4:02d}:{n % 4 * 15:02d}:00Z",
                "invitation": f"row-{n}",
                "sender": f"rower{n}",
                "recipient": f"rower{n + 1}",
            }
        )
        if n == 20:
            events.append(
                {
                    "id": "policy-2",
                    "type": "policy_changed",
                    "at": "2026-03-01T05:10:00Z",
                    "policy": {"version": 2, "warn_at": 3},
                }
            )
    for n in range(0, 40, 3):
        events.append(
            {
                "id": f"idk-{n}",
                "type": "invitation_marked_unknown",
                "at": "2026-03-02T09:00:00Z",
                "invitation": f"row-{n}",
            }
        )
    return events


def _lines(events: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(e).encode() + b"\n" for e in events))


def _stored(book: Ledger) -> list[tuple[int, str]]:
    return [(position, json.loads(state)["id"]) for position, _, state in book.notifications()]


def _views_equal_a_rebuild(book: Ledger) -> bool:
    with rebuild.scratch() as space:
        rebuild.feed(book.store, space)
        return rebuild.fingerprints(space) == rebuild.fingerprints(book.store)


def test_a_policy_change_inside_a_batch_splits_its_stream_and_loses_nothing(
    book: Ledger,
) -> None:
    history = _club_history()

    result = book.import_lines(_lines(history))

    stored = _stored(book)
    assert result.imported == len(history)
    assert [event_id for _, event_id in stored] == [e["id"] for e in history]
    first = stored[0][0]
    assert [position for position, _ in stored] == list(range(first, first + len(history)))
    assert _views_equal_a_rebuild(book)


def test_an_error_in_the_middle_of_a_batch_rolls_the_whole_batch_back(
    book: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _club_history()
    checked = rules.check
    seen: list[str] = []

    def failing_at_the_tenth(event: Any, views: Any) -> None:
        seen.append(event.id)
        if len(seen) == 10:  # nine events of the batch are on their way to the log
            raise RuntimeError("the operator's machine lost power")
        checked(event, views)

    monkeypatch.setattr(rules, "check", failing_at_the_tenth)
    with pytest.raises(RuntimeError, match="lost power"):
        book.import_lines(_lines(history))
    monkeypatch.setattr(rules, "check", checked)

    assert _stored(book) == []
    again = book.import_lines(_lines(history))
    assert (again.imported, again.skipped) == (len(history), 0)
    assert [event_id for _, event_id in _stored(book)] == [e["id"] for e in history]
    assert _views_equal_a_rebuild(book)


def test_the_cycle_collector_is_paused_during_an_import_and_restored_after(
    book: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _club_history()
    checked = rules.check
    during: list[bool] = []
    interrupt = {"idk-9"}  # the first import stops there; the others run through

    def noting_the_collector(event: Any, views: Any) -> None:
        during.append(gc.isenabled())
        if event.id in interrupt:
            interrupt.clear()
            raise RuntimeError("interrupted")
        checked(event, views)

    monkeypatch.setattr(rules, "check", noting_the_collector)
    with pytest.raises(RuntimeError, match="interrupted"):
        book.import_lines(_lines(history))
    assert gc.isenabled()  # restored after an exception
    assert during and not any(during)  # paused at every rule check

    bad = _lines(history[:5] + [{"id": "broken", "type": "no_such_type"}])
    with pytest.raises(ImportStopped):
        book.import_lines(bad)
    assert gc.isenabled()  # restored after a bad line

    gc.disable()  # a caller that paused it already keeps it paused
    try:
        book.import_lines(_lines(history))
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert [event_id for _, event_id in _stored(book)] == [e["id"] for e in history]
