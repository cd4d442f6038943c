"""Storage wiring: the `eventsourcing` library's recorders, and the transactions invledger needs.

Every append runs in one serialized write transaction: the store's write lock
is taken first (SQLite `BEGIN IMMEDIATE`; PostgreSQL the library's
`LOCK TABLE stored_events IN EXCLUSIVE MODE`), then the state the rules need is
read, the events are inserted with the library's statement, and every view row
and the tracking row are written, all before the commit. So a rule checked
inside the transaction cannot be raced by another process, and positions grow
in commit order.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import quote, unquote

from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from ledger import sqlite_memory
from ledger.errors import NoLedger, StorageError, StorageUnavailable
from ledger.schema import (
    SCHEMA_VERSION,
    TOPIC_PREFIX,
    VIEWS_TRACKING_KEY,
    create_statements,
    missing_view_reason,
    missing_view_table,
    upgrade_statements,
)

DEFAULT_DB = "invledger.db"
# A stored event as the library's table holds it: originator id (the event id),
# originator version (always 1: each event is its own stream), topic, state.
Record = tuple[str, int, str, bytes]
SQLITE_HEADER = b"SQLite format 3\x00"
_IN_CHUNK = 500  # keys per IN (...): SQLite allows at most 32,766 parameters

# Before any connection of this process: connections in two threads then run at once.
sqlite_memory.statistics_off()


class Tx(Protocol):
    """One open transaction. SQL uses `?` placeholders and `rowid` for the position."""

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...
    def run(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def chunks(self, sql: str, size: int) -> Iterator[list[tuple[Any, ...]]]: ...
    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def next_position(self) -> int: ...
    # Wait for, and keep out, every other writer of view rows (a no-op where the write
    # transaction holds the whole store, as SQLite's does).
    def lock_views(self) -> None: ...
    def select_in(self, sql: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]: ...
    def rows_for_keys(
        self, table: str, columns: tuple[str, str], keys: Iterable[tuple[str, str]]
    ) -> list[tuple[Any, ...]]: ...
    # The same two, sent now and read when the result is called: PostgreSQL answers them
    # while the caller works on (SQLite answers at once).
    def select_in_later(
        self, sql: str, keys: Sequence[Any]
    ) -> Callable[[], list[tuple[Any, ...]]]: ...
    def rows_for_keys_later(
        self, table: str, columns: tuple[str, str], keys: Iterable[tuple[str, str]]
    ) -> Callable[[], list[tuple[Any, ...]]]: ...
    def insert_events(self, stored: Sequence[Record], first: int) -> None: ...
    def stream_event(self, record: Record) -> None: ...
    def end_stream(self, first: int) -> None: ...
    def notifications(self, after: int, limit: int) -> list[tuple[int, str, bytes]]: ...


class Store(Protocol):
    url: str

    def write(self, *, lock_views: bool = True) -> Any: ...  # context manager yielding Tx
    def read(self) -> Any: ...  # context manager yielding Tx
    def close(self) -> None: ...


def views_behind(store: Store) -> bool:
    """Do the views lag the log (a crash, an interrupted replay, another tool's append)?"""
    with store.read() as tx:
        return behind_in(tx)


def behind_in(tx: Tx) -> bool:
    """Do the views lag the log in this transaction's snapshot?"""
    row = tx.one("SELECT position FROM inv_tracking WHERE view = ?", (VIEWS_TRACKING_KEY,))
    # The last event stored, not the next position: on PostgreSQL an insert rolled
    # back uses up numbers, and views tracking the last event are not behind.
    last = tx.one("SELECT COALESCE(MAX(rowid), 0) FROM stored_events")
    behind: bool = (int(row[0]) if row else 0) < (int(last[0]) if last else 0)
    return behind


def open_store(url: str | None = None, existing: bool = False) -> Store:
    """The store named by a path or a `postgresql://` URL (default: $INVLEDGER_DB, ./invledger.db).

    `existing`: the ledger must be there already (a SQLite file; invledger's tables in a
    PostgreSQL database). Every command but send, import and policy set passes it, so
    that a mistyped --db is an error instead of an empty ledger (where everyone may
    invite).
    """
    if url is None:
        url = os.environ.get("INVLEDGER_DB") or DEFAULT_DB
    if not url.strip():
        raise StorageError("--db is empty: give a SQLite file path or a postgresql:// URL")
    if url.startswith(("postgresql://", "postgres://")):
        from ledger.postgres import PostgresStore

        return PostgresStore(url, existing)
    if "://" in url and not url.startswith("file:"):  # file: URIs are SQLite's own
        raise StorageError(
            f"{shown_url(url)}: not a SQLite file path, and invledger's only URLs are "
            "postgresql:// ones"
        )
    # In memory (`:memory:`, `mode=memory`) or SQLite's nameless temporary database: gone
    # when the command ends, with whatever it recorded.
    in_memory = re.search(r"[?&]mode=memory(?:&|$)", url.split("#", 1)[0])
    if _file_of(url) in (":memory:", "") or (url.startswith("file:") and in_memory):
        raise StorageError(
            f"{url}: an in-memory database keeps nothing after the command: give a file path"
        )
    if existing and not os.path.exists(_file_of(url)):
        raise NoLedger(f"at {url}")
    return SQLiteStore(url, existing=existing)


def _no_ledger_in(path: str) -> NoLedger:
    return NoLedger(f"at {path}", "the file holds none, and ")


def _file_of(path: str) -> str:
    """The file a SQLite path or `file:` URI names (`file:x.db?mode=ro`, `file:///abs/x.db`)."""
    if not path.startswith("file:"):
        return path
    rest = path.removeprefix("file:").split("?", 1)[0].split("#", 1)[0]
    if rest.startswith("//"):  # file://HOST/path: SQLite takes only an empty host or localhost
        rest = rest[2:]
        rest = rest[rest.find("/") :] if "/" in rest else ""
    return unquote(rest)


def shown_url(url: str) -> str:
    """The URL with any password in it replaced by ***, for messages.

    As libpq reads a URL, the user name and password end at the first `@` unless a `/`
    comes first; a password may also come as a `password=` option after `?`. A `/`
    before an `@` further on is most likely a password's own (written raw, not as %2F):
    all up to that `@` is masked too.
    """
    masked = re.sub(r"([?&]password=)[^&]*", r"\1***", url)
    scheme, sep, rest = masked.partition("://")
    user_info, host_on = _user_part(rest)
    if not (sep and user_info is not None and ":" in user_info):
        return masked
    user = user_info.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host_on}"


