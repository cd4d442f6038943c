"""Bringing the views over a long stretch of the log at once, in SQL.

Applying events one by one in Python costs microseconds per event; a replay or
a long catch-up over millions of them is better done by the database, a range
of positions at a time: the sends become invitation rows, the responses update
them, the pairs and the reputation counts follow from both, each by one
statement over the whole range. Only the events that feed the standing rules
(IDK reports, appeals, policy changes: a few percent of the log) go through
Python, through the same `Views` methods an append uses, so the rules stay
pure functions and have one implementation.

The result is the same rows the event-by-event path writes (the replay tests
compare both), and it lands in the caller's transaction with the tracking
position, so a crash still leaves the views at a range boundary.

Both cores work: SQLite lets go of the interpreter while a statement runs, and
its memory statistics are off (`ledger.sqlite_memory`: with them on, connections
in two threads wait on each other at every allocation). A range's events are
read out of their JSON, and its sends joined to their responses, before its
transaction, by connections of their own into scratch files the transaction
attaches (`Extracted`, `ReadAhead`: the next range while the current one is
written); the standing rules run in a thread while the pair and count
statements run (`_beside`).

SQLite 3.38 or later only: elsewhere the event-by-event path runs.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypeVar, cast

try:
    import fcntl
except ImportError:  # Windows: no scratch folder is swept
    fcntl = None  # type: ignore[assignment]

from ledger import events as ev
from ledger.errors import UnreadableLog
from ledger.moments import from_us, to_us
from ledger.schema import TOPIC_PREFIX
from ledger.store import SQLiteTx, Tx, WorkingFilesGone, read_only_uri
from projections import standing as rules
from projections.views import Views, missing, response_to_nothing

_T = TypeVar("_T")
_U = TypeVar("_U")

# Events per range (one transaction): bounds the working tables of a range, which live
# in scratch files and SQLite's temporary files, not in memory. Larger ranges cost less
# on long logs: each range rewrites pages across the pair and reputation trees.
RANGE = 500_000
# Below this many events behind, the event-by-event path is cheaper than the setup.
WORTH_IT = 2_000

_SENT = TOPIC_PREFIX + "invitation_sent"
_RESPONSES = {
    TOPIC_PREFIX + "invitation_accepted": "accepted",
    TOPIC_PREFIX + "invitation_ignored": "ignored",
    TOPIC_PREFIX + "invitation_marked_unknown": "unknown",
    TOPIC_PREFIX + "invitation_withdrawn": "withdrawn",
}
# Appeals and policy changes: few, and decoded in full for the standing rules.
_DECODED = tuple(
    TOPIC_PREFIX + name
    for name in ("appeal_filed", "appeal_granted", "appeal_denied", "policy_changed")
)


def supported(tx: Tx) -> bool:
    # unixepoch() came with SQLite 3.38 (UPDATE ... FROM with 3.33).
    return getattr(tx, "dialect", None) == "sqlite" and sqlite3.sqlite_version_info >= (3, 38)


def _field(name: str) -> str:
    return f"json_extract(state, '$.{name}')"


def _us(at: str) -> str:
    """SQL for the microseconds of an `at` column, as format_time writes it:
    'YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z' in UTC."""
    return (
        f"(unixepoch(substr({at}, 1, 19)) * 1000000 + CASE WHEN length({at}) > 20 "
        f"THEN CAST(substr(substr({at}, 21, length({at}) - 21) || '000000', 1, 6) AS INTEGER) "
        "ELSE 0 END)"
    )


# The working tables of a range's extraction.
_WORKING = {
    # The sends and responses of the range, one row each.
    "inv_r_sent": "(pos INTEGER PRIMARY KEY, inv TEXT, sender TEXT, recipient TEXT, at TEXT)",
    "inv_r_resp": ("(pos INTEGER PRIMARY KEY, inv TEXT, id TEXT, at TEXT, status TEXT, type TEXT)"),
    # Per answered invitation: its first and last response and its IDK in the range.
    "inv_r_answered": (
        "(inv TEXT PRIMARY KEY, first INTEGER, last INTEGER, unknown INTEGER, "
        "old_status TEXT) WITHOUT ROWID"
    ),
}
_TEMP_TABLES = ("inv_r_sent", "inv_r_resp", "inv_r_answered", "inv_r_inv")
# Pages of the working tables kept in memory (KiB): beyond it they spill to a temporary file.
TEMP_CACHE_KIB = 65_536
# The same for each connection reading a range ahead (its tables are written in order).
WORKING_CACHE_KIB = 16_384


@dataclass
class Extracted:
    """A range's sends and responses, read out of the log before the range's write
    transaction, into scratch files that transaction attaches (`files`, in order).

    Reading the events' JSON is the largest step of a range, and it needs no lock:
    the log up to `last` never changes. Two connections do it at once, the sends in
    one file and the responses in another, each on its own core (SQLite lets go of the
    interpreter while a statement runs).
    """

    after: int
    last: int
    until: datetime | None
    policy_changes: bool
    folder: str
    files: tuple[str, str]
    others: list[tuple[int, ev.Event]] = field(default_factory=list)
    count: int = 0  # sends and responses extracted
    latest: int | None = None  # their latest time (see _latest)
    lock: IO[bytes] | None = None  # held while the folder is in use (see sweep)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def extractable(path: str) -> bool:
    """Can a second connection open this ledger by its path (a plain file)?"""
    return not path.startswith("file:") and path != ":memory:" and os.path.isfile(path)


def extract_ahead(
    source: str,
    after: int,
    last: int,
    *,
    until: datetime | None = None,
    policy_changes: bool = True,
) -> Extracted | None:
    """Read the sends and responses after `after` up to `last` of the SQLite ledger file
    at `source` into two scratch files, at once; the caller closes what it returns.
    None where the files cannot be written (a full or unwritable temporary folder): the
    range's transaction then reads the events itself, and tells what stops it."""
    sweep()
    try:
        folder = tempfile.mkdtemp(prefix=_FOLDER_PREFIX)
    except OSError:
        return None
    extracted = Extracted(
        after,
        last,
        until,
        policy_changes,
        folder,
        (os.path.join(folder, "sent.db"), os.path.join(folder, "responses.db")),
    )
    try:
        extracted.lock = locked(folder)

        latest: list[int] = []

        def sends_and_others(work: Tx) -> int:
            extracted.others = _others(
                work, after, last, "log.stored_events", until, policy_changes
            )
            sent = _extract_sent(work, after, last, "log.stored_events", until)
            if (found := _latest(work, ("inv_r_sent",))) is not None:
                latest.append(found)
            return sent

        def responses(work: Tx) -> int:
            answered = _extract_responses(work, after, last, "log.stored_events", until)
            if (found := _latest(work, ("inv_r_resp",))) is not None:
                latest.append(found)
            return answered

        sent, answered = _together(
            lambda: _in_working_file(
                extracted.files[1], source, ("inv_r_resp", "inv_r_answered"), responses
            ),
            lambda: _in_working_file(extracted.files[0], source, ("inv_r_sent",), sends_and_others),
        )
        extracted.count = sent + answered
        extracted.latest = max(latest, default=None)
        _join_new(extracted.files[1], extracted.files[0])
    except (sqlite3.Error, OSError):
        extracted.close()
        return None
    except BaseException:
        extracted.close()
        raise
    return extracted


