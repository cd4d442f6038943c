"""Which databases are a ledger, and what a command does with one that is not.

A file that holds nothing (`touch invledger.db`), a SQLite database without tables,
another eventsourcing application's log, an in-memory database: queries refuse them
(exit 2, one line) and leave them as they were; a log of invledger's events whose view
tables are gone is still a ledger. Also: rows another tool wrote into the log, a
`search_path` in a PostgreSQL URL, and a standard output that is closed. Every case
runs the real CLI as a process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import assert_clean_failure, cli, cli_env

from ledger.schema import VIEW_TABLES

AT = "2026-01-05T12:00:00Z"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def _make_ledger(url: str) -> None:
    made = cli(url, "send", "carol", "dave", "--at", AT)
    assert made.returncode == 0, made.stderr


def _run_sql(url: str, *statements: str) -> None:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    conn = sqlite3.connect(url)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


VIEW_AND_META_TABLES = ("inv_meta", "inv_tracking", *VIEW_TABLES)


def _empty_file(path: Path) -> None:
    path.touch()


def _no_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 3")  # a valid SQLite file of one page, no table
    conn.commit()
    conn.close()


@pytest.mark.parametrize("make", [_empty_file, _no_tables], ids=["0 bytes", "no tables"])
def test_a_query_on_a_file_that_holds_no_ledger_refuses_it_and_leaves_it(
    tmp_path: Path, make: object
) -> None:
    """`touch invledger.db` is the mistyped --db the refusal exists for: `check` must not
    answer yes from an empty ledger, nor write invledger's tables into the file."""
    db = tmp_path / "ledger.db"
    make(db)  # type: ignore[operator]
    before = listing(tmp_path)

    for args in (("check", "alice", "bob"), ("status", "bob"), ("restricted",), ("export",)):
        done = cli(db, *args)

        assert_clean_failure(done, 2, f"{args} on a file without a ledger")
        assert f"no ledger at {db}: the file holds none" in done.stderr.decode()
    assert listing(tmp_path) == before


def test_a_send_makes_its_ledger_in_an_empty_file(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    db.touch()

    made = cli(db, "send", "alice", "bob", "--at", AT)

    assert made.returncode == 0, made.stderr
    refused = cli(db, "check", "alice", "bob")
    assert refused.returncode == 1 and b"pending" in refused.stdout, refused


def _foreign_log(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    conn.execute(
        "INSERT INTO stored_events VALUES ('x', 1, 'shop.domain:Order.Created', ?)",
        (b'{"total":0}',),
    )
    conn.commit()
    conn.close()


def test_a_sqlite_file_of_another_eventsourcing_application_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    _foreign_log(db)
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        '{"id":"e1","type":"invitation_sent","at":"2026-01-05T12:00:00Z",'
        '"invitation":"i1","sender":"alice","recipient":"bob"}\n'
    )
    before = listing(tmp_path)

    for args in (
        ("status", "alice"),
        ("export",),
        ("send", "alice", "bob"),
        ("import", str(lines)),
    ):
        done = cli(db, *args)

        assert_clean_failure(done, 2, f"{args} on another application's log")
        assert b"another application's stored_events" in done.stderr
        assert b"shop.domain:Order.Created" in done.stderr
    assert listing(tmp_path) == before


def _tables(url: str) -> list[tuple[str, ...]]:
    """Each table with its columns and row count."""
    if url.startswith("postgresql://"):
        import psycopg

        names_sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        columns_sql = (
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position"
        )
        with psycopg.connect(url) as pg:
            found = []
            for (name,) in pg.execute(names_sql).fetchall():
                names = [c for (c,) in pg.execute(columns_sql, (name,)).fetchall()]
                count = pg.execute(f"SELECT count(*) FROM {name}").fetchone()
                found.append((name, *names, str(count)))
            return found
    conn = sqlite3.connect(url)
    try:
        found = []
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        for (name,) in tables.fetchall():
            names = [row[1] for row in conn.execute(f"PRAGMA table_info({name})")]
            count = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
            found.append((name, *names, str(count)))
        return found
    finally:
        conn.close()


@pytest.mark.parametrize(
    "statements",
    [
        ("CREATE TABLE inv_pairs (x INTEGER)", "INSERT INTO inv_pairs VALUES (1)"),
        (
            "CREATE TABLE inv_meta (key TEXT, value TEXT)",
            "INSERT INTO inv_meta VALUES ('schema_version', 'abc')",
        ),
        ("CREATE TABLE inv_meta (key TEXT, value TEXT)",),
        ("CREATE TABLE inv_meta (a INTEGER)",),
    ],
    ids=["a-view-table-of-other-columns", "a-version-not-a-number", "no-version", "other-meta"],
)
def test_tables_of_invledgers_names_another_program_made_are_refused_and_left_as_they_were(
    ledger_url: str, tmp_path: Path, statements: tuple[str, ...]
) -> None:
    _run_sql(ledger_url, *statements)
    before = _tables(ledger_url)
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        '{"id":"e1","type":"invitation_sent","at":"2026-01-05T12:00:00Z",'
        '"invitation":"i1","sender":"alice","recipient":"bob"}\n'
    )

    for args in (("status", "alice"), ("send", "alice", "bob"), ("import", str(lines))):
        done = cli(ledger_url, *args)

        assert_clean_failure(done, 2, f"{args} beside {statements}")
        assert b"not an invledger ledger" in done.stderr, done.stderr
        assert b"LINE 1" not in done.stderr and b"SELECT" not in done.stderr
    assert _tables(ledger_url) == before


