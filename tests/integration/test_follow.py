"""A follower keeps the views current when another tool appends to the log."""

from __future__ import annotations

import subprocess
import sys

from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from ledger.events import encode, from_fields


def append_behind_the_views(url: str, event_id: str, invitation: str) -> None:
    """Another tool writes an event straight into the library's table, views untouched."""
    event = from_fields(
        {
            "id": event_id,
            "type": "invitation_sent",
            "at": "2026-03-01T12:00:00Z",
            "invitation": invitation,
            "sender": "olga",
            "recipient": "pavel",
        }
    )
    book = Ledger(url)
    stored = StoredEvent(event.id, 1, "invledger:invitation_sent", encode(event))
    book.store.recorder.insert_events([stored])
    book.close()


def views_position(url: str) -> int:
    book = Ledger(url)
    with book.store.read() as tx:
        row = tx.one("SELECT position FROM inv_tracking WHERE view = 'views'")
    book.close()
    return int(row[0]) if row else 0


def record_a_send(url: str) -> None:
    """One event recorded through the ledger, views and all."""
    book = Ledger(url)
    book.record(
        {
            "type": "invitation_sent",
            "invitation": "inv-first",
            "sender": "olga",
            "recipient": "nina",
            "at": "2026-03-01T11:00:00Z",
        }
    )
    book.close()


