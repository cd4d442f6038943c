"""Rebuilding the views from the log: full replay, as of a moment, under another policy.

A rebuild clears the views and applies the log again page by page, each page
in its own transaction with its tracking position, so an interrupted rebuild
resumes where it stopped. A scratch rebuild (`--until`, `--policy`, `--check`)
writes into a temporary database and leaves the ledger untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from ledger import events as ev
from ledger import schema
from ledger.policy import Policy
from ledger.schema import VIEW_TABLES, VIEWS_TRACKING_KEY
from ledger.store import SQLiteStore, Store, Tx, read_only_uri
from projections import bulk
from projections.views import Views

FLUSH_EVERY = 50_000  # events per rebuild transaction

PAGE = 5000
Progress = Callable[[int], None]

# Primary key order of each view table: fingerprints must not depend on storage order.
_ORDER = {
    "inv_invitations": "invitation",
    "inv_pairs": "sender, recipient",
    "inv_appeals": "appeal",
    "inv_reputation": "member",
    "inv_standing": "member",
    "inv_standing_inputs": "member, position",
    "inv_policies": "position",
}


@dataclass(frozen=True)
class Rebuilt:
    events: int
    last_position: int
    fingerprints: dict[str, str]


def clear(store: Store) -> None:
    # A write takes the views' tracking row first (on PostgreSQL), unless told not to: a
    # table dropped by hand, that one too, is made again before it is taken.
    with store.write(lock_views=False) as tx:
        sqlite = getattr(tx, "dialect", None) == "sqlite"
        if sqlite:
            # The views hold nothing the log beside them does not: their freed pages
            # need no overwriting with zeros (this SQLite's build default), which made
            # clearing a million events' views take 0.56 s instead of 0.04 s.
            (secure,) = tx.one("PRAGMA secure_delete") or (1,)
            tx.run("PRAGMA secure_delete = OFF")
        try:
            for statement in schema.create_statements(sqlite):  # a table dropped by hand
                tx.run(statement)
            tx.lock_views()
            for table in VIEW_TABLES:
                tx.run(f"DELETE FROM {table}")
            tx.run("DELETE FROM inv_tracking")
            tx.run("DELETE FROM inv_meta WHERE key = 'latest_at_us'")
        finally:
            if sqlite:
                tx.run(f"PRAGMA secure_delete = {int(secure)}")


def rebuild(
    store: Store,
    progress: Progress | None = None,
    fingerprinting: Callable[[], None] | None = None,
) -> Rebuilt:
    """Clear every view and apply the whole log again; `fingerprinting` is told when the
    views are done and their fingerprints begin (they read every row back)."""
    clear(store)
    applied = feed(store, store, progress=progress)
    if fingerprinting is not None:
        fingerprinting()
    return Rebuilt(applied, last_position(store), fingerprints(store))


def feed(
    source: Store,
    target: Store,
    *,
    until: datetime | None = None,
    policy: Policy | None = None,
    progress: Progress | None = None,
    through: int | None = None,
) -> int:
    """Apply the source's log after the target's tracking position to the target's views;
    returns how many events were applied.

    With `until`, only events at or before that moment; with `policy`, that policy
    from the start and the log's policy changes left out; with `through`, only the log
    up to that position (what other writers append meanwhile is left out). `progress`
    is told every event passed, applied or left out.
    """
    applied = 0
    if isinstance(target, SQLiteStore) and _in_sql(source, target, through):
        applied += _feed_in_sql(
            source, target, until=until, policy=policy, progress=progress, through=through
        )
    while True:
        # One transaction per FLUSH_EVERY events (or bulk range): rows and tracking
        # commit together, so an interrupted rebuild resumes from the last commit.
        with target.write() as out:
            views = Views(out)
            if policy is not None:
                views.policy = policy
            in_this_transaction = 0
            while in_this_transaction < FLUSH_EVERY:
                rows = (
                    out.notifications(views.position, PAGE)
                    if source is target
                    else _page(source, views.position)
                )
                if through is not None:
                    rows = [row for row in rows if row[0] <= through]
                if not rows:
                    break
                decoded = [
                    (position, ev.decode(ev.stored_bytes(state))) for position, _, state in rows
                ]
                chosen = [
                    (position, event)
                    for position, event in decoded
                    if (until is None or event.at <= until)
                    and not (policy is not None and isinstance(event, ev.PolicyChanged))
                ]
                views.prefetch([event for _, event in chosen])
                for position, event in chosen:
                    views.apply(event, position)
                views.position = rows[-1][0]
                in_this_transaction += len(rows)
                if progress:
                    progress(len(rows))
                applied += len(chosen)
            views.flush()
        if in_this_transaction < FLUSH_EVERY:
            return applied


def _in_sql(source: Store, target: SQLiteStore, through: int | None = None) -> bool:
    """Can the target apply the source's events in SQL (far enough behind for the bulk
    path to pay)?"""
    with target.read() as tx:
        if not bulk.supported(tx):
            return False
        done = Views(tx).position
    end = last_position(source) if through is None else min(through, last_position(source))
    return end - done >= bulk.WORTH_IT


def _feed_in_sql(
    source: Store,
    target: SQLiteStore,
    *,
    until: datetime | None,
    policy: Policy | None,
    progress: Progress | None,
    through: int | None = None,
) -> int:
    """Apply the source's events to the target's views by ranges in SQL; leaves fewer
    than WORTH_IT events at the end to the caller. The target's own log is read in
    place; another SQLite ledger's file is attached read-only to each range's
    transaction; a PostgreSQL ledger's events of the range are first copied into the
    target's log, with their positions."""
    applied = 0
    end = last_position(source) if through is None else min(through, last_position(source))
    copied = source is not target and not isinstance(source, SQLiteStore)
    attached = source.path if source is not target and isinstance(source, SQLiteStore) else None
    ahead = None

    def one_range(extracted: bulk.Extracted | None) -> int | None:
        """Apply the next range, the one `extracted` if it still fits; None once fewer
        than WORTH_IT events are left."""
        with target.write(
            reading=attached, working=() if extracted is None else extracted.files
        ) as out:
            views = Views(out)
            if end - views.position < bulk.WORTH_IT:
                return None
            if policy is not None:
                views.policy = policy
            last = min(end, views.position + bulk.RANGE)
            if copied:
                _copy_events(source, out, views.position, last)
            return bulk.apply_range(
                out,
                views,
                last,
                progress,
                log="stored_events" if attached is None else "log.stored_events",
                until=until,
                policy_changes=policy is None,
                extracted=extracted,
            )

    try:
        if not copied and isinstance(source, SQLiteStore) and bulk.extractable(source.path):
            ahead = bulk.ReadAhead(source.path, end, until=until, policy_changes=policy is None)
        while True:
            with target.read() as tx:
                position = Views(tx).position
            extracted = None if ahead is None else ahead.take(position)
            done = bulk.applying(extracted, one_range)
            if done is None:
                return applied
            applied += done
    finally:
        if ahead is not None:
            ahead.close()