def applying(extracted: Extracted | None, apply: Callable[[Extracted | None], _T]) -> _T:
    """`apply(extracted)`: the range's transaction with the files read ahead, or without
    them (`apply(None)`: the range reads its events itself) if they are gone by then;
    `extracted` is closed after, whatever happens."""
    try:
        try:
            return apply(extracted)
        except WorkingFilesGone:  # removed meanwhile
            return apply(None)
    finally:
        if extracted is not None:
            extracted.close()


class ReadAhead:
    """Reads the ranges of a long catch-up one ahead of the transactions that apply them.

    `take(after)` gives the range that starts at `after` (read now if it was not read
    ahead) and starts reading the one that follows in a thread: while a range's
    transaction runs, the next range's events are read on the other core. Ranges end
    at the log's `end` as it was when this began; what comes later goes by the usual
    path. `close` waits for that thread and removes what it read.
    """

    def __init__(
        self,
        source: str,
        end: int,
        *,
        until: datetime | None = None,
        policy_changes: bool = True,
    ) -> None:
        self.source, self.end = source, end
        self.options: dict[str, Any] = {"until": until, "policy_changes": policy_changes}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="invledger-ahead")
        self._next: tuple[int, Future[Extracted | None]] | None = None

    def _range(self, after: int) -> tuple[int, int] | None:
        if self.end - after < WORTH_IT:
            return None
        return after, min(self.end, after + RANGE)

    def take(self, after: int) -> Extracted | None:
        extracted = None
        if self._next is not None:
            start, reading = self._next
            self._next = None
            extracted = reading.result()
            if extracted is not None and start != after:
                extracted.close()  # the views moved otherwise meanwhile
                extracted = None
        if extracted is None and (wanted := self._range(after)) is not None:
            extracted = extract_ahead(self.source, *wanted, **self.options)
        following = self._range(after if extracted is None else extracted.last)
        if extracted is not None and following is not None:
            try:
                reading = self._pool.submit(extract_ahead, self.source, *following, **self.options)
            except BaseException:
                extracted.close()
                raise
            self._next = (following[0], reading)
        return extracted

    def close(self) -> None:
        try:
            if self._next is not None:
                reading, self._next = self._next[1], None
                left = reading.result()
                if left is not None:
                    left.close()
        finally:
            self._pool.shutdown()