def started_follower(url: str) -> subprocess.Popen[str]:
    """`invledger follow` looking every 0.2 s, once it says it is caught up and following."""
    follower = subprocess.Popen(
        [sys.executable, "-m", "cli", "--db", url, "follow", "--poll", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stderr is not None
    assert follower.stderr.readline().startswith("following "), "the follower did not start"
    return follower


def test_a_follower_applies_events_another_tool_appended(ledger_url: str) -> None:
    record_a_send(ledger_url)
    # A wake-up is a notification (PostgreSQL) or a look every --poll (both backends).
    rounds = "25"
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "--db",
            ledger_url,
            "follow",
            "--rounds",
            rounds,
            "--poll",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Its first line says it is caught up and subscribed (or polling): appended before
    # that, the event could be applied by its first catch-up, and no notification would
    # come after it.
    assert follower.stderr is not None
    assert follower.stderr.readline().startswith("following "), "the follower did not start"
    append_behind_the_views(ledger_url, "e-outside", "inv-outside")
    out, err = follower.communicate(timeout=60)

    assert follower.returncode == 0, err
    assert "applied 1 event (1 since start)" in out
    assert err.splitlines()[-1] == f"stopped after {rounds} wake-up{'' if rounds == '1' else 's'}"
    assert views_position(ledger_url) == 2


def test_a_bounded_follower_stops_after_its_rounds_when_nothing_is_written(
    ledger_url: str,
) -> None:
    # A scheduled job runs `follow --rounds N`: with nothing written, no notification
    # comes, and the looks every --poll are the wake-ups that end it.
    record_a_send(ledger_url)

    done = subprocess.run(
        [sys.executable, "-m", "cli", "--db", ledger_url, "follow", "--rounds", "3", "--poll",
         "0.1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "stopped after 3 wake-ups"


def test_a_follower_stopped_by_sigterm_says_so_and_exits_0(ledger_url: str) -> None:
    import signal

    record_a_send(ledger_url)
    follower = started_follower(ledger_url)

    follower.send_signal(signal.SIGTERM)
    _, err = follower.communicate(timeout=60)

    assert follower.returncode == 0, err
    assert err == "stopped\n"


def test_catching_up_ends_when_a_rolled_back_append_left_a_gap_in_the_positions(
    postgres_url: str,
) -> None:
    # PostgreSQL's sequence does not roll back: an append that failed leaves a position
    # no event holds, and the views can never reach the sequence's last value.
    import threading

    import psycopg

    append_behind_the_views(postgres_url, "e-before", "inv-before")
    with psycopg.connect(postgres_url) as conn:
        conn.execute("SELECT nextval(pg_get_serial_sequence('stored_events', 'notification_id'))")
        conn.rollback()
    book = Ledger(postgres_url)
    finished: list[int] = []
    catching_up = threading.Thread(
        target=lambda: finished.append(book.ensure_current()), daemon=True
    )
    catching_up.start()
    catching_up.join(timeout=20)

    assert finished == [1], "ensure_current did not return"
    assert views_position(postgres_url) == 1
    book.close()


def test_a_postgres_follower_also_applies_a_row_inserted_without_a_notification(
    postgres_url: str,
) -> None:
    import signal
    import time

    import psycopg

    record_a_send(postgres_url)
    follower = started_follower(postgres_url)
    event = from_fields(
        {"id": "e-raw", "type": "invitation_sent", "at": "2026-03-01T12:00:00Z",
         "invitation": "inv-raw", "sender": "olga", "recipient": "pavel"}
    )  # fmt: skip
    with psycopg.connect(postgres_url) as conn:  # plain SQL: no NOTIFY, as a tool may write
        conn.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, 'invledger:invitation_sent', %s)",
            (event.id, encode(event)),
        )
    deadline = time.monotonic() + 20
    while views_position(postgres_url) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    caught_up = views_position(postgres_url)
    follower.send_signal(signal.SIGTERM)
    out, err = follower.communicate(timeout=60)

    assert caught_up == 2, "the follower did not apply the row"
    assert "applied 1 event (1 since start)" in out
    assert (follower.returncode, err) == (0, "stopped\n")


def test_a_postgres_follower_that_loses_its_connection_follows_again_and_catches_up(
    postgres_url: str,
) -> None:
    import signal
    import time

    import psycopg

    record_a_send(postgres_url)
    follower = started_follower(postgres_url)
    assert follower.stderr is not None
    dbname = postgres_url.rsplit("/", 1)[1]

    # given the server ends every connection of the follower (a restart, say)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )
    told = []
    while not (line := follower.stderr.readline()).startswith("following "):
        assert line, f"the follower ended: {''.join(told)}"
        told.append(line)

    # when another tool appends while it is following again
    append_behind_the_views(postgres_url, "e-after", "inv-after")
    deadline = time.monotonic() + 30
    while views_position(postgres_url) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    follower.send_signal(signal.SIGTERM)
    out, err = follower.communicate(timeout=60)

    # then it said what it lost, tried again, and applied the event
    assert any(": trying again in 1 s" in line for line in told), told
    assert line.strip() == f"following {postgres_url} again (Ctrl-C to stop)"
    assert "applied 1 event (1 since start)" in out
    assert (follower.returncode, err) == (0, "stopped\n")
    assert views_position(postgres_url) == 2


def test_a_follower_that_cannot_start_ends_with_the_reason() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--db", "postgresql://postgres@127.0.0.1:1/none",
         "follow", "--rounds", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.startswith("Error: cannot connect to PostgreSQL at 127.0.0.1:1/none")
    assert "trying again" not in done.stderr


def test_a_follower_ends_at_a_failure_trying_again_cannot_mend(tmp_path: object) -> None:
    """A row in the log that is not invledger's stays until someone mends it: the
    follower ends with the reason (exit 2), where a lost connection is tried again."""
    import sqlite3
    from pathlib import Path

    db = str(Path(str(tmp_path)) / "ledger.db")
    record_a_send(db)
    follower = subprocess.Popen(
        [sys.executable, "-m", "cli", "--db", db, "follow", "--poll", "0.1", "--rounds", "10000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stderr is not None
    assert follower.stderr.readline().startswith("following ")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            "VALUES ('e-foreign', 1, 'invledger:invitation_sent', CAST('{}' AS BLOB))"
        )
    conn.close()

    _, err = follower.communicate(timeout=60)

    assert follower.returncode == 2, err
    assert "trying again" not in err
    assert err.strip().splitlines()[-1].startswith("Error: ")