def test_a_log_whose_view_tables_are_gone_is_still_a_ledger(ledger_url: str) -> None:
    """The log is the truth: without invledger's other tables (dropped by hand, say) the
    next command makes them again and rebuilds the views from the events."""
    _make_ledger(ledger_url)
    _run_sql(ledger_url, *(f"DROP TABLE {table}" for table in VIEW_AND_META_TABLES))

    refused = cli(ledger_url, "check", "carol", "dave")
    export = cli(ledger_url, "export")

    assert refused.returncode == 1 and b"pending" in refused.stdout, refused
    assert export.returncode == 0 and export.stdout.count(b"\n") == 1, export


@pytest.mark.parametrize(
    "url",
    [
        ":memory:",
        "file:ledger.db?mode=memory",
        "file:ledger.db?cache=shared&mode=memory",
        "file::memory:?cache=shared",
        "file:?cache=shared",
    ],
)
def test_an_in_memory_database_is_refused(tmp_path: Path, url: str) -> None:
    """It would be gone when the command ends: a `send` would print an id and lose it."""
    for args in (("send", "alice", "bob"), ("status", "alice")):
        done = cli(url, *args, cwd=tmp_path)

        assert_clean_failure(done, 2, f"{args} on {url}")
        assert b"an in-memory database keeps nothing" in done.stderr
    assert list(tmp_path.iterdir()) == []


ORPHAN_RESPONSE = (
    b'{"id":"e-orphan","type":"invitation_accepted","at":"2026-01-06T12:00:00Z",'
    b'"invitation":"never-sent"}'
)
NOT_OURS = b"a stored event that is not one of invledger's"
# Rows another tool could write under invledger's topics, and what the error says of each.
FOREIGN_ROWS = {
    "not an event": (b"not json at all", NOT_OURS + b" (not JSON"),
    "a response to nothing": (
        ORPHAN_RESPONSE,
        b"to the invitation 'never-sent', which no event before it sent",
    ),
    "a field missing": (
        b'{"id":"e-x","type":"invitation_accepted","at":"2026-01-06T12:00:00Z"}',
        NOT_OURS + b" (no 'invitation'",
    ),
    "a number for a handle": (
        b'{"id":"e-x","type":"invitation_accepted","at":"2026-01-06T12:00:00Z","invitation":5}',
        NOT_OURS + b" ('invitation' is not text",
    ),
    "JSON nested deep": (b"[" * 100_000, NOT_OURS + b" (JSON nested too deeply"),
    "a policy out of bounds": (
        (
            b'{"id":"e-x","type":"policy_changed","at":"2026-01-06T12:00:00Z",'
            b'"policy":{"version":3000000000}}'
        ),
        NOT_OURS + b" (a policy out of today's bounds: field 'version'",
    ),
    "a time that is none": (
        b'{"id":"e-x","type":"invitation_accepted","at":"soon","invitation":"inv-1"}',
        NOT_OURS + b" (Invalid isoformat string",
    ),
}


