"""A ledger in PostgreSQL, shared by many processes, through the library's PostgreSQL recorder.

Writers serialize on the library's `LOCK TABLE stored_events IN EXCLUSIVE MODE`,
taken first in every write transaction: rules read inside it cannot be raced,
and notification ids (positions) are issued in commit order. Readers are not
blocked by that lock.

Every writer of the views then takes the views' tracking row: an import may write
its view rows in a transaction of its own, beside its next batches, which takes
that row (not the log's lock) before the batch that handed them off commits. So
whoever reads the tracking position next waits for those rows to commit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import tuple_row

from ledger.errors import NoLedger, StorageError, StorageUnavailable
from ledger.schema import (
    SCHEMA_VERSION,
    STATEMENTS,
    TOPIC_PREFIX,
    VIEW_TABLES,
    VIEWS_TRACKING_KEY,
    columns,
    missing_view_reason,
    missing_view_table,
    upgrade_statements,
)
from ledger.store import Record, env_seconds, masked, raw_slash_in_user_part, shown_url

_SCHEMA_LOCK = 7_391_044_211  # advisory lock key: one process creates the tables
# Takes the tracking row, creating it if need be (a row not yet there cannot be locked;
# a second inserter waits for the first to commit, then updates the row it finds).
_LOCK_TRACKING = (
    "INSERT INTO inv_tracking VALUES (%s, 0) "
    "ON CONFLICT (view) DO UPDATE SET position = inv_tracking.position"
)


class PostgresTx:
    def __init__(
        self, cursor: Any, library_cursor: Any, recorder: PostgresApplicationRecorder
    ) -> None:
        self._c = cursor
        self._lib = library_cursor
        self._recorder = recorder
        # An import's events go to the server while later lines are still being checked:
        # the server stores a batch as it arrives instead of after it. Any other statement
        # first ends the COPY (a connection runs one thing at a time); the next event
        # starts another.
        self._copy: Any = None  # (context manager, Copy) of the open COPY, if any
        self._streamed = 0
        # Queries sent ahead (`select_in_later`): the connection is in pipeline mode until
        # their rows are read or any other statement runs.
        self._pipeline: Any = None

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s").replace("rowid", "notification_id")

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._end_copy()
        self._c.execute(self._sql(sql), params)
        rows: list[tuple[Any, ...]] = self._c.fetchall()
        return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self._end_copy()
        self._c.execute(self._sql(sql), params)
        row: tuple[Any, ...] | None = self._c.fetchone()
        return row

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._end_copy()
        self._c.execute(self._sql(sql), params)

    def chunks(self, sql: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of `sql`, `size` at a time, through a server-side cursor."""
        self._end_copy()
        with self._c.connection.cursor(name="inv_chunks", row_factory=tuple_row) as cursor:
            cursor.execute(self._sql(sql))
            while rows := cursor.fetchmany(size):
                yield rows

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Bulk upserts: COPY into a temporary twin of the table, then one INSERT ... SELECT.

        A row at a time (even pipelined) costs a round trip's work per row; COPY streams.
        The keys of one call are distinct (the views write each row once per flush).
        """
        if not rows:
            return
        self._end_copy()
        match = _BULK.match(sql)
        if match is None or len(rows) < 50:
            self._c.executemany(self._sql(sql), rows)
            return
        table, conflict = match.group(1), match.group(2)
        scratch = f"_bulk_{table}"
        self._c.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {scratch} (LIKE {table}) ON COMMIT DELETE ROWS"
        )
        types = self._column_types(table)
        with self._c.copy(f"COPY {scratch} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        self._c.execute(f"INSERT INTO {table} SELECT * FROM {scratch} {conflict}")
        self._c.execute(f"DELETE FROM {scratch}")

    def _column_types(self, table: str) -> list[str]:
        """The types of a view table's columns, in order (for a binary COPY into its twin)."""
        if table not in _COLUMN_TYPES:
            self._c.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                "ORDER BY attnum",
                (table,),
            )
            _COLUMN_TYPES[table] = [name for (name,) in self._c.fetchall()]
        return _COLUMN_TYPES[table]

    def select_in(self, sql: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
        """`sql` with `IN ({})` as one array parameter: one round trip for any number of keys."""
        return self._now(*_any_of(sql, keys))

    def select_in_later(self, sql: str, keys: Sequence[Any]) -> Callable[[], list[tuple[Any, ...]]]:
        """`select_in`, sent to the server now; its rows when the result is called.

        Until then the caller is free for work of its own (an import parses its next
        lines) while the server answers: the queries go in pipeline mode, and the first
        result called, or any other statement, reads them all.
        """
        return self._later(*_any_of(sql, keys))

    def rows_for_keys(
        self, table: str, columns: tuple[str, str], keys: Iterable[tuple[str, str]]
    ) -> list[tuple[Any, ...]]:
        """The rows of `table` whose two key columns match one of `keys` (one round trip)."""
        return self._now(*_matching_pairs(table, columns, keys))

    def rows_for_keys_later(
        self, table: str, columns: tuple[str, str], keys: Iterable[tuple[str, str]]
    ) -> Callable[[], list[tuple[Any, ...]]]:
        """`rows_for_keys`, sent now and read when the result is called (`select_in_later`)."""
        return self._later(*_matching_pairs(table, columns, keys))

    def _now(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self._end_copy()
        self._c.execute(self._sql(sql), params)
        rows: list[tuple[Any, ...]] = self._c.fetchall()
        return rows

    def _later(self, sql: str, params: Sequence[Any]) -> Callable[[], list[tuple[Any, ...]]]:
        if self._copy is not None:
            self._end_copy()
        connection = self._c.connection
        if self._pipeline is None:
            self._pipeline = connection.pipeline()
            self._pipeline.__enter__()
        cursor = connection.cursor(row_factory=tuple_row)
        cursor.execute(self._sql(sql), params)

        def rows() -> list[tuple[Any, ...]]:
            self._end_pipeline()
            found: list[tuple[Any, ...]] = cursor.fetchall()
            return found

        return rows

    def _end_pipeline(self, error: BaseException | None = None) -> None:
        """Read the results of the queries sent ahead, and leave pipeline mode."""
        if self._pipeline is not None:
            pipeline, self._pipeline = self._pipeline, None
            if error is None:
                pipeline.__exit__(None, None, None)
            else:
                pipeline.__exit__(type(error), error, error.__traceback__)

    def lock_views(self) -> None:
        """Take the views' tracking row, as every writer of view rows does first: waits
        for a flush in flight (another import's, beside it) to commit, and keeps any
        other from starting, so the views read after it are whole and stay so."""
        self._end_copy()
        self._c.execute(_LOCK_TRACKING, (VIEWS_TRACKING_KEY,))

    def next_position(self) -> int:
        # Inside the table lock no other transaction can draw from the sequence.
        self._end_copy()
        self._c.execute(f"SELECT last_value, is_called FROM {_sequence_name(self._c)}")
        last, called = self._c.fetchone()
        return int(last) + 1 if called else int(last)

    def insert_events(self, stored: Sequence[Record], first: int) -> None:
        if not stored:
            return
        self._end_copy()
        if len(stored) < 50:
            events = [StoredEvent(*record) for record in stored]
            self._recorder._insert_stored_events(self._lib, events)
            ids = [row["notification_id"] for row in self._lib.fetchall()]
            last = ids[-1] if ids == list(range(first, first + len(stored))) else None
        else:
            # Many events: COPY into the library's table (its lock is held since the
            # transaction began, and its channel is notified as its own insert does).
            for record in stored:
                self.stream_event(record)
            self.end_stream(first)
            return
        if last != first + len(stored) - 1:
            raise StorageError("positions were not assigned in order; nothing was written")

    def stream_event(self, record: Record) -> None:
        """Send one event of a batch to the log now; `end_stream` ends the batch."""
        if self._copy is None:
            self._end_pipeline()
            manager = self._c.copy(_COPY_EVENTS)
            copy = manager.__enter__()
            copy.set_types(_EVENT_TYPES)
            self._copy = (manager, copy)
        self._copy[1].write_row(record)
        self._streamed += 1

    def end_stream(self, first: int) -> None:
        """After a batch's `stream_event`s (the first at position `first`): the COPY ended,
        the library's channel notified, the positions checked."""
        self._end_copy()
        count, self._streamed = self._streamed, 0
        if not count:
            return
        self._lib.execute(f"NOTIFY {self._recorder.channel_name}")
        if self.next_position() - 1 != first + count - 1:
            raise StorageError("positions were not assigned in order; nothing was written")

    def _end_copy(self, error: BaseException | None = None) -> None:
        """End what the connection is in the middle of, if anything (a COPY, queries
        sent ahead), before it runs another statement."""
        self._end_pipeline(error)
        if self._copy is not None:
            manager, self._copy = self._copy[0], None
            if error is None:
                manager.__exit__(None, None, None)
            else:  # the server drops the rows sent; the transaction is rolled back after
                manager.__exit__(type(error), error, error.__traceback__)

    def abandon(self, error: BaseException) -> None:
        """The transaction fails: end an open COPY first, so that it can roll back."""
        self._streamed = 0
        try:
            self._end_copy(error)
        except psycopg.Error:
            pass  # the rollback that follows ends the transaction whatever state it is in

    def notifications(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        self._end_copy()
        self._c.execute(
            "SELECT notification_id, topic, state FROM stored_events "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
            (after, limit),
        )
        rows: list[tuple[int, str, bytes]] = self._c.fetchall()
        return rows


def _any_of(sql: str, keys: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """`sql`'s `IN ({})` as `= ANY` of one array parameter holding `keys`."""
    literal = _text_array(keys)
    if literal is None:
        return sql.replace("IN ({})", "= ANY(?)"), (list(keys),)
    return sql.replace("IN ({})", "= ANY(?::text[])"), (literal,)


def _matching_pairs(
    table: str, columns: tuple[str, str], keys: Iterable[tuple[str, str]]
) -> tuple[str, tuple[Any, ...]]:
    """The query for the rows of `table` whose two key columns match one of `keys`."""
    pairs = list(keys)
    first, second = columns
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    sql = (
        f"SELECT t.* FROM {table} t JOIN unnest(?::text[], ?::text[]) AS w(a, b) "
        f"ON t.{first} = w.a AND t.{second} = w.b"
    )
    return sql, (_text_array(firsts) or firsts, _text_array(seconds) or seconds)


def _text_array(values: Sequence[Any]) -> str | None:
    """The array literal of these strings ('{"a","b"}'), or None unless all are strings.

    The driver writes a list parameter element by element in Python (2.2 us a key,
    timed on 20,000 keys); one string is written at once (0.5 us a key).
    """
    if not all(type(value) is str for value in values):
        return None
    quoted = [
        value.replace("\\", "\\\\").replace('"', '\\"') if "\\" in value or '"' in value else value
        for value in values
    ]
    return '{"' + '","'.join(quoted) + '"}' if quoted else "{}"


# Binary: no escaping of the state's bytes on either side (a third less server time
# for the COPY of 100,000 events, timed here).
_COPY_EVENTS = (
    "COPY stored_events (originator_id, originator_version, topic, state) FROM STDIN "
    "(FORMAT BINARY)"
)
_EVENT_TYPES = ("text", "int8", "text", "bytea")
_SEQUENCE: dict[int, str] = {}
_COLUMN_TYPES: dict[str, list[str]] = {}  # the schema names each view's columns, once
_BULK = re.compile(r"INSERT INTO (\w+) VALUES \([?,]+\) (ON CONFLICT .*)", re.DOTALL)


def _sequence_name(cursor: Any) -> str:
    key = id(cursor.connection)
    if key not in _SEQUENCE:
        cursor.execute("SELECT pg_get_serial_sequence('stored_events', 'notification_id')")
        _SEQUENCE[key] = cursor.fetchone()[0]
    return _SEQUENCE[key]


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether `error` is of `kind`, or was raised from or while handling one (the library
    wraps the driver's errors in its own)."""
    for _ in range(10):
        if error is None:
            return False
        if isinstance(error, kind):
            return True
        error = error.__cause__ or error.__context__
    return False


def _connection_options(url: str) -> dict[str, str]:
    """What a postgresql:// URL asks for, read by libpq's own parser (so a URL means
    what it means to psql), or StorageError saying what is wrong with it."""
    if raw_slash_in_user_part(url):
        raise StorageError(
            f"{shown_url(url)}: a '/' comes before its '@', so libpq would read the user "
            "name and password as a host and port: write a '/' of a user name or password "
            "as %2F (or an '@' of the database name as %40)"
        )
    try:
        options = {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except psycopg.Error as error:
        reason = masked(" ".join(str(error).split()), url)  # it quotes the URL, or a token
        raise StorageError(
            f"{shown_url(url)} is not a PostgreSQL URL libpq reads: {reason}"
        ) from None
    except UnicodeDecodeError:  # a percent-encoded part that is not UTF-8 (%C3 alone)
        raise StorageError(
            f"{shown_url(url)}: a percent-encoded part of it is not UTF-8 text"
        ) from None
    # What the URL leaves out, libpq's environment gives, as psql takes it: a service set
    # up with $PGHOST and $PGPORT must not find its ledger on another server.
    given = {}
    for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("dbname", "PGDATABASE")):
        if not options.get(key) and os.environ.get(variable):
            options[key] = os.environ[variable]
            given[key] = f" (from ${variable})"
    for port in options.get("port", "5432").split(","):  # one per host: h1:5432,h2:5433
        if not (port.isdigit() and 0 < int(port) < 65536):
            raise StorageError(
                f"{shown_url(url)}: the port {port!r}{given.get('port', '')} is not a number "
                "from 1 to 65535"
            )
    if "@" in options.get("host", ""):
        raise StorageError(
            f"{shown_url(url)}: its host holds an '@' (write an '@' of a user name or "
            "password as %40)"
        )
    return options


class PostgresStore:
    """A ledger in a PostgreSQL database named by a `postgresql://user@host:port/db` URL."""

    def __init__(self, url: str, existing: bool = False) -> None:
        self._url = url
        self.existing = existing  # a query: a database without a ledger is an error
        self.url = shown_url(url)  # for messages: no password
        options = _connection_options(url)
        host = options.pop("host", "") or "localhost"
        port = options.pop("port", "") or "5432"
        dbname = options.pop("dbname", "")
        self.where = f"{host}:{port}/{dbname}"
        self.lock_timeout = env_seconds("INVLEDGER_LOCK_TIMEOUT", 30)
        self._user = options.pop("user", os.environ.get("PGUSER", "postgres"))
        if not dbname:
            raise StorageError(
                f"{self.url} names no database: add it, as in postgresql://user@host/DBNAME"
            )
        try:
            self.datastore = PostgresDatastore(
                dbname=dbname,
                host=host,
                port=port,
                user=self._user,
                password=options.pop("password", os.environ.get("PGPASSWORD", "")),
                connect_timeout=env_seconds("INVLEDGER_CONNECT_TIMEOUT", 5),
                pool_size=1,
                max_overflow=4,
                lock_timeout=self.lock_timeout,
                originator_id_type="text",
                # No pool_open_timeout: with it the pool waits for idle connections on
                # every checkout and closes itself when a subscription holds one.
            )
            # The URL's other options (sslmode, application_name, ...) go to every
            # connection the pool opens, as they would with psql. The library names the
            # `public` schema in each of its statements; invledger's tables are beside
            # its log whatever search_path the URL or PGOPTIONS sets (a later -c wins).
            given = options.get("options", os.environ.get("PGOPTIONS", ""))
            options["options"] = f"{given} -c search_path=public".strip()
            pool = self.datastore.pool
            if options and isinstance(pool.kwargs, dict):
                pool.kwargs = {**pool.kwargs, **options}
            elif options:  # not reached with this library version: its pool takes a dict
                raise StorageError(f"{self.url}: options after '?' cannot be passed on")
            self.recorder = PostgresApplicationRecorder(self.datastore)
            self._create_schema()
        except BaseException as error:
            if hasattr(self, "datastore"):  # its pool holds a connection
                self.datastore.close()
            if isinstance(error, (psycopg.Error, PersistenceError, OSError)):
                raise self._error(error) from None
            raise

    def _error(self, error: BaseException) -> StorageError:
        """The StorageError for a failure of a transaction: StorageUnavailable where the
        server could not be reached or answered with a passing state (a connection lost
        or refused, a server shutting down, a lock or statement timeout), which may be
        gone when the same work is tried again."""
        kind = StorageUnavailable if _caused_by(error, psycopg.OperationalError) else StorageError
        return kind(self._reason(error))

    def _reason(self, error: BaseException) -> str:
        text = masked(" ".join(str(error).split()) or type(error).__name__, self._url)
        if "pool" in text.lower() or "connect" in text.lower():
            # The pool only says it timed out: ask the server directly for the reason,
            # with the URL's own connect_timeout where it gives one (a bad value of it is
            # the reason then).
            given = "connect_timeout" in conninfo_to_dict(self._url)
            # The same user as the pool's (its default is not libpq's, the system user).
            keywords: dict[str, Any] = {"user": self._user}
            if not given:
                keywords["connect_timeout"] = 3
            try:
                psycopg.connect(self._url, **keywords).close()
            except psycopg.Error as direct:
                text = masked(" ".join(str(direct).split()), self._url)
            return f"cannot connect to PostgreSQL at {self.where}: {text}"
        if table := missing_view_table(text):
            return missing_view_reason(f"PostgreSQL {self.where}", table)
        if _caused_by(error, psycopg.errors.LockNotAvailable):
            return (
                f"PostgreSQL {self.where} is locked by another writer; waited "
                f"{self.lock_timeout} s ($INVLEDGER_LOCK_TIMEOUT) and gave up (retry later)"
            )
        return f"PostgreSQL {self.where}: {text}"

    def _check_no_other_log(self, cursor: Any) -> None:
        """Before invledger's tables go into a database that has none: refuse a query (no
        ledger to answer from), a `stored_events` another application wrote, and a table
        of one of invledger's names that is not invledger's."""
        self._check_tables_are_ours(cursor)
        cursor.execute("SELECT to_regclass('stored_events')")
        found = cursor.fetchone()
        if found is not None and found[0] is not None:
            self._check_log_is_ours(cursor)
            # invledger's events without its tables: a ledger whose views are gone, and
            # the tables are made again around them (as on SQLite).
            cursor.execute("SELECT 1 FROM stored_events LIMIT 1")
            if cursor.fetchone() is not None:
                return
        if self.existing:
            raise NoLedger(f"in {self.where}")

    def _check_tables_are_ours(self, cursor: Any) -> None:
        """StorageError if a table of one of invledger's names has other columns: its
        tables are made only where they are not, so the ledger would be built on it."""
        for table in ("inv_tracking", *VIEW_TABLES):
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'public' AND table_name = %s ORDER BY ordinal_position",
                (table,),
            )
            found = tuple(name for (name,) in cursor.fetchall())
            if found and found != columns(table):
                raise StorageError(
                    f"{self.where} holds a table {table} that is not invledger's (columns "
                    f"{', '.join(found)}): not an invledger ledger; give invledger a "
                    "database of its own"
                )

    def _schema_version(self, cursor: Any) -> int:
        """The schema version an existing `inv_meta` records, or StorageError when it is
        not invledger's (invledger writes the version in the transaction that makes it)."""
        try:
            cursor.execute("SELECT value FROM inv_meta WHERE key = 'schema_version'")
            row = cursor.fetchone()
        except psycopg.errors.UndefinedColumn:  # another program's inv_meta
            row = None
            cursor.connection.rollback()
        if row is None or not str(row[0]).isdigit():
            raise StorageError(
                f"{self.where} holds a table inv_meta with no schema version invledger "
                "wrote: not an invledger ledger; give invledger a database of its own"
            )
        return int(row[0])

    def _check_log_is_ours(self, cursor: Any) -> None:
        """StorageError unless `stored_events` is one invledger began: text ids and
        only invledger's topics."""
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = "
            "'stored_events' AND column_name = 'originator_id' AND table_schema = 'public'"
        )
        column = cursor.fetchone()
        other = None
        if column is not None and column[0] == "text":
            # A log invledger began (its tables are made one after the other) holds
            # only invledger's topics.
            cursor.execute(
                "SELECT topic FROM stored_events WHERE topic NOT LIKE %s LIMIT 1",
                (TOPIC_PREFIX + "%",),
            )
            other = cursor.fetchone()
            if other is None:
                return
        seen = f" (a {other[0]!r} event)" if other else ""
        raise StorageError(
            f"{self.where} holds another application's stored_events{seen}: not an "
            "invledger ledger; give invledger a database of its own"
        )

    def _create_schema(self) -> None:
        with self.datastore.get_connection() as conn:
            cursor = conn.cursor(row_factory=tuple_row)
            cursor.execute("SELECT to_regclass('inv_meta')")
            found = cursor.fetchone()
            exists = found is not None and found[0] is not None
            if not exists:
                self._check_no_other_log(cursor)
            if exists:
                version = self._schema_version(cursor)
                if version > SCHEMA_VERSION:
                    raise StorageError(
                        f"{self.where} was written by a newer invledger (schema {version}; "
                        f"this version reads schema {SCHEMA_VERSION}): upgrade invledger"
                    )
                if version < SCHEMA_VERSION:
                    self._upgrade()
        if not exists:
            for attempt in range(3):
                try:
                    self.recorder.create_table()
                    break
                except PersistenceError:
                    # Another process created the same tables at the same moment.
                    if attempt == 2:
                        raise
            with self.datastore.get_connection() as conn, conn.transaction():
                cursor = conn.cursor(row_factory=tuple_row)
                # Several processes may open a new ledger at once: one creates the tables.
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in STATEMENTS:
                    cursor.execute(statement)
                cursor.execute(
                    "INSERT INTO inv_meta VALUES ('schema_version', %s) ON CONFLICT DO NOTHING",
                    (str(SCHEMA_VERSION),),
                )
        else:
            self.datastore.register_type_adapters()

    def _upgrade(self) -> None:
        with self.datastore.get_connection() as conn, conn.transaction():
            library_cursor = conn.cursor()
            # Serialized with writers (their lock) and with other upgrading processes.
            for statement in self.recorder.lock_table_statements:
                library_cursor.execute(statement)
            cursor = conn.cursor(row_factory=tuple_row)
            cursor.execute("SELECT value FROM inv_meta WHERE key = 'schema_version'")
            row = cursor.fetchone()
            for statement in upgrade_statements(int(row[0]) if row else SCHEMA_VERSION):
                cursor.execute(statement)

    @contextmanager
    def write(self, lock_views: bool = True) -> Iterator[PostgresTx]:
        """A write transaction, holding the log's lock and (unless `lock_views` is false:
        an import whose view rows may be in flight beside it) the views' tracking row."""
        try:
            with self.datastore.get_connection() as conn, conn.transaction():
                library_cursor = conn.cursor()
                for statement in self.recorder.lock_table_statements:
                    library_cursor.execute(statement)
                cursor = conn.cursor(row_factory=tuple_row)
                if lock_views:
                    cursor.execute(_LOCK_TRACKING, (VIEWS_TRACKING_KEY,))
                tx = PostgresTx(cursor, library_cursor, self.recorder)
                try:
                    yield tx
                except BaseException as error:
                    tx.abandon(error)
                    raise
        except (psycopg.Error, PersistenceError) as error:
            raise self._error(error) from None

    @contextmanager
    def views_write(self, locked: Callable[[], None]) -> Iterator[PostgresTx]:
        """A transaction that writes view rows only: it takes the tracking row (told to
        `locked` once it holds it), not the log's lock."""
        try:
            with self.datastore.get_connection() as conn, conn.transaction():
                cursor = conn.cursor(row_factory=tuple_row)
                cursor.execute(_LOCK_TRACKING, (VIEWS_TRACKING_KEY,))
                locked()
                yield PostgresTx(cursor, None, self.recorder)
        except (psycopg.Error, PersistenceError) as error:
            raise self._error(error) from None

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        try:
            # Ended by COMMIT, not ROLLBACK (the same for a read-only transaction): the
            # driver forgets its prepared statements at every ROLLBACK, and then a query
            # that a long-lived process runs again and again is planned on every call.
            with self.datastore.get_connection() as conn, conn.transaction():
                cursor = conn.cursor(row_factory=tuple_row)
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield PostgresTx(cursor, None, self.recorder)
        except (psycopg.Error, PersistenceError) as error:
            raise self._error(error) from None

    def close(self) -> None:
        self.datastore.close()