def _copy_events(source: Store, out: Tx, after: int, last: int) -> None:
    """The source's stored events after `after` up to `last` into `out`'s log, page by page."""
    while after < last:
        with source.read() as tx:
            rows = tx.all(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                (after, last, PAGE),
            )
        if not rows:
            return
        out.many(
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (position, str(key), version, topic, ev.stored_bytes(state))
                for position, key, version, topic, state in rows
            ],
        )
        after = rows[-1][0]


def _page(source: Store, after: int) -> list[tuple[int, str, bytes]]:
    with source.read() as tx:
        rows: list[tuple[int, str, bytes]] = tx.notifications(after, PAGE)
    return rows


def last_position(store: Store) -> int:
    with store.read() as tx:
        last: int = tx.next_position() - 1
    return last


# From this many events in the views on, the largest view's fingerprint is taken by a
# second process while this one takes the others: on two cores, about half the time.
FINGERPRINT_BESIDE_FROM = 200_000
_BESIDE_TABLE = "inv_invitations"
_POSITION = f"SELECT position FROM inv_tracking WHERE view = '{VIEWS_TRACKING_KEY}'"
# Rows hashed at a time. Few, so memory stays flat however long a member's standing row
# grows (its episodes are kept for good): 20,000 rows of the standing view once held 60 MB
# on a 3M-event ledger. Smaller chunks also hashed faster: the invitations view of that
# ledger in 1.75 s, against 2.1-2.4 s by 20,000.
DIGEST_ROWS = 1_000
# The second process: the standard library only, so it starts in a few milliseconds.
_DIGEST_ELSEWHERE = """
import hashlib, sqlite3, sys
uri, position_query, query, size = sys.argv[1:5]
conn = sqlite3.connect(uri, uri=True, isolation_level=None)
conn.execute("BEGIN")
found = conn.execute(position_query).fetchone()
digest = hashlib.sha256()
cursor = conn.execute(query)
while rows := cursor.fetchmany(int(size)):
    digest.update("".join([row + "\\n" for (row,) in rows]).encode())
print(found[0] if found else 0, digest.hexdigest()[:16])
"""


