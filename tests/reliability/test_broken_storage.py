"""Storage that cannot be used: every command fails with exit 2, one line, and touches nothing.

A file that is not a database, a SQLite file with a corrupt body, a read-only ledger, a
missing folder, a folder given as the file, a SQLite database of another program, a
ledger written by a newer invledger, a ledger locked by another writer, and PostgreSQL
servers or databases that cannot be used. Each case runs a read (`status alice`) and a
write (`send alice bob`) as real processes, and compares the file's bytes (SHA-256)
and its folder before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from reliability_helpers import assert_clean_failure, cli, popen_cli

AT = "2026-01-05T12:00:00Z"
READ = ("status", "alice")
WRITE = ("send", "alice", "bob", "--at", AT)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def run_both(
    db: str, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[bytes]]:
    """The read and the write command at the same time (two real processes)."""
    procs = [popen_cli(db, *READ, env=env), popen_cli(db, *WRITE, env=env)]
    done = []
    for proc, args in zip(procs, (READ, WRITE), strict=True):
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(list(args), proc.returncode, out, err))
    return done


def make_ledger(path: Path) -> None:
    made = cli(path, "send", "carol", "dave", "--at", "2026-01-01T12:00:00Z")
    assert made.returncode == 0, made.stderr
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_random_bytes_file(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    db.write_bytes(random.Random(5).randbytes(8192))
    before = listing(tmp_path)
    for done in run_both(str(db)):
        assert_clean_failure(done, 2, f"{done.args} on random bytes")
    assert listing(tmp_path) == before


def test_sqlite_header_with_garbage_body(tmp_path: Path) -> None:
    """Passes a header check, but SQLite itself finds the body unusable."""
    db = tmp_path / "ledger.db"
    db.write_bytes(b"SQLite format 3\x00" + random.Random(6).randbytes(16 * 1024 - 16))
    before = listing(tmp_path)
    for done in run_both(str(db)):
        assert_clean_failure(done, 2, f"{done.args} on a corrupt SQLite file")
    assert listing(tmp_path) == before


def test_truncated_ledger(tmp_path: Path) -> None:
    """A real ledger cut in half (a disk that filled up, a copy that stopped)."""
    db = tmp_path / "ledger.db"
    make_ledger(db)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2 + 100])
    before = sha256(db)
    for done in run_both(str(db)):
        assert_clean_failure(done, 2, f"{done.args} on a truncated ledger")
    assert sha256(db) == before


def test_read_only_file_by_permissions(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip(
            "tests run as root, and chmod 0o444 does not stop root's writes; "
            "test_read_only_database_uri covers a read-only ledger with file:...?mode=ro"
        )
    db = tmp_path / "ledger.db"
    make_ledger(db)
    db.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        before = sha256(db)
        read, write = run_both(str(db))
        assert_clean_failure(write, 2, "send to a read-only ledger")
        assert "read-only" in write.stderr.decode() or "permission" in write.stderr.decode().lower()
        if read.returncode != 0:
            assert_clean_failure(read, 2, "status on a read-only ledger")
        assert sha256(db) == before
    finally:
        tmp_path.chmod(0o755)


def test_read_only_database_uri(tmp_path: Path) -> None:
    """As root, a read-only ledger is a SQLite URI opened with mode=ro.

    Writing must fail with one line (exit 2) and change nothing; reading may answer
    (exit 0, the right answer) or fail the same clean way.
    """
    db = tmp_path / "ledger.db"
    make_ledger(db)
    before = sha256(db)
    url = f"file:{db}?mode=ro"
    read, write = run_both(url)
    assert_clean_failure(write, 2, "send to a read-only ledger")
    assert "read-only" in write.stderr.decode(), write.stderr
    if read.returncode == 0:
        assert b"good" in read.stdout, read.stdout
    else:
        assert_clean_failure(read, 2, "status on a read-only ledger")
    assert sha256(db) == before
    ro_import = cli(
        url,
        "import",
        "-",
        stdin=b'{"id":"e1","type":"invitation_sent","at":"2026-01-02T00:00:00Z","invitation":"i1","sender":"x","recipient":"y"}\n',
    )
    assert_clean_failure(ro_import, 2, "import into a read-only ledger")
    assert sha256(db) == before


def test_missing_directory(tmp_path: Path) -> None:
    target = "/nonexistent/dir/x.db"
    assert not os.path.exists("/nonexistent")
    for done in run_both(target):
        assert_clean_failure(done, 2, f"{done.args} in a missing folder")
        assert "/nonexistent/dir" in done.stderr.decode()
    assert not os.path.exists("/nonexistent"), "a command created the missing folder"


QUERIES = [
    ["status", "alice"],
    ["audit", "alice", "--statement"],
    ["blocks", "alice", "--json"],
    ["check", "alice", "bob"],
    ["restricted"],
    ["appeals", "--open"],
    ["events", "--member", "alice"],
    ["export"],
    ["replay", "--check"],
    ["policy", "show"],
    ["follow", "--rounds", "1"],
    # Writes that need an invitation, a restriction or an appeal first.
    ["accept", "inv-1"],
    ["idk", "inv-1"],
    ["appeal", "alice", "--statement", "I know them"],
    ["grant", "ap-1", "--agent", "dana"],
]


@pytest.mark.parametrize("args", QUERIES, ids=[" ".join(q[:1]) for q in QUERIES])
def test_a_command_on_a_ledger_that_is_not_there_creates_none(
    tmp_path: Path, args: list[str]
) -> None:
    """A mistyped --db would otherwise answer from a new, empty ledger: `check` would
    say yes to a suspended sender. Only send, import and policy set make a ledger."""
    typo = tmp_path / "ledgr.db"

    done = cli(typo, *args)

    assert_clean_failure(done, 2, f"{args} on a missing file")
    assert f"no ledger at {typo}" in done.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_a_query_through_a_file_uri_of_a_missing_file_creates_none(tmp_path: Path) -> None:
    for uri in (f"file:{tmp_path}/ledgr.db?mode=rwc", f"file://{tmp_path}/ledgr.db"):
        done = cli(uri, "check", "alice", "bob")

        assert_clean_failure(done, 2, uri)
        assert "no ledger at file:" in done.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_a_send_creates_the_ledger_once_its_input_is_valid(tmp_path: Path) -> None:
    refused = cli(tmp_path / "new.db", *WRITE, "--email", "not-an-address")
    assert refused.returncode == 2 and list(tmp_path.iterdir()) == []

    made = cli(tmp_path / "new.db", *WRITE)

    assert made.returncode == 0, made.stderr
    assert cli(tmp_path / "new.db", *READ).returncode == 0


REFUSED_ON_A_NEW_LEDGER = [
    pytest.param(("send", "alice", "alice", "--at", AT), 1, "self-invitation", id="send"),
    pytest.param(("policy", "set", "{policy}"), 1, "policy-version", id="policy set"),
    pytest.param(("import", "{bad}"), 2, "line 1: not valid JSON", id="import bad line"),
    pytest.param(("import", "{unknown}"), 2, "line 2: no invitation", id="import rule"),
    pytest.param(("import", "{marked}"), 2, "line 2: not valid JSON", id="import after BOM"),
]


def _new_ledger_inputs(folder: Path) -> dict[str, str]:
    inputs = folder / "inputs"
    inputs.mkdir()
    (inputs / "policy.toml").write_text("version = 1\nrestrict_at = 6\n")
    (inputs / "bad.jsonl").write_text("garbage\n")
    (inputs / "marked.jsonl").write_bytes(b"\xef\xbb\xbf\ngarbage\n")  # a blank first line
    answer = {"id": "e1", "type": "invitation_accepted", "at": AT, "invitation": "nope"}
    (inputs / "unknown.jsonl").write_text("\n" + json.dumps(answer) + "\n")
    return {
        name: str(inputs / f"{name}.{ext}")
        for name, ext in (
            ("policy", "toml"),
            ("bad", "jsonl"),
            ("unknown", "jsonl"),
            ("marked", "jsonl"),
        )
    }


@pytest.mark.parametrize(("args", "code", "says"), REFUSED_ON_A_NEW_LEDGER)
def test_a_refused_command_leaves_no_new_ledger_behind(
    tmp_path: Path, args: tuple[str, ...], code: int, says: str
) -> None:
    """Else the next command with the same mistyped --db would find an empty ledger."""
    inputs = _new_ledger_inputs(tmp_path)
    typo = tmp_path / "ledgr.db"

    done = cli(typo, *(arg.format(**inputs) for arg in args))

    assert done.returncode == code, done.stderr
    assert says in done.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]
    assert cli(typo, *READ).returncode == 2


def test_an_import_of_no_events_creates_an_empty_ledger(tmp_path: Path) -> None:
    """The way to make a ledger without an event (the export of an empty one is empty)."""
    db = tmp_path / "new.db"

    done = cli(db, "import", "-", stdin=b"")

    assert done.returncode == 0, done.stderr
    events = cli(db, "events", "--json")
    assert events.returncode == 0, events.stderr
    assert json.loads(events.stdout) == {"events": []}


def test_an_import_that_stores_lines_before_its_bad_one_creates_the_ledger(
    tmp_path: Path,
) -> None:
    lines = tmp_path / "events.jsonl"
    sent = {"id": "e1", "type": "invitation_sent", "at": AT, "invitation": "i1"}
    sent |= {"sender": "alice", "recipient": "bob"}
    lines.write_text(json.dumps(sent) + "\ngarbage\n")
    db = tmp_path / "new.db"

    done = cli(db, "import", str(lines))

    assert done.returncode == 2 and "line 2" in done.stderr.decode()
    events = cli(db, "events", "--json")
    assert events.returncode == 0, events.stderr
    assert b'"i1"' in events.stdout


def test_a_refused_send_leaves_no_tables_in_a_new_postgres_database(postgres_url: str) -> None:
    import psycopg

    done = cli(postgres_url, "send", "alice", "alice", "--at", AT)

    assert done.returncode == 1 and "self-invitation" in done.stderr.decode()
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (0,)
    made = cli(postgres_url, *WRITE)
    assert made.returncode == 0, made.stderr
    assert cli(postgres_url, *READ).returncode == 0


def test_directory_given_as_database(tmp_path: Path) -> None:
    folder = tmp_path / "ledger.db"
    folder.mkdir()
    for done in run_both(str(folder)):
        assert_clean_failure(done, 2, f"{done.args} on a folder")
    assert list(folder.iterdir()) == []


def test_sqlite_database_of_another_program(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('x')")
    conn.commit()
    conn.close()
    before = listing(tmp_path)
    for done in run_both(str(db)):
        assert_clean_failure(done, 2, f"{done.args} on another program's database")
    assert listing(tmp_path) == before


def test_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    make_ledger(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE inv_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = listing(tmp_path)
    for done in run_both(str(db)):
        assert_clean_failure(done, 2, f"{done.args} on a newer schema")
        assert "newer" in done.stderr.decode() or "99" in done.stderr.decode()
    assert listing(tmp_path) == before
    replay = cli(db, "replay")  # a rebuild must not rewrite a newer ledger's views either
    assert_clean_failure(replay, 2, "replay on a newer schema")
    assert listing(tmp_path) == before


def test_locked_by_another_writer(tmp_path: Path) -> None:
    """Another process holds the write lock: a writer gives up after the lock timeout."""
    db = tmp_path / "ledger.db"
    make_ledger(db)
    holder = sqlite3.connect(db, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        before = sha256(db)
        started = time.monotonic()
        write = cli(db, *WRITE, env={"INVLEDGER_LOCK_TIMEOUT": "1"}, timeout=60)
        waited = time.monotonic() - started
        assert_clean_failure(write, 2, "send while another writer holds the lock")
        assert "lock" in write.stderr.decode(), write.stderr
        assert waited < 20, f"the lock timeout of 1 s was not honoured ({waited:.1f}s)"
        read = cli(db, *READ, "--json", env={"INVLEDGER_LOCK_TIMEOUT": "1"})
        assert read.returncode == 0, f"readers are never blocked (README): {read.stderr!r}"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sha256(db) == before


# PostgreSQL ---------------------------------------------------------------------------


def test_postgres_locked_by_another_writer(postgres_url: str) -> None:
    """As on SQLite: a writer gives up after the lock timeout, saying so; reads go on."""
    import psycopg

    made = cli(postgres_url, *WRITE)
    assert made.returncode == 0, made.stderr
    with psycopg.connect(postgres_url) as holder:
        holder.execute("LOCK TABLE stored_events IN EXCLUSIVE MODE")  # as every writer does

        write = cli(postgres_url, "send", "erin", "frank", env={"INVLEDGER_LOCK_TIMEOUT": "1"})
        read = cli(postgres_url, *READ, "--json", env={"INVLEDGER_LOCK_TIMEOUT": "1"})

        assert_clean_failure(write, 2, "send while another writer holds the lock")
        assert b"is locked by another writer; waited 1 s ($INVLEDGER_LOCK_TIMEOUT)" in (
            write.stderr
        )
        assert read.returncode == 0, read.stderr
        holder.rollback()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM stored_events").fetchone() == (1,)


def test_postgres_a_timeout_reading_the_schema_version_is_not_taken_for_a_foreign_table(
    postgres_url: str,
) -> None:
    """Only an inv_meta of other columns is another program's: a timeout, a lock held or a
    lost connection while reading it is the reason told, not "not an invledger ledger"."""
    import psycopg

    made = cli(postgres_url, *WRITE)
    assert made.returncode == 0, made.stderr
    impatient = f"{postgres_url}?options=-c%20statement_timeout%3D500"
    with psycopg.connect(postgres_url) as holder:
        holder.execute("LOCK TABLE inv_meta IN ACCESS EXCLUSIVE MODE")

        done = cli(impatient, *READ)

        holder.rollback()
    assert_clean_failure(done, 2, "status while inv_meta is locked past the statement timeout")
    assert b"not an invledger ledger" not in done.stderr, done.stderr
    assert b"statement timeout" in done.stderr, done.stderr
    assert cli(postgres_url, *READ).returncode == 0


def test_postgres_server_unreachable(tmp_path: Path) -> None:
    env = {"INVLEDGER_CONNECT_TIMEOUT": "2"}
    started = time.monotonic()
    for done in run_both("postgresql://postgres@127.0.0.1:1/ledger", env=env):
        assert_clean_failure(done, 2, f"{done.args} with no server")
    assert time.monotonic() - started < 30


def test_postgres_database_missing(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/invledger_no_such_database"
    for done in run_both(url, env={"INVLEDGER_CONNECT_TIMEOUT": "3"}):
        assert_clean_failure(done, 2, f"{done.args} on a missing database")


def test_postgres_newer_schema(postgres_url: str) -> None:
    import psycopg

    made = cli(postgres_url, "send", "carol", "dave", "--at", "2026-01-01T12:00:00Z")
    assert made.returncode == 0, made.stderr

    def snapshot() -> tuple[object, ...]:
        with psycopg.connect(postgres_url) as conn:
            events = conn.execute(
                "SELECT notification_id, originator_id, state FROM stored_events ORDER BY 1"
            ).fetchall()
            meta = conn.execute("SELECT key, value FROM inv_meta ORDER BY key").fetchall()
            tracking = conn.execute("SELECT * FROM inv_tracking").fetchall()
            return (events, meta, tracking)

    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE inv_meta SET value = '99' WHERE key = 'schema_version'")
    before = snapshot()
    for done in run_both(postgres_url):
        assert_clean_failure(done, 2, f"{done.args} on a newer PostgreSQL schema")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://postgres@127.0.0.1:abc/ledger", "the port 'abc' is not a number"),
        ("postgresql://postgres@127.0.0.1:99999/ledger", "the port '99999' is not a number"),
        ("postgresql://[::1/ledger", "is not a PostgreSQL URL libpq reads"),
        ("postgresql://postgres:hunter2@[::1/ledger", "is not a PostgreSQL URL libpq reads"),
        ("postgresql://postgres:hunter2@127.0.0.1/ledger?nosuch=1", 'query parameter: "nosuch"'),
        ("postgresql://postgres@127.0.0.1:99999/ledger?password=hunter2", "'99999' is not a"),
        ("postgresql://postgres:hun#ter?2@127.0.0.1:99999/ledger", "'99999' is not a"),
        ("postgresql://postgres:hun@ter2@127.0.0.1/ledger", "write an '@' of a user name"),
        ("postgresql+psycopg://postgres:hunter2@127.0.0.1/ledger", "not a SQLite file path"),
        ("postgresql://postgres:hun%ZZter2@127.0.0.1/ledger", "invalid percent-encoded"),
        ("postgresql://postgres@127.0.0.1/ledger?password=hun%ZZter2", "invalid percent-encoded"),
        ("postgresql://postgres:hun/ter2@127.0.0.1:5432/ledger", "password as %2F"),
        ("postgresql://postgres:hun%C3ter2@127.0.0.1/ledger", "is not UTF-8 text"),
        ("postgresql://postgres:hunter2@127.0.0.1:1/led@ger", "127.0.0.1:1/led@ger"),
    ],
    ids=[
        "port-not-a-number",
        "port-out-of-range",
        "broken-ipv6",
        "broken-ipv6-with-password",
        "unknown-option",
        "password-option",
        "password-with-hash-and-question-mark",
        "password-with-a-raw-at",
        "other-scheme",
        "password-libpq-cannot-decode",
        "password-option-libpq-cannot-decode",
        "password-with-a-raw-slash",
        "password-not-utf-8",
        "database-name-with-an-at",
    ],
)
def test_postgres_url_that_cannot_be_read(url: str, says: str) -> None:
    for done in run_both(url):
        assert_clean_failure(done, 2, f"{done.args} on {url}")
        assert says.encode() in done.stderr
        # a password never reaches a message, nor any part of it
        assert not any(part in done.stderr for part in (b"hunter2", b"hun", b"ter2"))


@pytest.mark.postgres
def test_what_a_postgres_url_leaves_out_comes_from_libpqs_environment(postgres_url: str) -> None:
    """$PGPORT, $PGHOST and $PGDATABASE fill in what the URL leaves out, as for psql: a
    service set up with them must not find a ledger on another server."""
    made = cli(postgres_url, *WRITE)
    assert made.returncode == 0, made.stderr
    scheme, _, rest = postgres_url.partition("://")
    user_host, _, dbname = rest.partition("/")
    user, _, host_port = user_host.rpartition("@")
    host, _, port = host_port.partition(":")
    no_port = f"{scheme}://{user}@{host}/{dbname}"
    no_database = f"{scheme}://{user}@{host}:{port or 5432}"
    no_host = f"{scheme}://{user}@/{dbname}"

    elsewhere = cli(no_port, *READ, env={"PGPORT": "1"})
    found = cli(no_database, *READ, "--json", env={"PGDATABASE": dbname})
    via_host = cli(no_host, *READ, "--json", env={"PGHOST": host, "PGPORT": port or "5432"})
    bad_port = cli(no_port, *READ, env={"PGPORT": "abc"})

    assert_clean_failure(elsewhere, 2, "the port of $PGPORT, where no server listens")
    assert b"127.0.0.1:1/" in elsewhere.stderr or f"{host}:1/".encode() in elsewhere.stderr
    for done in (found, via_host):
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["reputation"]["sent"] == 1
    assert_clean_failure(bad_port, 2, "a $PGPORT that is not a number")
    assert b"the port 'abc' (from $PGPORT) is not a number" in bad_port.stderr


@pytest.mark.postgres
def test_a_bad_connect_timeout_in_the_url_is_the_reason_given(postgres_url: str) -> None:
    done = cli(f"{postgres_url}?connect_timeout=abc", *READ)

    assert_clean_failure(done, 2, "a connect_timeout that is not a number")
    assert b"connect_timeout" in done.stderr and b"abc" in done.stderr


def test_postgres_url_options_reach_the_server(postgres_url: str) -> None:
    """The options after `?` are not dropped: here one that makes every transaction
    read-only, so the write is refused by the server and changes nothing."""
    import psycopg

    made = cli(postgres_url, "send", "carol", "dave", "--at", "2026-01-01T12:00:00Z")
    assert made.returncode == 0, made.stderr
    read_only = f"{postgres_url}?options=-c%20default_transaction_read_only%3Don"

    read, write = run_both(read_only)

    assert read.returncode == 0, read.stderr
    assert_clean_failure(write, 2, "a write on a read-only connection")
    assert b"read-only transaction" in write.stderr
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM stored_events").fetchone() == (1,)


def _tables(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return [name for (name,) in rows]


def test_a_query_on_a_postgres_database_without_a_ledger_makes_none(postgres_url: str) -> None:
    for args in (READ, ("check", "alice", "bob"), ("export",)):
        done = cli(postgres_url, *args)

        assert_clean_failure(done, 2, f"{args} on an empty database")
        assert b"no ledger in 127.0.0.1:5432/" in done.stderr
    assert _tables(postgres_url) == []


@pytest.mark.parametrize("originator", ["uuid", "text"])
def test_postgres_database_of_another_eventsourcing_application(
    postgres_url: str, originator: str
) -> None:
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            f"CREATE TABLE stored_events (originator_id {originator} NOT NULL, "
            "originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute(
            "INSERT INTO stored_events VALUES "
            "('6f1b1c0e-0000-0000-0000-000000000001', 1, 'shop.domain:Order.Created', '{}')"
        )
    for done in run_both(postgres_url):
        assert_clean_failure(done, 2, f"{done.args} on another application's database")
        assert b"another application's stored_events" in done.stderr
    assert _tables(postgres_url) == ["stored_events"]