_FOLDER_PREFIX = "invledger-range-"
# The scratch ledgers of `replay --check`, `--until` and `--policy` (projections.rebuild).
SCRATCH_PREFIX = "invledger-scratch-"
# The trial ledgers of earlier versions' creating commands, which were not locked: a
# folder of that name is a killed process's (the trial now uses SCRATCH_PREFIX).
_OLD_TRIAL_PREFIX = "invledger-trial-"


# A folder is swept only this long after it was made: time for its maker to lock it.
_SWEEP_AFTER_SECONDS = 60.0


def locked(folder: str) -> IO[bytes] | None:
    """Hold an exclusive lock on the folder's lock file while the folder is used (the
    lock goes with the process, however it ends); None where locks are not offered."""
    if fcntl is None:
        return None
    lock = open(os.path.join(folder, "lock"), "wb")  # noqa: SIM115 (held until close)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def sweep() -> None:
    """Remove the scratch folders of processes that ended without removing theirs
    (killed in the middle of a range or a scratch replay): a folder whose lock nobody
    holds, made a while ago. Without file locks (Windows), nothing is swept."""
    if fcntl is None:
        return
    root = tempfile.gettempdir()
    try:
        names = [
            name
            for name in os.listdir(root)
            if name.startswith((_FOLDER_PREFIX, SCRATCH_PREFIX, _OLD_TRIAL_PREFIX))
        ]
    except OSError:
        return
    for name in names:
        folder = os.path.join(root, name)
        try:
            if time.time() - os.stat(folder).st_mtime < _SWEEP_AFTER_SECONDS:
                continue
            with open(os.path.join(folder, "lock"), "ab") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: in use
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _working_connection(path: str) -> sqlite3.Connection:
    """A connection of its own to a scratch file: no journal, no flush to disk (the file
    is thrown away after its range)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA cache_size = -{WORKING_CACHE_KIB}")
    return conn


def _join_new(responses: str, sends: str) -> None:
    """What the range did to each invitation it sent, into the responses' file as
    `inv_r_new`: the range's sends joined to their responses, ahead of the range's
    transaction too."""
    conn = _working_connection(responses)
    try:
        conn.execute("ATTACH DATABASE ? AS sends", (sends,))
        conn.execute(f"CREATE TABLE inv_r_new AS {_NEW_OUTCOMES}")
        conn.execute("DETACH DATABASE sends")
    finally:
        conn.close()


def _in_working_file(
    path: str, source: str, tables: tuple[str, ...], fill: Callable[[Tx], int]
) -> int:
    """Create `tables` in a new scratch file at `path` and `fill` them from the ledger at
    `source` (attached read-only as `log`)."""
    conn = _working_connection(path)
    try:
        conn.execute("ATTACH DATABASE ? AS log", (read_only_uri(source),))
        work = SQLiteTx(conn.cursor())
        work.run("BEGIN")
        for table in tables:
            work.run(f"CREATE TABLE {table} {_WORKING[table]}")
        filled = fill(work)
        work.run("COMMIT")
        return filled
    finally:
        conn.close()


def apply_range(
    tx: Tx,
    views: Views,
    last: int,
    progress: Callable[[int], None] | None = None,
    *,
    log: str = "stored_events",
    until: datetime | None = None,
    policy_changes: bool = True,
    extracted: Extracted | None = None,
) -> int:
    """Apply the events after `views.position` up to `last` to the views, in this transaction.

    Flushes `views` (rows, tracking) at the end; returns how many events it applied.
    `progress` is told the range's events in parts as its steps finish (they sum to all
    of them, applied or left out).
    `log` names the table of the events (a scratch rebuild reads another ledger's); with
    `until`, only the events dated at or before it are applied (the rest still count as
    passed); without `policy_changes`, the log's are left out (a what-if has its own).
    `extracted`, if it holds this very range (with the same `until` and policy changes),
    has its sends and responses read already, in the files the transaction attached.
    """
    after = views.position
    if last <= after:
        return 0
    count = 0  # the range's events, known once they are extracted
    told = 0

    def done(share: float) -> None:  # `share` of the range's work is done by now
        nonlocal told
        if progress is not None and int(count * share) > told:
            progress(int(count * share) - told)
            told = int(count * share)

    views.flush()
    views.forget()
    tx.run(f"PRAGMA temp.cache_size = -{TEMP_CACHE_KIB}")
    # The working tables hold nothing private (the log has it all), and overwriting their
    # freed pages with zeros (this SQLite's build default) made dropping them cost seconds.
    tx.run("PRAGMA temp.secure_delete = OFF")
    ready = extracted is not None and (
        (extracted.after, extracted.last, extracted.until, extracted.policy_changes)
        == (after, last, until, policy_changes)
    )
    if not ready:
        for table, columns in _WORKING.items():
            tx.run(f"CREATE TEMP TABLE {table} {columns}")
    try:
        if extracted is not None and ready:
            # Unqualified, the working tables' names find the attached files' tables.
            others, applied = extracted.others, extracted.count
        else:
            others = _others(tx, after, last, log, until, policy_changes)
            applied = _extract_sent(tx, after, last, log, until)
            applied += _extract_responses(tx, after, last, log, until)
        _refuse_foreign_rows(tx, log)
        _old_status(tx)
        applied += len(others)
        count = applied
        if until is not None or not policy_changes:
            # Every event of the range counts as passed, applied or left out.
            found = tx.one(
                f"SELECT count(*) FROM {log} WHERE rowid > ? AND rowid <= ?", (after, last)
            )
            count = int(found[0]) if found else 0
        # The shares are each step's usual part of the time.
        done(0.3)
        _outcomes(tx, new_ready=ready)
        _refuse_orphans(tx, log, after, last)
        done(0.45)
        _invitations(tx)
        reports = _reports(tx, views, others)
        done(0.5)

        def counts_and_pairs() -> None:
            _reputation(tx)
            done(0.65)
            _pairs(tx, log)

        def judged() -> dict[str, list[tuple[Any, ...]]]:
            _judge(views, reports, others)
            return views.changed_rows()

        rows = _beside(judged, counts_and_pairs, views, others)
        done(0.85)
        latest = extracted.latest if extracted is not None and ready else _latest(tx)
    except (sqlite3.IntegrityError, sqlite3.OperationalError) as error:
        # What a row another tool wrote gives (malformed JSON, a NOT NULL constraint);
        # not a lock, a full disk or an interrupt, which name no row.
        about_data = isinstance(error, sqlite3.IntegrityError) or "JSON" in str(error)
        if about_data and (unreadable := _first_unreadable(tx, log, after, last)) is not None:
            raise unreadable from None
        raise
    finally:
        for table in _TEMP_TABLES:
            tx.run(f"DROP TABLE IF EXISTS temp.{table}")
    if latest is not None and (views._latest_us is None or latest > views._latest_us):
        views._latest_us = latest
    views.position = last
    views.flush(rows)
    views.forget()
    done(1.0)
    return applied


def _dated(until: datetime | None) -> str:
    return "" if until is None else f"AND {_us(_field('at'))} <= {to_us(until)}"


def _others(
    tx: Tx, after: int, last: int, log: str, until: datetime | None, policy_changes: bool
) -> list[tuple[int, ev.Event]]:
    """The range's appeals (and policy changes), decoded, with their positions."""
    topics = _DECODED if policy_changes else _DECODED[:-1]
    stored = tx.all(
        f"SELECT rowid, state FROM {log} WHERE rowid > ? AND rowid <= ? "
        f"AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid",
        (after, last, *topics),
    )
    others = [(position, ev.decode(ev.stored_bytes(state))) for position, state in stored]
    return [(p, event) for p, event in others if until is None or event.at <= until]


def _extract_sent(tx: Tx, after: int, last: int, log: str, until: datetime | None) -> int:
    """The range's sends (dated until `until`, if given) into `inv_r_sent`; how many."""
    tx.run(
        f"INSERT INTO inv_r_sent SELECT rowid, {_field('invitation')}, {_field('sender')}, "
        f"{_field('recipient')}, {_field('at')} FROM {log} "
        f"WHERE rowid > ? AND rowid <= ? AND topic = ? {_dated(until)}",
        (after, last, _SENT),
    )
    return _changes(tx)


def _extract_responses(tx: Tx, after: int, last: int, log: str, until: datetime | None) -> int:
    """The range's responses into `inv_r_resp`, and per invitation they answer its first,
    last and IDK response into `inv_r_answered`; how many responses."""
    status = "CASE topic " + " ".join(f"WHEN '{t}' THEN '{s}'" for t, s in _RESPONSES.items())
    tx.run(
        f"INSERT INTO inv_r_resp SELECT rowid, {_field('invitation')}, originator_id, {_field('at')}, "
        f"{status} END, substr(topic, {len(TOPIC_PREFIX) + 1}) FROM {log} "
        f"WHERE rowid > ? AND rowid <= ? AND topic IN ({','.join('?' * len(_RESPONSES))}) "
        f"{_dated(until)}",
        (after, last, *_RESPONSES),
    )
    extracted = _changes(tx)
    tx.run(
        "INSERT INTO inv_r_answered SELECT inv, min(pos), max(pos), "
        "max(CASE WHEN status = 'unknown' THEN pos END), NULL FROM inv_r_resp GROUP BY inv"
    )
    return extracted


def _old_status(tx: Tx) -> None:
    """The status before the range of each answered invitation sent before it."""
    tx.run(
        "UPDATE inv_r_answered SET old_status = i.status FROM inv_invitations i "
        "WHERE i.invitation = inv_r_answered.inv"
    )


def _changes(tx: Tx) -> int:
    found = tx.one("SELECT changes()")
    return int(found[0]) if found else 0


def _latest(tx: Tx, tables: tuple[str, ...] = ("inv_r_sent", "inv_r_resp")) -> int | None:
    """The latest time of the range's sends and responses (in `tables`), in microseconds:
    its second first, from the text (the same width in every row), then the exact time
    among the rows of that second, which alone are converted."""
    seconds = " UNION ALL ".join(f"SELECT max(substr(at, 1, 19)) AS m FROM {t}" for t in tables)
    found = tx.one(f"SELECT max(m) FROM ({seconds})")
    if not found or found[0] is None:
        return None
    second = found[0]
    exact = " UNION ALL ".join(
        f"SELECT max({_us('at')}) AS m FROM {t} WHERE at >= ?" for t in tables
    )
    row = tx.one(f"SELECT max(m) FROM ({exact})", (second,) * len(tables))
    return int(row[0]) if row and row[0] is not None else None


# What the range did to each invitation it sent (from the range's rows alone, so a range
# read ahead has them ready in its files as `inv_r_new`)...
_NEW_OUTCOMES = (
    f"SELECT s.inv AS inv, s.sender AS sender, s.recipient AS recipient, {_us('s.at')} AS sent_us, "
    "NULL AS old_status, f.status AS first_status, f.id AS first_id, f.type AS first_type, "
    f"f.pos AS first_pos, {_us('f.at')} AS first_us, l.status AS last_status, l.id AS last_id, "
    f"u.id AS unknown_id, {_us('u.at')} AS unknown_us "
    "FROM inv_r_sent s LEFT JOIN inv_r_answered a ON a.inv = s.inv "
    "LEFT JOIN inv_r_resp f ON f.pos = a.first LEFT JOIN inv_r_resp l ON l.pos = a.last "
    "LEFT JOIN inv_r_resp u ON u.pos = a.unknown"
)
# ...and to each invitation sent before it and answered in it (their status before it
# is in `inv_r_answered.old_status`, from the views).
_OLD_OUTCOMES = (
    f"SELECT a.inv, i.sender, i.recipient, NULL, a.old_status, f.status, f.id, f.type, f.pos, "
    f"{_us('f.at')}, l.status, l.id, u.id, {_us('u.at')} "
    "FROM inv_r_answered a JOIN inv_invitations i ON i.invitation = a.inv "
    "JOIN inv_r_resp f ON f.pos = a.first JOIN inv_r_resp l ON l.pos = a.last "
    "LEFT JOIN inv_r_resp u ON u.pos = a.unknown WHERE a.old_status IS NOT NULL"
)


def _outcomes(tx: Tx, *, new_ready: bool = False) -> None:
    """One row per invitation the range sent or answered: what the range did to it.

    `old_status` is NULL for an invitation sent in the range, else its status before it;
    `last_status` is NULL for one sent and not answered in it. The statements that
    follow read this table alone, so the range's rows are joined once. With `new_ready`,
    the rows of the invitations the range sent are in `inv_r_new` already.
    """
    new = "SELECT * FROM inv_r_new" if new_ready else _NEW_OUTCOMES
    tx.run(f"CREATE TEMP TABLE inv_r_inv AS {new} UNION ALL {_OLD_OUTCOMES}")


def _refuse_orphans(tx: Tx, log: str, after: int, last: int) -> None:
    """UnreadableLog if the range answers an invitation that nothing sent (another tool
    wrote the response into the log: the rules refuse it), as event by event.

    Counted first, from the range's tables as they are: every invitation it answers and
    that the views do not hold must be one it sent. Only a mismatch looks for the row.
    """
    answered = tx.one("SELECT count(*) FROM inv_r_answered WHERE old_status IS NULL")
    sent = tx.one(
        "SELECT count(*) FROM inv_r_inv WHERE old_status IS NULL AND last_status IS NOT NULL"
    )
    if answered == sent:
        return
    found = tx.one(
        "SELECT r.id, a.inv, r.pos FROM inv_r_answered a JOIN inv_r_resp r ON r.pos = a.first "
        "WHERE a.old_status IS NULL AND a.inv NOT IN (SELECT inv FROM inv_r_sent) LIMIT 1"
    )
    if found is None:
        # Not a response to nothing, yet the counts differ: an invitation id sent again,
        # in the range or after the views' own send of it.
        again = tx.one(
            "SELECT s.pos, s.inv FROM inv_r_sent s WHERE EXISTS (SELECT 1 FROM inv_r_sent t "
            "WHERE t.inv = s.inv AND t.pos < s.pos) OR EXISTS (SELECT 1 FROM inv_invitations i "
            "WHERE i.invitation = s.inv) ORDER BY s.pos LIMIT 1"
        )
        if again is not None:
            stored = tx.one(f"SELECT originator_id FROM {log} WHERE rowid = ?", (again[0],))
            raise UnreadableLog(
                f"the log holds a second send of the invitation {again[1]!r} (event "
                f"{stored[0] if stored else '?'!r}, position {again[0]}): another tool wrote "
                "it into stored_events; remove that row to use the ledger again"
            )
        raise UnreadableLog(
            f"the log holds, at positions {after + 1} to {last}, an event the invitation "
            "rules refuse (an invitation id sent twice, say): another tool wrote it into "
            f"stored_events; `invledger events --since {after}` lists the events there; "
            "remove that row to use the ledger again"
        )
    _stored_state(tx, log, found[2])  # not one of invledger's events at all, if it says so
    raise response_to_nothing(found[0], found[1])


def _stored_state(tx: Tx, log: str, position: int) -> bytes:
    """The stored event at `position`, decoded as the event-by-event path decodes it:
    UnreadableLog, with its reason, if it is not one of invledger's."""
    stored = tx.one(f"SELECT state FROM {log} WHERE rowid = ?", (position,))
    state = ev.stored_bytes(stored[0]) if stored else b""
    ev.decode(state)
    return state


# The form of every stored event's `at` (format_time's: the fraction, if any, between);
# its digits are read by `_us`, and a time it cannot read stops the range's inserts.
_STORED_TIME = "????-??-??T??:??:??*Z"


def _unlike_ours(*handles: str) -> str:
    """SQL true for an extracted row that no stored event of invledger's gives: a field
    missing, or a time in another form. (A number or a list where a handle belongs
    reads as text in the working tables' columns: the range cannot tell it.)"""
    missing = " OR ".join(f"{name} IS NULL" for name in (*handles, "at"))
    return f"{missing} OR NOT at GLOB '{_STORED_TIME}'"


def _refuse_foreign_rows(tx: Tx, log: str) -> None:
    """UnreadableLog if a send or response of the range lacks a field, or has a time in
    another form, than invledger writes (another tool wrote it into the log): the
    range's SQL would misread it where the event-by-event path refuses it."""
    found = tx.one(
        f"SELECT pos FROM inv_r_sent WHERE {_unlike_ours('inv', 'sender', 'recipient')} "
        f"UNION ALL SELECT pos FROM inv_r_resp WHERE {_unlike_ours('inv')} LIMIT 1"
    )
    if found is None:
        return
    state = _stored_state(tx, log, found[0])  # its own reason, where that path has one
    raise ev.not_ours(state, "not in the form invledger stores")


def _first_unreadable(tx: Tx, log: str, after: int, last: int) -> UnreadableLog | None:
    """The error the event-by-event path gives for the range's first stored event that is
    not one of invledger's, if there is one. The range's SQL meets such a row (another
    tool wrote it: not JSON, a field missing) as a bare SQLite error that names no row."""
    stored = f"SELECT state FROM {log} WHERE rowid > {after:d} AND rowid <= {last:d} ORDER BY rowid"
    for rows in tx.chunks(stored, 10_000):
        for (state,) in rows:
            try:
                ev.decode(ev.stored_bytes(state))
            except UnreadableLog as error:
                return error
    return None


def _invitations(tx: Tx) -> None:
    # Sent in the range: the row as it stands at the range's end, in one insert.
    tx.run(
        "INSERT INTO inv_invitations SELECT inv, sender, recipient, "
        "coalesce(last_status, 'pending'), sent_us, first_us, first_status, first_id, "
        "unknown_us, unknown_id FROM inv_r_inv WHERE old_status IS NULL"
    )
    # Sent before it, answered in it.
    tx.run(
        "UPDATE inv_invitations SET status = o.last_status, "
        "responded_us = coalesce(inv_invitations.responded_us, o.first_us), "
        "first_response = coalesce(inv_invitations.first_response, o.first_status), "
        "first_event = coalesce(inv_invitations.first_event, o.first_id), "
        "unknown_us = coalesce(o.unknown_us, inv_invitations.unknown_us), "
        "unknown_event = coalesce(o.unknown_id, inv_invitations.unknown_event) "
        "FROM inv_r_inv o WHERE o.old_status IS NOT NULL AND inv_invitations.invitation = o.inv"
    )


_COUNTED = ("accepted", "ignored", "unknown", "withdrawn")


def _reputation(tx: Tx) -> None:
    """Each sender's counts move by their invitations' status changes in the range:
    a new invitation is sent once, from no status to its status now; an older one
    answered now moves from its old status to its last one."""
    # Summed per sender first: one upsert per sender rather than one per invitation.
    sums = ", ".join(
        f"sum((coalesce(last_status, '') = '{s}') - (coalesce(old_status, '') = '{s}'))"
        for s in _COUNTED
    )
    tx.run(
        f"INSERT INTO inv_reputation SELECT sender, sum(old_status IS NULL), {sums} "
        "FROM inv_r_inv GROUP BY sender "
        "ON CONFLICT (member) DO UPDATE SET sent = sent + excluded.sent, "
        + ", ".join(f"{s} = {s} + excluded.{s}" for s in _COUNTED)
    )


_BLOCKED = "first_status IN ('ignored', 'unknown')"


def _pairs(tx: Tx, log: str) -> None:
    """Pending invitation, connection and block of each directed pair the range touched."""
    # One row for what each invitation sent or answered in the range did to its pair:
    # pending if unanswered, connected by its acceptance, blocked by its first answer
    # if that was an ignore or an IDK.
    # A pair met twice (here or before) keeps the latest connection and the first block;
    # its pending invitation is the unanswered one, if any.
    tx.run(
        "INSERT INTO inv_pairs SELECT sender, recipient, "
        "CASE WHEN last_status IS NULL THEN inv END, "
        "CASE WHEN last_status = 'accepted' THEN last_id END, "
        + ", ".join(
            f"CASE WHEN {_BLOCKED} THEN {column} END"
            for column in ("first_id", "first_type", "inv", "first_pos", "first_us")
        )
        + " FROM inv_r_inv "
        # In key order: B-tree pages are filled in turn rather than touched at random.
        "ORDER BY 1, 2 "
        "ON CONFLICT (sender, recipient) DO UPDATE SET "
        "pending = CASE WHEN excluded.pending IS NOT NULL THEN excluded.pending "
        "WHEN inv_pairs.pending IN (SELECT inv FROM inv_r_answered) THEN NULL "
        "ELSE inv_pairs.pending END, "
        "connected_event = CASE WHEN excluded.connected_event IS NULL "
        "OR inv_pairs.connected_event IS NULL "
        f"OR (SELECT rowid FROM {log} WHERE originator_id = excluded.connected_event) > "
        f"(SELECT rowid FROM {log} WHERE originator_id = inv_pairs.connected_event) "
        "THEN coalesce(excluded.connected_event, inv_pairs.connected_event) "
        "ELSE inv_pairs.connected_event END, "
        + ", ".join(
            f"{column} = CASE WHEN inv_pairs.block_event IS NULL "
            "OR excluded.block_position < inv_pairs.block_position "
            f"THEN excluded.{column} ELSE inv_pairs.{column} END"
            for column in (
                "block_type",
                "block_invitation",
                "block_position",
                "block_us",
                "block_event",
            )
        )
    )


def _reports(tx: Tx, views: Views, others: list[tuple[int, ev.Event]]) -> list[tuple[Any, ...]]:
    """The range's IDK reports, with their senders' standing (and whatever `others`,
    its appeals and policy changes, will read) loaded into `views`."""
    reports = tx.all(
        f"SELECT r.pos, r.id, {_us('r.at')}, r.inv, i.sender, i.recipient FROM inv_r_resp r "
        "JOIN inv_invitations i ON i.invitation = r.inv WHERE r.status = 'unknown' ORDER BY r.pos"
    )
    views._load_standing(missing({row[4] for row in reports}, views.standing))
    views.prefetch([event for _, event in others])
    return reports


def _judge(
    views: Views, reports: list[tuple[Any, ...]], others: list[tuple[int, ev.Event]]
) -> None:
    """The standing rules over the range's IDK `reports` and `others`, in log order."""
    decoded = iter(others)
    pending = next(decoded, None)
    for position, event_id, at_us, invitation, sender, recipient in reports:
        while pending is not None and pending[0] < position:
            views.apply(pending[1], pending[0])
            pending = next(decoded, None)
        report = rules.Report(event_id, position, from_us(at_us), invitation, recipient)
        views.report(sender, report)
    while pending is not None:
        views.apply(pending[1], pending[0])
        pending = next(decoded, None)


def _join(thread: threading.Thread) -> None:
    """Wait for the thread to end, even through Ctrl-C (raised again once it has): what
    it holds (views, files) must not be used or removed while it still runs."""
    interrupted = False
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        raise KeyboardInterrupt


class _NoDatabase:
    """Stands for the transaction while the rules run beside a statement: they must
    find everything in memory, and a test meets this error if they do not."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the standing rules read the database ({name}) beside a statement")


def _beside(
    rules_work: Callable[[], _T],
    statements: Callable[[], None],
    views: Views,
    others: list[tuple[int, ev.Event]],
) -> _T:
    """Run the standing rules (Python) while `statements` run in SQLite: the rules touch
    only `views`, which the statements never read. A policy change reads the database
    as it applies (to find the members it moves): a range holding one runs the two in
    turn."""
    if any(isinstance(event, ev.PolicyChanged) for _, event in others):
        statements()
        return rules_work()
    tx, views.tx = views.tx, cast(Tx, _NoDatabase())
    try:
        return _together(rules_work, statements)[0]
    finally:
        views.tx = tx


def _together(beside: Callable[[], _T], here: Callable[[], _U]) -> tuple[_T, _U]:
    """Run `beside` in a thread while `here` runs in this one; their results.

    SQLite lets go of the interpreter while a statement runs, so a statement and
    Python work (or two statements on two connections) share the machine's cores
    instead of taking turns. An error in either is raised here, once both are done.
    """
    result: list[_T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(beside())
        except BaseException as error:  # noqa: BLE001 (raised again in the caller's thread)
            failure.append(error)

    thread = threading.Thread(target=work, name="invledger-beside")
    thread.start()
    try:
        mine = here()
    finally:
        _join(thread)
    if failure:
        raise failure[0]
    return result[0], mine
