"""Read transactions on PostgreSQL: how they end.

A read transaction is read-only, so ending it by COMMIT or ROLLBACK changes nothing in
the database; but the driver forgets its prepared statements at every ROLLBACK. Ended
by COMMIT, a query that a long-lived process (an API worker, `follow`) runs again and
again is planned once, not on every call.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from ledger.errors import StorageError

pytestmark = pytest.mark.postgres
QUERY = "SELECT sender FROM inv_pairs WHERE recipient = $1"  # as the server holds it


@pytest.fixture
def pg_book(postgres_url: str) -> Iterator[Ledger]:
    book = Ledger(postgres_url)
    book.record(
        {"type": "invitation_sent", "invitation": "i1", "sender": "ana", "recipient": "ben"}
    )
    yield book
    book.close()


def prepared_statements(book: Ledger) -> int:
    with book.store.read() as tx:
        row = tx.one("SELECT count(*) FROM pg_prepared_statements WHERE statement = ?", (QUERY,))
    assert row is not None
    return int(row[0])


def test_a_query_run_again_and_again_in_read_transactions_stays_prepared(pg_book: Ledger) -> None:
    # The driver prepares a query from its fifth run on a connection; the pool
    # hands out its connections in turn.
    for _ in range(30):
        with pg_book.store.read() as tx:
            found = tx.one(QUERY.replace("$1", "?"), ("ben",))
        assert found == ("ana",)

    assert prepared_statements(pg_book) >= 1


def test_a_read_that_fails_is_rolled_back_and_the_next_read_works(pg_book: Ledger) -> None:
    with pytest.raises(StorageError), pg_book.store.read() as tx:
        tx.run("INSERT INTO inv_meta VALUES ('written-by-a-read', 'x')")

    with pg_book.store.read() as tx:
        assert tx.one("SELECT value FROM inv_meta WHERE key = 'written-by-a-read'") is None
        assert tx.one("SELECT sender FROM inv_pairs WHERE recipient = ?", ("ben",)) == ("ana",)


def test_numbers_an_insert_used_up_at_the_end_of_the_log_do_not_make_readers_wait(
    pg_book: Ledger, postgres_url: str
) -> None:
    """An insert rolled back (a killed import, a lost race) uses up sequence numbers. The
    views tracking the last event are current: a reader must not take the writers' path,
    where it would wait for the tracking row that a writer holds."""
    import subprocess
    import sys
    import time

    import psycopg

    with psycopg.connect(postgres_url) as other:
        other.execute("SELECT nextval(pg_get_serial_sequence('stored_events', 'notification_id'))")
        other.commit()
        other.execute("SELECT position FROM inv_tracking FOR UPDATE")  # a writer's, held
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "cli", "--db", postgres_url, "status", "ana", "--json"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={"INVLEDGER_LOCK_TIMEOUT": "20", **_environment()},
        )
        took = time.monotonic() - started
        other.rollback()

    assert done.returncode == 0, done.stderr
    assert '"member": "ana"' in done.stdout
    assert took < 10, f"the reader waited {took:.1f}s for the writers' lock"


def _environment() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "INVLEDGER_DB"}
