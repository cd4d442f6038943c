"""Opening a ledger of an older schema rebuilds its views; the latest event time before 1970."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from ledger.application import Ledger
from ledger.schema import SCHEMA_VERSION
from ledger.simulation import simulate
from projections import queries, rebuild


def test_a_ledger_of_the_previous_schema_gets_rebuilt_views_and_the_new_version(
    ledger_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in simulate(60, 500, seed=3)))
    book = Ledger(ledger_url)
    with path.open("rb") as lines:
        book.import_lines(lines)
    expected = rebuild.fingerprints(book.store)
    with book.store.write() as tx:  # as version 1 left it: a level that may be stale
        tx.run("UPDATE inv_standing SET level = 'good'")
        tx.run("UPDATE inv_meta SET value = '1' WHERE key = 'schema_version'")
    book.close()

    reopened = Ledger(ledger_url)
    with reopened.store.read() as tx:
        assert tx.one("SELECT value FROM inv_meta WHERE key = 'schema_version'") == (
            str(SCHEMA_VERSION),
        )
        assert tx.one("SELECT count(*) FROM inv_standing") == (0,)  # emptied, not patched
    reopened.ensure_current()

    assert rebuild.fingerprints(reopened.store) == expected
    reopened.close()


def test_a_history_before_1970_records_its_latest_time_so_past_moments_are_refolded(
    ledger_url: str,
) -> None:
    book = Ledger(ledger_url)
    book.record(
        {
            "type": "invitation_sent",
            "id": "e1",
            "at": "1950-01-01T00:00:00Z",
            "invitation": "i1",
            "sender": "a",
            "recipient": "b",
        }
    )
    book.record(
        {"type": "invitation_ignored", "id": "e2", "at": "1950-06-01T00:00:00Z", "invitation": "i1"}
    )

    with book.store.read() as tx:
        assert queries.latest_time(tx) == datetime(1950, 6, 1, tzinfo=UTC)
        before_the_ignore = queries.reputation(tx, "a", datetime(1950, 3, 1, tzinfo=UTC))
    assert (before_the_ignore.sent, before_the_ignore.ignored) == (1, 0)
    book.close()
