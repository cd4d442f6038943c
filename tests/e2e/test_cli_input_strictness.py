"""The real `invledger` process on input a review found too lenient: a line that names a
field twice, a lookalike handle, and times that `--at` and import read differently."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

Invledger = Callable[..., subprocess.CompletedProcess[Any]]

FIRST = (
    '{"id":"ok-1","type":"invitation_sent","at":"2026-01-01T00:00:00Z","invitation":"inv-ok",'
    '"sender":"alice","recipient":"bob"}'
)
TWO_SENDERS = (
    '{"id":"dk","type":"invitation_sent","at":"2026-01-01T00:00:00Z","invitation":"dk",'
    '"sender":"alice","recipient":"bob2","sender":"mallory"}'
)


def error_line(done: subprocess.CompletedProcess[Any]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    return str(done.stderr).strip().splitlines()[-1]


def stored(invledger_on: Invledger, db: str) -> list[dict[str, Any]]:
    """The ledger's events; none when no command has created the ledger yet."""
    done = invledger_on(db, "export")
    if done.returncode == 2 and "Error: no ledger " in done.stderr:
        return []
    assert done.returncode == 0, done.stderr
    return [json.loads(row) for row in done.stdout.splitlines()]


def test_import_stops_at_a_line_that_names_the_sender_twice(
    invledger_on: Invledger, ledger_url: str
) -> None:
    # given a file whose second line is alice's invitation with mallory's name after it
    db = ledger_url

    # when it is imported
    done = invledger_on(db, "import", "-", stdin=f"{FIRST}\n{TWO_SENDERS}\n")

    # then import stops there, naming the line and the field; the first line stays
    assert done.returncode == 2
    assert error_line(done) == "Error: line 2: field 'sender' is given twice"
    assert [event["id"] for event in stored(invledger_on, db)] == ["ok-1"]


def test_send_refuses_a_lookalike_recipient_with_a_zero_width_space(
    invledger_on: Invledger, ledger_url: str
) -> None:
    db = ledger_url

    done = invledger_on(db, "send", "alice", "b\u200bob", "--at", "2026-01-05T12:00:00Z")

    assert done.returncode == 2
    assert "invisible format character (U+200B)" in error_line(done)
    assert stored(invledger_on, db) == []


def test_at_takes_a_lowercase_z_as_import_does(invledger_on: Invledger, ledger_url: str) -> None:
    db = ledger_url

    done = invledger_on(db, "send", "alice", "bob", "--at", "2026-01-05T12:00:00z")

    assert done.returncode == 0, done.stderr
    assert [event["at"] for event in stored(invledger_on, db)] == ["2026-01-05T12:00:00Z"]


def test_at_refuses_an_iso_week_date_as_import_does(
    invledger_on: Invledger, ledger_url: str
) -> None:
    db = ledger_url
    week_date = "2026-W02-1T12:00:00Z"

    by_option = invledger_on(db, "send", "alice", "bob", "--at", week_date)
    by_import = invledger_on(
        db, "import", "-", stdin=FIRST.replace("2026-01-01T00:00:00Z", week_date) + "\n"
    )

    assert (by_option.returncode, by_import.returncode) == (2, 2)
    assert f"'{week_date}' is not a time of the form" in error_line(by_option)
    assert f"field 'at': '{week_date}' is not a time of the form" in error_line(by_import)
    assert stored(invledger_on, db) == []