def fingerprints(store: Store) -> dict[str, str]:
    """A SHA-256 of each view table's rows in key order (see `fingerprinted`)."""
    return fingerprinted(store)[1]


def fingerprinted(store: Store) -> tuple[int, dict[str, str]]:
    """The views' tracking position, and a SHA-256 of each view table's rows in key
    order, read in one snapshot: the views as they stood at that position.

    Each row is one line, the JSON array of its values. SQLite writes the lines itself
    (`json_array`, one function per row: 2.3 x faster than fetching the values into
    Python and writing them there); elsewhere Python writes the same lines, so a SQLite
    and a PostgreSQL ledger of the same events give the same fingerprints. On a large
    SQLite ledger the largest view is digested by a second process meanwhile; its
    answer counts only if it read the views at the same tracking position (they change
    only with it), else that view is digested here too.
    """
    found: dict[str, str] = {}
    with store.read() as tx:
        row = tx.one(_POSITION)
        position = int(row[0]) if row else 0
        beside = _digest_elsewhere(store, tx, position)
        try:
            for table in VIEW_TABLES:
                if beside is None or table != _BESIDE_TABLE:
                    found[table] = _digest(tx, table)
            if beside is not None:
                out, _ = beside.communicate()
                answer = out.split()
                if beside.returncode == 0 and answer[:1] == [str(position)]:
                    found[_BESIDE_TABLE] = answer[1]
                else:
                    found[_BESIDE_TABLE] = _digest(tx, _BESIDE_TABLE)
        finally:
            if beside is not None and beside.poll() is None:
                beside.kill()
                beside.wait()
    return position, {table: found[table] for table in VIEW_TABLES}


def _query(tx: Tx, table: str) -> str:
    columns = ", ".join(schema.columns(table))
    if bulk.supported(tx):  # a SQLite with JSON built in
        return f"SELECT json_array({columns}) FROM {table} ORDER BY {_ORDER[table]}"
    return f"SELECT {columns} FROM {table} ORDER BY {_ORDER[table]}"


def _digest(tx: Tx, table: str) -> str:
    digest = hashlib.sha256()
    query = _query(tx, table)
    if bulk.supported(tx):
        for rows in tx.chunks(query, DIGEST_ROWS):
            digest.update("".join([row + "\n" for (row,) in rows]).encode())
    else:
        for rows in tx.chunks(query, DIGEST_ROWS):
            digest.update("".join([_json_array(row) + "\n" for row in rows]).encode())
    return digest.hexdigest()[:16]


def _digest_elsewhere(store: Store, tx: Tx, position: int) -> subprocess.Popen[str] | None:
    """The second process digesting the largest view, when it is worth starting one."""
    if (
        position < FINGERPRINT_BESIDE_FROM
        or not bulk.supported(tx)
        or not isinstance(store, SQLiteStore)
        or not bulk.extractable(store.path)
        or not sys.executable
    ):
        return None
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                _DIGEST_ELSEWHERE,
                read_only_uri(store.path),
                _POSITION,
                _query(tx, _BESIDE_TABLE),
                str(DIGEST_ROWS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError:
        return None  # digested here instead


def _json_array(row: tuple[object, ...]) -> str:
    """A row as SQLite's json_array writes it (view columns hold text and integers)."""
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


@contextmanager
def scratch() -> Iterator[Store]:
    """A temporary SQLite ledger for views that must not touch the real one. Its folder
    is locked while in use: one left by a killed process is swept by the next (bulk.sweep)."""
    bulk.sweep()
    with tempfile.TemporaryDirectory(prefix=bulk.SCRATCH_PREFIX) as folder:
        lock = bulk.locked(folder)
        store = SQLiteStore(os.path.join(folder, "scratch.db"))
        try:
            yield store
        finally:
            store.close()
            if lock is not None:
                lock.close()