def _insert_foreign_row(url: str, state: bytes) -> None:
    literal = state.decode().replace("'", "''")
    if url.startswith("postgresql://"):
        value = f"convert_to('{literal}', 'UTF8')"
    else:
        value = f"CAST('{literal}' AS BLOB)"
    _run_sql(
        url,
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        f"VALUES ('e-foreign', 1, 'invledger:invitation_accepted', {value})",
    )


@pytest.mark.parametrize(("state", "says"), FOREIGN_ROWS.values(), ids=FOREIGN_ROWS.keys())
def test_rows_another_tool_wrote_into_the_log_are_one_error_line(
    ledger_url: str, state: bytes, says: bytes
) -> None:
    _make_ledger(ledger_url)
    _insert_foreign_row(ledger_url, state)

    for args in (("status", "carol"), ("replay",), ("export",)):
        done = cli(ledger_url, *args)

        assert_clean_failure(done, 2, f"{args} over a foreign row")
        assert says in done.stderr, done.stderr
        # A backup that would not restore is not written as if it would.
        assert state not in done.stdout


@pytest.mark.parametrize(("state", "says"), FOREIGN_ROWS.values(), ids=FOREIGN_ROWS.keys())
def test_a_foreign_row_written_as_text_is_read_as_one_written_as_bytes(
    tmp_path: Path, state: bytes, says: bytes
) -> None:
    """`sqlite3`'s `INSERT ... VALUES ('{...}')` stores the state as TEXT, where the
    library writes a BLOB: the same one error line, never a traceback."""
    db = str(tmp_path / "ledger.db")
    _make_ledger(db)
    literal = state.decode().replace("'", "''")
    _run_sql(
        db,
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        f"VALUES ('e-foreign', 1, 'invledger:invitation_accepted', '{literal}')",
    )

    for args in (("status", "carol"), ("replay",), ("export",)):
        done = cli(db, *args)

        assert_clean_failure(done, 2, f"{args} over a foreign row written as TEXT")
        assert says in done.stderr, done.stderr


def test_a_valid_event_another_tool_wrote_as_text_is_applied_and_exported(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "ledger.db")
    _make_ledger(db)
    line = (
        '{"id":"e-text","type":"invitation_sent","at":"2026-01-06T12:00:00Z",'
        '"invitation":"i-text","sender":"gil","recipient":"hal"}'
    )
    _run_sql(
        db,
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        f"VALUES ('e-text', 1, 'invledger:invitation_sent', '{line}')",
    )

    exported = cli(db, "export")
    checked = cli(db, "check", "gil", "hal")

    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[-1] == line.encode()
    assert checked.returncode == 1 and b"pending" in checked.stdout, checked
    assert cli(db, "replay", "--check").returncode == 0