def _user_part(rest: str) -> tuple[str | None, str]:
    """A URL's part after `://` split at the `@` that ends its user part (None: none)."""
    authority = rest.split("/", 1)[0]
    user_info, at, host = authority.rpartition("@")
    if at:
        return user_info, host + rest[len(authority) :]
    path = re.split(r"[?#]", rest, maxsplit=1)[0]
    user_info, at, host = path.rpartition("@")
    head = user_info.split("/", 1)[0]
    # `user:pa/ss@host/db`, not `host:5432/db@name` (a port) nor `[::1]:5432/...`.
    if at and ":" in head and not head.startswith("[") and not head.split(":", 1)[1].isdigit():
        return user_info, host + rest[len(path) :]
    return None, rest


def raw_slash_in_user_part(url: str) -> bool:
    """Whether an `@` after a `/` most likely ends a user part (`user:pa/ss@host/db`):
    libpq would read `user:pa` as host and port, and `ss@host/db` as the database."""
    rest = url.partition("://")[2]
    return "@" not in rest.split("/", 1)[0] and _user_part(rest)[0] is not None


def url_passwords(url: str) -> list[str]:
    """The passwords a URL holds, as written in it and percent-decoded: a message that
    quotes a part of the URL (libpq's does, of a token it cannot decode) must not show
    them."""
    found = re.findall(r"[?&]password=([^&#]*)", url)
    user_info, _ = _user_part(url.partition("://")[2])
    if user_info is not None and ":" in user_info:
        found.append(user_info.split(":", 1)[1])
    return [form for raw in found if raw for form in {raw, unquote(raw)}]


