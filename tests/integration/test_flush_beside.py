"""On PostgreSQL an import writes its view rows beside its next batches.

Every FLUSH_EVERY events the import hands its changed rows to a thread with a
connection of its own, which takes the views' tracking row before the batch that
handed them off commits, then writes them. The import goes on meanwhile and reads
those rows from what it kept, not from the tables, until they are committed; any
other writer waits at the tracking row until then. These tests hold that flush
open, on a real server, and prove: the import reads what it kept, another
process's append waits at the tracking row (and both end right), and a flush that
fails stops the import with one clear error and loses nothing.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger import application, rules
from ledger.application import Ledger
from ledger.errors import StorageError
from projections import rebuild
from projections import views as views_module

pytestmark = pytest.mark.postgres

FLUSH_THREAD = "invledger-flush"


def _views_equal_a_rebuild(book: Ledger) -> bool:
    with rebuild.scratch() as space:
        rebuild.feed(book.store, space)
        return rebuild.fingerprints(space) == rebuild.fingerprints(book.store)


def _stored_count(book: Ledger) -> int:
    return sum(1 for _ in book.notifications())


def _hold_flushes(monkeypatch: pytest.MonkeyPatch, before_writing: Callable[[], None]) -> list[int]:
    """Make every flush beside the import call `before_writing` once it holds the
    tracking row; returns the list of positions those flushes reached."""
    write = views_module.write
    reached: list[int] = []

    def held(tx: Any, flushed: views_module.Flushed) -> None:
        if threading.current_thread().name == FLUSH_THREAD:
            reached.append(flushed.position)
            before_writing()
        write(tx, flushed)

    monkeypatch.setattr(views_module, "write", held)
    return reached


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(application, "IMPORT_BATCH", 100)
    monkeypatch.setattr(application, "FLUSH_EVERY", 500)


def test_the_import_reads_the_rows_it_handed_off_until_they_are_written(
    postgres_url: str, history: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each flush is held until the import has checked 300 more events against the rows
    # it kept (responses to invitations whose rows are not in the tables yet), or waits
    # for the flush itself (the last one, at the end).
    checks_since = [0]
    go_on = threading.Event()

    def wait_for_the_import() -> None:
        checks_since[0] = 0
        go_on.clear()
        assert go_on.wait(60), "the import stopped while its flush was held"

    checked = rules.check

    def counting(event: Any, views: Any) -> None:
        checked(event, views)
        checks_since[0] += 1
        if checks_since[0] >= 300:
            go_on.set()

    settle = application._ImportSession._settle

    def settling(self: Any) -> None:
        go_on.set()
        settle(self)

    reached = _hold_flushes(monkeypatch, wait_for_the_import)
    monkeypatch.setattr(rules, "check", counting)
    monkeypatch.setattr(application._ImportSession, "_settle", settling)
    book = Ledger(postgres_url)
    try:
        with history.open("rb") as lines:
            result = book.import_lines(lines)
        total = sum(1 for _ in history.open("rb"))
        assert (result.imported, result.skipped) == (total, 0)
        assert len(reached) >= total // 500 - 1, reached
        assert _views_equal_a_rebuild(book)
    finally:
        book.close()


def test_a_writer_in_another_process_waits_at_the_tracking_row_for_a_flush_in_flight(
    postgres_url: str,
    history: Path,
    small_batches: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    holding, release_flush, release_import = (threading.Event() for _ in range(3))

    def hold_the_first() -> None:
        if not holding.is_set():
            holding.set()
            assert release_flush.wait(60)

    _hold_flushes(monkeypatch, hold_the_first)
    append = application._ImportSession.append
    batches_after_hold = [0]

    def pausing(self: Any, batch: Any, *rest: Any) -> Any:
        # Between two batches (no transaction open), once the flush is held.
        if holding.is_set():
            batches_after_hold[0] += 1
            if batches_after_hold[0] == 2:
                assert release_import.wait(60)
        return append(self, batch, *rest)

    monkeypatch.setattr(application._ImportSession, "append", pausing)
    book = Ledger(postgres_url)
    outcome: list[Any] = []

    def run_import() -> None:
        try:
            with history.open("rb") as lines:
                outcome.append(book.import_lines(lines))
        except BaseException as error:  # noqa: BLE001 - the test's thread reports it
            outcome.append(error)

    importer = threading.Thread(target=run_import)
    importer.start()
    other = None
    try:
        assert holding.wait(60), "no flush was handed off"
        other = subprocess.Popen(
            [sys.executable, "-m", "cli", "--db", postgres_url, "send", "quinn", "rafe"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        waiting = _wait_for_a_lock_on_tracking(postgres_url, other)
        assert waiting, "the other process's append did not wait at the tracking row"
        assert other.poll() is None
    finally:
        release_flush.set()
        if other is not None:
            _, err = other.communicate(timeout=120)
        release_import.set()
        importer.join(120)
    assert other.returncode == 0, err.decode()
    assert not isinstance(outcome[0], BaseException), outcome
    total = sum(1 for _ in history.open("rb"))
    assert outcome[0].imported == total
    try:
        assert _stored_count(book) == total + 1
        assert _views_equal_a_rebuild(book)
    finally:
        book.close()


def _wait_for_a_lock_on_tracking(url: str, process: subprocess.Popen[bytes]) -> bool:
    """Does a session wait for a lock at the statement that takes the tracking row?"""
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline and process.poll() is None:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO inv_tracking VALUES%'"
            ).fetchone()
            if row and row[0]:
                return True
            time.sleep(0.05)
    return False


def test_a_failed_flush_stops_the_import_with_one_error_and_loses_nothing(
    postgres_url: str, history: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def server_gone() -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    reached = _hold_flushes(monkeypatch, server_gone)
    book = Ledger(postgres_url)
    try:
        with history.open("rb") as lines, pytest.raises(StorageError, match="server closed"):
            book.import_lines(lines)
        assert reached, "no flush was handed off"
        stored = _stored_count(book)
        assert stored >= reached[0]  # the batches before the error stay committed
        monkeypatch.undo()
        # The views never got the failed rows: they catch up from the log.
        book.ensure_current()
        assert _views_equal_a_rebuild(book)
        with history.open("rb") as lines:
            again = book.import_lines(lines)
        assert again.skipped == stored
        assert _views_equal_a_rebuild(book)
    finally:
        book.close()


def test_the_command_says_what_is_stored_when_a_flush_fails_mid_import(
    postgres_url: str,
    history: Path,
    small_batches: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    def server_gone() -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    _hold_flushes(monkeypatch, server_gone)
    result = CliRunner().invoke(cli, ["--db", postgres_url, "import", str(history)])

    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and "server closed" in lines[-1], lines
    assert "run the same import again to resume" in lines[-2], lines
    assert "Traceback" not in result.stderr
