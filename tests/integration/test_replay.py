"""Replay: a full rebuild equals the incremental views; scratch replays write nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.application import Ledger
from projections import rebuild


def imported(url: str, history: Path) -> Ledger:
    book = Ledger(url)
    with history.open("rb") as lines:
        book.import_lines(lines)
    return book


def invledger(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "--db", url, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_full_rebuild_gives_exactly_the_views_the_incremental_updates_gave(
    ledger_url: str, history: Path
) -> None:
    book = imported(ledger_url, history)
    incremental = rebuild.fingerprints(book.store)

    rebuilt = rebuild.rebuild(book.store)

    assert rebuilt.fingerprints == incremental
    assert rebuilt.events == rebuild.last_position(book.store)


def test_replay_check_passes_on_intact_views_and_fails_on_a_tampered_row(
    ledger_url: str, history: Path
) -> None:
    book = imported(ledger_url, history)
    assert invledger(ledger_url, "replay", "--check").returncode == 0

    with book.store.write() as tx:
        tx.run(
            "UPDATE inv_reputation SET accepted = accepted + 1 WHERE member = "
            "(SELECT MIN(member) FROM inv_reputation)"
        )
    done = invledger(ledger_url, "replay", "--check", "--json")

    assert done.returncode == 1
    assert json.loads(done.stdout)["differences"] == ["inv_reputation"]


def test_a_what_if_policy_writes_nothing_and_names_who_would_stand_differently(
    sqlite_url: str, history: Path, tmp_path: Path
) -> None:
    book = imported(sqlite_url, history)
    before = rebuild.fingerprints(book.store)
    log_before = invledger(sqlite_url, "export").stdout
    stricter = tmp_path / "stricter.toml"
    stricter.write_text("warn_at = 2\nrestrict_at = 3\n")

    done = invledger(sqlite_url, "replay", "--policy", str(stricter), "--json")

    assert done.returncode == 0, done.stderr
    changed = json.loads(done.stdout)["changed"]
    assert changed, "a much stricter policy must change somebody's history"
    assert all(c["what_if_episodes"] >= c["episodes"] for c in changed)
    assert rebuild.fingerprints(book.store) == before
    assert invledger(sqlite_url, "export").stdout == log_before


def test_a_what_if_as_of_a_moment_compares_both_histories_then(
    sqlite_url: str, history: Path, tmp_path: Path
) -> None:
    imported(sqlite_url, history)
    stricter = tmp_path / "stricter.toml"
    stricter.write_text("warn_at = 2\nrestrict_at = 3\n")
    moment = "2025-12-31T00:00:00Z"
    before = invledger(sqlite_url, "restricted", "--at", moment, "--json")
    restricted_then = {m["member"]: m["standing"] for m in json.loads(before.stdout)["members"]}

    done = invledger(sqlite_url, "replay", "--policy", str(stricter), "--until", moment, "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["as_of"] == moment and result["changed"]
    for change in result["changed"]:
        assert change["standing"] == restricted_then.get(change["member"], "good")


def test_replay_until_a_moment_lists_who_was_restricted_then(
    sqlite_url: str, history: Path
) -> None:
    book = imported(sqlite_url, history)
    moment = "2025-07-01T00:00:00Z"
    restricted_then = invledger(sqlite_url, "restricted", "--at", moment, "--json")

    done = invledger(sqlite_url, "replay", "--until", moment, "--json")

    assert done.returncode == 0, done.stderr
    expected = [m["member"] for m in json.loads(restricted_then.stdout)["members"]]
    assert sorted(m["member"] for m in json.loads(done.stdout)["restricted"]) == sorted(expected)
    del book


def test_python_writes_a_row_as_sqlite_json_array_does() -> None:
    # PostgreSQL's fingerprints are written by Python, SQLite's by SQLite: the same
    # rows must give the same lines.
    import sqlite3

    values = [
        None,
        "",
        "it's",
        'a"b',
        "z\\y",
        "ünï ✓ 🙂",
        "line\nnext\ttab\r\b\f",
        "\x01\x1f\x7f\u2028",
        "/",
        "[1]",
        0,
        -7,
        2**62,
    ]
    connection = sqlite3.connect(":memory:")
    for value in values:
        (line,) = connection.execute("SELECT json_array(?, 1)", (value,)).fetchone()
        assert line == rebuild._json_array((value, 1)), value
    connection.close()


def test_the_schema_names_each_view_table_s_columns_in_order(tmp_path: Path) -> None:
    from ledger import schema

    book = Ledger(str(tmp_path / "ledger.db"))
    with book.store.read() as tx:
        for table in schema.VIEW_TABLES:
            listed = tuple(row[1] for row in tx.all(f"PRAGMA table_info({table})"))
            assert schema.columns(table) == listed, table
    book.close()


def test_a_second_process_digests_the_largest_view_to_the_same_fingerprints(
    tmp_path: Path, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = imported(str(tmp_path / "ledger.db"), history)
    here = rebuild.fingerprints(book.store)
    started: list[object] = []
    popen = rebuild.subprocess.Popen

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(args)
        return popen(*args, **kwargs)

    monkeypatch.setattr(rebuild, "FINGERPRINT_BESIDE_FROM", 0)
    monkeypatch.setattr(rebuild.subprocess, "Popen", recorded)

    assert rebuild.fingerprints(book.store) == here
    assert len(started) == 1
    # A second process that cannot start, or answers for another position of the views,
    # leaves the digest to this one.
    python = sys.executable
    monkeypatch.setattr(rebuild.sys, "executable", str(tmp_path / "no-python"))
    assert rebuild.fingerprints(book.store) == here
    monkeypatch.setattr(rebuild.sys, "executable", python)
    position = rebuild.last_position(book.store)
    answer = "print('{} 0123456789abcdef')"
    monkeypatch.setattr(rebuild, "_DIGEST_ELSEWHERE", answer.format(position + 1))
    assert rebuild.fingerprints(book.store) == here
    # (and its answer for the same position is the one taken)
    monkeypatch.setattr(rebuild, "_DIGEST_ELSEWHERE", answer.format(position))
    assert rebuild.fingerprints(book.store)["inv_invitations"] == "0123456789abcdef"
    book.close()


def test_fingerprints_hold_a_few_rows_at_a_time_however_wide_the_rows(tmp_path: Path) -> None:
    # A member's standing row keeps its every episode, so rows grow with a long history:
    # the digest must not hold a table's worth of them (20,000 rows once held 60 MB).
    import hashlib
    import sqlite3
    import tracemalloc

    path = tmp_path / "ledger.db"
    book = Ledger(str(path))
    wide = json.dumps({"episodes": ["x" * 4000]})
    members = [f"m{number:05d}" for number in range(10_000)]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO inv_standing VALUES (?, 'warned', ?)",
            [(member, wide) for member in members],
        )
    table_text = sum(len(json.dumps([member, "warned", wide])) for member in members)

    with book.store.read() as tx:
        tracemalloc.start()
        try:
            found = rebuild._digest(tx, "inv_standing")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < table_text / 2, (peak, table_text)
    # The same digest as all the table's lines hashed at once.
    lines = "".join(
        json.dumps([member, "warned", wide], separators=(",", ":")) + "\n" for member in members
    )
    assert found == hashlib.sha256(lines.encode()).hexdigest()[:16]
    book.close()


def test_a_query_answers_from_views_it_found_current_in_its_own_snapshot(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `replay` beside a query clears the views, then fills them again. The query must
    not find them current in one transaction and read them in another: cleared in
    between, empty views would let a blocked pair invite (`check` said yes)."""
    from click.testing import CliRunner

    from cli.main import cli
    from projections import queries

    book = Ledger(ledger_url)
    sent = book.record({"type": "invitation_sent", "invitation": "i1", "sender": "ann",
                        "recipient": "bo", "at": "2026-01-05T12:00:00Z"})  # fmt: skip
    book.record({"type": "invitation_ignored", "invitation": sent.event.invitation,
                 "at": "2026-01-05T13:00:00Z"})  # fmt: skip
    real_check = queries.check

    def cleared_meanwhile(tx: object, *args: object, **options: object) -> object:
        # the replay's first step commits, on a connection of its own, after this
        # query's transaction found the views current and before it reads them
        other = Ledger(ledger_url)
        rebuild.clear(other.store)
        other.close()
        return real_check(tx, *args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(queries, "check", cleared_meanwhile)
    done = CliRunner().invoke(cli, ["--db", ledger_url, "check", "ann", "bo", "--json"])

    assert done.exit_code == 1, done.output
    assert json.loads(done.stdout)["rule"] == "blocked"
    book.close()


def test_replay_check_compares_the_views_and_the_log_at_one_position(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers go on appending while `replay --check` rebuilds in its scratch space: it
    compares the stored views with the log through the position they reflect, so an
    event appended meanwhile is in neither and no difference is reported falsely."""
    from click.testing import CliRunner

    from cli.main import cli

    book = Ledger(ledger_url)
    for i in range(3):
        book.record({"type": "invitation_sent", "invitation": f"i{i}", "sender": "ann",
                     "recipient": f"r{i}", "at": "2026-01-05T12:00:00Z"})  # fmt: skip
    real_feed = rebuild.feed

    def appended_meanwhile(*args: object, **options: object) -> int:
        applied = real_feed(*args, **options)  # type: ignore[arg-type]
        writer = Ledger(ledger_url)  # another process's send, after the scratch was fed
        writer.record({"type": "invitation_sent", "invitation": "i-late", "sender": "cy",
                       "recipient": "di", "at": "2026-01-05T12:00:00Z"})  # fmt: skip
        writer.close()
        return applied

    monkeypatch.setattr(rebuild, "feed", appended_meanwhile)
    done = CliRunner().invoke(cli, ["--db", ledger_url, "replay", "--check", "--json"])

    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["differences"] == []
    assert (summary["events"], summary["last_position"]) == (3, 3)
    book.close()


def test_policy_show_reads_the_views_it_found_current(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As every query: a replay clearing the views between the check and the read would
    make `policy show` give the default policy for the one in force."""
    from click.testing import CliRunner

    from cli.main import cli
    from projections import history

    stricter = tmp_path / "stricter.json"
    stricter.write_text('{"version": 2, "restrict_at": 6}')
    assert (
        CliRunner().invoke(cli, ["--db", ledger_url, "policy", "set", str(stricter)]).exit_code == 0
    )
    real_policy_at = history.policy_at

    def cleared_meanwhile(tx: object, moment: object) -> object:
        other = Ledger(ledger_url)
        rebuild.clear(other.store)
        other.close()
        return real_policy_at(tx, moment)  # type: ignore[arg-type]

    monkeypatch.setattr(history, "policy_at", cleared_meanwhile)
    done = CliRunner().invoke(cli, ["--db", ledger_url, "policy", "show", "--json"])

    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["version"] == 2