@pytest.mark.postgres
def test_a_search_path_in_the_url_does_not_move_the_ledger(postgres_url: str) -> None:
    """invledger's tables stay beside the library's log in `public`, whatever schema the
    URL's options put first."""
    import psycopg

    _make_ledger(postgres_url)
    _run_sql(postgres_url, "CREATE SCHEMA app")
    url = f"{postgres_url}?options=-c%20search_path%3Dapp"

    refused = cli(url, "check", "carol", "dave")
    sent = cli(url, "send", "erin", "frank", "--at", AT)
    also = cli(postgres_url, "check", "erin", "frank", env={"PGOPTIONS": "-c search_path=app"})

    assert refused.returncode == 1 and b"pending" in refused.stdout, refused
    assert sent.returncode == 0, sent.stderr
    assert also.returncode == 1 and b"pending" in also.stdout, also
    with psycopg.connect(postgres_url) as conn:
        in_app = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'app'").fetchone()
    assert in_app == (0,)


def _closed_stdout(db: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The CLI started with its standard output closed, as `invledger ... >&-` does."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "--db", str(db), *args],
        check=False,
        stdout=None,
        stderr=subprocess.PIPE,
        env=cli_env(),
        preexec_fn=lambda: os.close(1),
        timeout=60,
    )


def test_a_closed_standard_output_is_one_error_line_and_records_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _make_ledger(str(db))
    before = listing(tmp_path)

    for args in (
        ("export",),
        ("status", "carol"),
        ("simulate", "--members", "10", "--invitations", "10"),
        ("send", "erin", "frank"),
    ):
        done = _closed_stdout(db, *args)

        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.decode().strip() == (
            "Error: standard output is closed: invledger has nowhere to write"
        ), (args, done.stderr)
    assert listing(tmp_path) == before


def test_a_closed_standard_input_read_as_a_file_is_bad_usage_and_records_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ledger.db"
    _make_ledger(str(db))
    before = listing(tmp_path)

    for ledger, args, name in (
        (db, ("import", "-"), "'FILE'"),
        (db, ("policy", "set", "-"), "'FILE'"),
        (db, ("replay", "--policy", "-"), "'--policy'"),
        (tmp_path / "new.db", ("import", "-"), "'FILE'"),  # and no ledger made
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cli", "--db", str(ledger), *args],
            check=False,
            capture_output=True,
            env=cli_env(),
            preexec_fn=lambda: os.close(0),  # as `invledger ... <&-` starts it
            timeout=60,
        )

        assert_clean_failure(done, 2, f"{args} with standard input closed")
        assert f"Invalid value for {name}: standard input is closed".encode() in done.stderr
    assert listing(tmp_path) == before


def test_a_db_with_control_characters_is_named_with_escapes(tmp_path: Path) -> None:
    """A path from the environment reaches the error line escaped, not as raw bytes a
    terminal would act on (a bidirectional override would reverse what follows)."""
    done = cli("\x01\x1b[2J\u202e.db", "status", "alice", cwd=tmp_path)

    assert_clean_failure(done, 2, "a --db holding control characters")
    assert "no ledger at \\x01\\x1b[2J\\u202e.db" in done.stderr.decode()
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def long_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger long enough that a replay takes ranges in SQL (bulk.WORTH_IT)."""
    folder = tmp_path_factory.mktemp("long")
    db, history = folder / "ledger.db", folder / "history.jsonl"
    made = subprocess.run(
        [sys.executable, "-m", "cli", "simulate", "--members", "100", "--invitations", "1500"],
        check=True,
        capture_output=True,
        env=cli_env(),
    )
    history.write_bytes(made.stdout)
    assert made.stdout.count(b"\n") > 2_000  # bulk.WORTH_IT: the replay takes ranges
    assert cli(db, "import", str(history)).returncode == 0
    return db


RANGE_ONLY_ROWS = {
    # The event-by-event path reads this one (its offset turned to UTC); the ranges
    # read times by their characters and refuse a time in any other form than theirs.
    "a time with an offset": (
        (
            b'{"id":"e-x","type":"invitation_accepted","at":"2026-01-06T14:00:00+02:00",'
            b'"invitation":"inv-1"}'
        ),
        NOT_OURS + b" (not in the form invledger stores",
    ),
}


def test_a_range_whose_counts_differ_names_the_invitation_sent_again(tmp_path: Path) -> None:
    """Where the range's counts of answered and sent invitations differ with no response
    to nothing in it, an invitation id sent again is named, not '?'. (Whether the counts
    differ depends on that invitation's story: in this history they do.)"""
    db, history = tmp_path / "ledger.db", tmp_path / "history.jsonl"
    made = cli(db, "simulate", "--members", "500", "--invitations", "3000", "--seed", "1")
    history.write_bytes(made.stdout)
    assert cli(db, "import", str(history)).returncode == 0
    _run_sql(
        str(db),
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) VALUES "
        '(\'f-2\', 1, \'invledger:invitation_sent\', CAST(\'{"id":"f-2","type":'
        '"invitation_sent","at":"2026-01-01T12:00:00Z","invitation":'
        '"inv-0000001","sender":"fa","recipient":"fb"}\' AS BLOB))',
    )

    done = cli(db, "replay")

    assert_clean_failure(done, 2, "a replay over an invitation sent again")
    assert b"a second send of the invitation 'inv-0000001' (event 'f-2', position " in (
        done.stderr
    ), done.stderr