def masked(text: str, url: str) -> str:
    """`text` with `url` shown without its password, and any password it quotes masked
    (libpq quotes a token it cannot read: `invalid percent-encoded token: "..."`)."""
    text = text.replace(url, shown_url(url))
    for password in sorted(url_passwords(url), key=len, reverse=True):
        for quote_mark in ('"', "'"):
            text = text.replace(
                f"{quote_mark}{password}{quote_mark}", f"{quote_mark}***{quote_mark}"
            )
    return text


def env_seconds(name: str, default: int) -> int:
    """Whole seconds from the environment variable `name` (a fraction rounds up)."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= 86_400:
        raise StorageError(
            f"${name} must be a number of seconds above 0 and at most 86400, not {text!r}"
        )
    return math.ceil(seconds)


class SQLiteTx:
    dialect = "sqlite"

    def __init__(
        self, cursor: sqlite3.Cursor, recorder: SQLiteApplicationRecorder | None = None
    ) -> None:
        self._c = cursor
        self._recorder = recorder  # None in a working file of the views, which stores no event
        self._streamed: list[Record] = []

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._c.execute(sql, params).fetchall()

    def lock_views(self) -> None:
        """Nothing to take: a write transaction here holds the whole file."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._c.execute(sql, params).fetchone()
        return row

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._c.execute(sql, params)

    def chunks(self, sql: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of `sql`, `size` at a time: a large result never sits in memory whole."""
        cursor = self._c.connection.cursor()
        cursor.execute(sql)
        while rows := cursor.fetchmany(size):
            yield rows

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._c.executemany(sql, rows)

    def select_in(self, sql: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
        """`sql` with `IN ({})` filled with `keys`, in chunks under SQLite's parameter limit."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            rows += self._c.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def rows_for_keys(
        self, table: str, columns: tuple[str, str], keys: Iterable[tuple[str, str]]
    ) -> list[tuple[Any, ...]]:
        """The rows of `table` whose two key columns match one of `keys`."""
        c = self._c
        wanted = list(keys)
        first, second = columns
        if len(wanted) <= 4:  # a few point reads beat a temporary table
            sql = f"SELECT * FROM {table} WHERE {first} = ? AND {second} = ?"
            return [row for key in wanted for row in c.execute(sql, key).fetchall()]
        c.execute("CREATE TEMP TABLE IF NOT EXISTS inv_wanted (a TEXT, b TEXT)")
        c.execute("DELETE FROM inv_wanted")
        c.executemany("INSERT INTO inv_wanted VALUES (?, ?)", wanted)
        rows = c.execute(
            f"SELECT t.* FROM inv_wanted w JOIN {table} t ON t.{first} = w.a AND t.{second} = w.b"
        ).fetchall()
        return rows

    def select_in_later(self, sql: str, keys: Sequence[Any]) -> Callable[[], list[tuple[Any, ...]]]:
        rows = self.select_in(sql, keys)
        return lambda: rows

    def rows_for_keys_later(
        self, table: str, columns: tuple[str, str], keys: Iterable[tuple[str, str]]
    ) -> Callable[[], list[tuple[Any, ...]]]:
        rows = self.rows_for_keys(table, columns, keys)
        return lambda: rows

    def next_position(self) -> int:
        # Inside the write lock, SQLite gives a new row the largest rowid plus one.
        row = self._c.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        return int(row[0] or 0) + 1

    def insert_events(self, stored: Sequence[Record], first: int) -> None:
        if not stored:
            return
        assert self._recorder is not None, "events are stored in a ledger's transaction"
        self._c.executemany(self._recorder.insert_events_statement, stored)
        last = self._c.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
        if last != first + len(stored) - 1:
            raise StorageError("positions were not assigned in order; nothing was written")

    def stream_event(self, record: Record) -> None:
        """One event of a batch, stored by `end_stream` (SQLite's insert takes no stream)."""
        self._streamed.append(record)

    def end_stream(self, first: int) -> None:
        stored, self._streamed = self._streamed, []
        self.insert_events(stored, first)

    def notifications(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        return self._c.execute(
            "SELECT rowid, topic, state FROM stored_events WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, limit),
        ).fetchall()


class SQLiteStore:
    """A ledger in one SQLite file, through the library's SQLite datastore and recorder."""

    def __init__(self, path: str, lock_timeout: int | None = None, existing: bool = False) -> None:
        """`existing`: the file must hold a ledger already (see `open_store`)."""
        self.url = path
        self.path = path
        _check_sqlite_path(path)
        _check_sqlite_contents(path, existing)
        timeout = lock_timeout or env_seconds("INVLEDGER_LOCK_TIMEOUT", 30)
        self.lock_timeout = timeout
        try:
            self.datastore = SQLiteDatastore(path, originator_id_type="text", lock_timeout=timeout)
            self.recorder = SQLiteApplicationRecorder(self.datastore)
            with self._connection(commit=True) as conn:
                version = _sqlite_schema_version(conn)
                if version is None and existing and not _holds_events(conn):
                    raise _no_ledger_in(path)  # a file: URI, which is not probed first
                if version is None:
                    self._create_schema(conn)
                elif version > SCHEMA_VERSION:
                    raise StorageError(
                        f"{path} was written by a newer invledger (schema {version}; this "
                        f"version reads schema {SCHEMA_VERSION}): upgrade invledger"
                    )
                elif version < SCHEMA_VERSION:
                    self._upgrade(conn)
        except StorageError:
            raise
        except (sqlite3.Error, PersistenceError) as error:
            raise StorageError(_sqlite_reason(path, error)) from None

    def _begin(self, conn: sqlite3.Connection, cursor: sqlite3.Cursor | None = None) -> None:
        """BEGIN IMMEDIATE, waiting for the write lock up to the lock timeout in short
        steps: Python runs a Ctrl-C's or a SIGTERM's handler only between SQLite calls,
        so one long wait inside SQLite would stop the command only once the lock came."""
        deadline = time.monotonic() + self.lock_timeout
        conn.execute(f"PRAGMA busy_timeout = {LOCK_STEP_MS}")
        try:
            while True:
                try:
                    (cursor or conn).execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if not _is_busy(error) or time.monotonic() >= deadline:
                        raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        self._begin(conn)
        try:
            for statement in self.recorder.create_table_statements:
                conn.execute(statement)
            for statement in create_statements(sqlite=True):
                conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO inv_meta VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        self._begin(conn)
        try:
            # Under the write lock, again: another process may have upgraded meanwhile.
            for statement in upgrade_statements(_sqlite_schema_version(conn) or SCHEMA_VERSION):
                conn.execute(statement)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    @contextmanager
    def _connection(self, *, commit: bool) -> Iterator[sqlite3.Connection]:
        with self.datastore.get_connection(commit=commit) as wrapper:
            conn: sqlite3.Connection = wrapper._sqlite_conn
            conn.row_factory = None
            # WAL with synchronous=NORMAL: a killed process loses nothing and the file
            # never corrupts; only a power cut may lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-65536")
            yield conn

    @contextmanager
    def write(
        self,
        *,
        reading: str | None = None,
        working: Sequence[str] = (),
        lock_views: bool = True,
    ) -> Iterator[SQLiteTx]:
        """A write transaction; with `reading`, that other SQLite ledger is attached
        read-only as `log` for it (a scratch rebuild reads its events in SQL); each of
        `working` (scratch files of the views' SQL path) is attached as `work0`, `work1`...
        Raises WorkingFilesGone, before any transaction, if one of those cannot be.
        `lock_views` is PostgreSQL's (the views' tracking row taken first): here the
        write lock is the whole file's, so there is nothing more to take."""
        try:
            with self._connection(commit=True) as conn:
                attached: list[str] = []
                try:
                    if reading is not None:
                        # Read-only: a write transaction here takes no lock on that file.
                        conn.execute("ATTACH DATABASE ? AS log", (read_only_uri(reading),))
                        attached.append("log")
                    for number, path in enumerate(working):
                        _attach_working(conn, path, f"work{number}", attached)
                    cursor = conn.cursor()
                    self._begin(conn, cursor)
                    try:
                        yield SQLiteTx(cursor, self.recorder)
                    except BaseException:
                        conn.rollback()
                        raise
                    conn.commit()
                finally:
                    # Only what was attached, each on its own: the connection goes back
                    # to the pool, and a failure here must not hide the one that ended it.
                    for name in attached:
                        try:
                            conn.execute(f"DETACH DATABASE {name}")
                        except sqlite3.Error:
                            pass
        except (sqlite3.Error, PersistenceError) as error:
            raise _sqlite_error(self.path, error) from None

    @contextmanager
    def read(self) -> Iterator[SQLiteTx]:
        try:
            with self._connection(commit=False) as conn:
                cursor = conn.cursor()
                cursor.execute("BEGIN")
                try:
                    yield SQLiteTx(cursor, self.recorder)
                finally:
                    conn.rollback()
        except (sqlite3.Error, PersistenceError) as error:
            raise _sqlite_error(self.path, error) from None

    def close(self) -> None:
        self.datastore.close()


class WorkingFilesGone(StorageError):
    """A scratch file of the views' SQL path could not be attached (removed meanwhile,
    unreadable): the caller goes on without it."""


def _attach_working(conn: sqlite3.Connection, path: str, name: str, attached: list[str]) -> None:
    """Attach a scratch file as `name`, noted in `attached` as soon as it is."""
    if not os.path.isfile(path):  # ATTACH would create an empty file in its place
        raise WorkingFilesGone(f"cannot attach {path}: it is gone")
    try:
        conn.execute(f"ATTACH DATABASE ? AS {name}", (path,))
        attached.append(name)
        # Scratch: thrown away after the transaction, whatever its outcome.
        conn.execute(f"PRAGMA {name}.journal_mode = OFF")
    except sqlite3.Error as error:
        raise WorkingFilesGone(f"cannot attach {path}: {error}") from None


def read_only_uri(path: str) -> str:
    """A URI opening the SQLite file at `path` read-only, whatever characters it holds;
    `path` may be a `file:` URI already (its options kept, its mode made `ro`)."""
    if path.startswith("file:"):
        base, _, query = path.partition("?")
        options = [o for o in query.split("&") if o and not o.startswith("mode=")]
        return base + "?" + "&".join([*options, "mode=ro"])
    return "file:" + quote(os.path.abspath(path)) + "?mode=ro"


def probe_uri(path: str) -> str:
    """A URI to look into a SQLite file that may not be ours, as it stands now.

    Without a -wal file beside it, `immutable`: nothing is created or changed beside
    another program's file. With one, the file is in WAL mode and the WAL holds part of
    its content: after a process is killed in the middle of a checkpoint, the file alone
    is a mix of pages from different commits and reads as malformed. Then read-only, which
    reads the WAL too (and may rebuild its -shm index, as any reader would).
    """
    # SQLite names the WAL after the file a symbolic link leads to, not after the link.
    real = os.path.realpath(path)
    mode = "mode=ro" if os.path.exists(real + "-wal") else "immutable=1"
    return f"file:{quote(real)}?{mode}"


def _check_sqlite_path(path: str) -> None:
    if path.startswith("file:") or path == ":memory:":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StorageError(f"cannot open {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise StorageError(f"cannot open {path}: it is a folder, not a database file")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as file:
            if file.read(16) != SQLITE_HEADER:
                raise StorageError(f"{path} is not an invledger database (not a SQLite file)")


def _check_sqlite_contents(path: str, existing: bool = False) -> None:
    """Refuse another program's database, or a newer ledger, before anything touches the file;
    and, when the ledger must be there already (`existing`), a file that holds none.

    (The library's connections switch a file to WAL mode on opening: that alone would
    change a database that is not ours.)
    """
    if path.startswith("file:") or path == ":memory:" or not os.path.exists(path):
        return
    if os.path.getsize(path) == 0:
        if existing:  # `touch invledger.db` makes no ledger
            raise _no_ledger_in(path)
        return
    try:
        probe = sqlite3.connect(probe_uri(path), uri=True)
    except sqlite3.Error as error:
        raise StorageError(_sqlite_reason(path, error)) from None
    try:
        version = _sqlite_schema_version(probe)
        if version is None and existing and not _holds_events(probe):
            raise _no_ledger_in(path)
    except sqlite3.Error as error:
        raise StorageError(_sqlite_reason(path, error)) from None
    finally:
        probe.close()
    if version is not None and version > SCHEMA_VERSION:
        raise StorageError(
            f"{path} was written by a newer invledger (schema {version}; this "
            f"version reads schema {SCHEMA_VERSION}): upgrade invledger"
        )


def _sqlite_schema_version(conn: sqlite3.Connection) -> int | None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "inv_meta" not in tables:
        if tables - {"stored_events"}:
            raise StorageError(
                "the database holds another program's tables: it is not an invledger ledger"
            )
        if "stored_events" in tables:
            # A log without invledger's tables is ours only if it holds only our topics.
            other = conn.execute(
                "SELECT topic FROM stored_events WHERE topic IS NULL "
                "OR substr(topic, 1, ?) <> ? LIMIT 1",
                (len(TOPIC_PREFIX), TOPIC_PREFIX),
            ).fetchone()
            if other is not None:
                raise StorageError(
                    f"the database holds another application's stored_events (a {other[0]!r} "
                    "event): it is not an invledger ledger; give invledger a file of its own"
                )
        return None
    try:
        row = conn.execute("SELECT value FROM inv_meta WHERE key='schema_version'").fetchone()
    except sqlite3.OperationalError as error:
        if "no such column" not in str(error):
            raise
        row = ("",)  # another program's inv_meta
    if row is None or not str(row[0]).isdigit():
        # invledger writes its version in the transaction that makes inv_meta.
        raise StorageError(
            "the database holds a table inv_meta with no schema version invledger wrote: "
            "it is not an invledger ledger"
        )
    return int(row[0])


def _holds_events(conn: sqlite3.Connection) -> bool:
    """Whether a database without invledger's tables holds a log of invledger's events
    (`_sqlite_schema_version` has refused any other): those are a ledger whose views are
    gone, and the tables are made again around them."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stored_events'"
    ).fetchone()
    return (
        found is not None
        and conn.execute("SELECT 1 FROM stored_events LIMIT 1").fetchone() is not None
    )


# How long one step of a wait for SQLite's write lock lasts (see `SQLiteStore._begin`).
LOCK_STEP_MS = 100


def _is_busy(error: BaseException) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


def _sqlite_error(path: str, error: BaseException) -> StorageError:
    """The StorageError for a SQLite failure: StorageUnavailable for a lock that another
    writer held too long (trying again later may succeed), else a StorageError."""
    kind = StorageUnavailable if _is_busy(error) else StorageError
    return kind(_sqlite_reason(path, error))


def _sqlite_reason(path: str, error: BaseException) -> str:
    text = str(error)
    if table := missing_view_table(text):
        return missing_view_reason(path, table)
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another writer; waited and gave up (retry later)"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only: invledger needs to write to it"
    if "not a database" in text:
        return f"{path} is not an invledger database"
    if "unable to open" in text:
        return f"cannot open {path}: check the path and its permissions"
    return f"{path}: {text}"