@pytest.mark.parametrize(
    ("state", "says"),
    [*FOREIGN_ROWS.values(), *RANGE_ONLY_ROWS.values()],
    ids=[*FOREIGN_ROWS, *RANGE_ONLY_ROWS],
)
def test_a_foreign_row_stops_a_replay_in_ranges_as_it_stops_one_event_by_event(
    long_ledger: Path, tmp_path: Path, state: bytes, says: bytes
) -> None:
    """A long log is replayed range by range in SQL (`projections/bulk.py`), not event by
    event: the same foreign row stops it with the same line, not a bare SQLite error
    ('malformed JSON', 'NOT NULL constraint failed') or a silent misreading."""
    db = tmp_path / "ledger.db"
    shutil.copyfile(long_ledger, db)
    _insert_foreign_row(str(db), state)

    done = cli(db, "replay")

    assert_clean_failure(done, 2, "a replay over a foreign row")
    assert says in done.stderr, done.stderr


def test_the_trial_on_an_empty_ledger_sweeps_what_a_killed_one_left_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """`send`, `import` and `policy set` first try a new ledger's first event on an empty
    one in a scratch folder: a process killed there leaves that folder, which the next
    command's trial removes (its lock is held by nobody)."""
    scratch = tmp_path / "tmp"
    an_hour_ago = time.time() - 3600
    # (an earlier version's trial folder, which it did not lock, too)
    for name in ("invledger-scratch-killed", "invledger-trial-killed"):
        left = scratch / name
        left.mkdir(parents=True)
        (left / "scratch.db").write_bytes(b"an empty ledger")
        os.utime(left, (an_hour_ago, an_hour_ago))

    made = cli(tmp_path / "new.db", "send", "carol", "dave", env={"TMPDIR": str(scratch)})

    assert made.returncode == 0, made.stderr
    assert list(scratch.iterdir()) == []


def test_a_ledger_reached_by_a_symbolic_link_is_read_with_its_wal(tmp_path: Path) -> None:
    """SQLite names the WAL after the file a link leads to: the look invledger takes
    before opening must read that WAL too, or a ledger whose content is still in it
    reads as no ledger (or, mid-checkpoint, as a malformed file)."""
    db = tmp_path / "ledger.db"
    holder = sqlite3.connect(db)  # open throughout: nothing checkpoints the WAL away
    try:
        holder.execute("PRAGMA journal_mode = WAL")
        holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
        made = cli(str(db), "send", "carol", "dave", "--at", AT)
        assert made.returncode == 0, made.stderr
        assert (tmp_path / "ledger.db-wal").stat().st_size > 0
        link = tmp_path / "link.db"
        link.symlink_to(db)

        done = cli(str(link), "check", "carol", "dave")

        assert done.returncode == 1 and b"pending" in done.stdout, done
    finally:
        holder.close()
