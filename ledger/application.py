"""The ledger's service layer: append events under the rules, import, export, catch up.

Commands return plain values. Every append is one write transaction in which
the rules are checked against the views, the events are stored, and the views
and their tracking position are updated (see ledger/store.py for why that
makes the rules safe with several writers).
"""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from eventsourcing.persistence import PersistenceError

from ledger import events as ev
from ledger import rules
from ledger.errors import (
    BadInput,
    ImportStopped,
    RuleViolation,
    StorageUnavailable,
    UnknownId,
)
from ledger.store import Record, SQLiteStore, Store, Tx, open_store, views_behind
from projections import bulk
from projections import views as views_module
from projections.views import Views

IMPORT_BATCH = 5000
CATCH_UP_PAGE = 5000
FLUSH_EVERY = 50_000  # events whose view rows are kept in memory before they are written


@dataclass(frozen=True)
class Appended:
    event: ev.Event
    position: int
    warning: str | None = None


@dataclass(frozen=True)
class Imported:
    imported: int
    skipped: int


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


def command_event(fields: dict[str, Any]) -> ev.Event:
    """The event of command-line values, validated (id and time filled in), or BadInput."""
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.setdefault("id", new_id())
    fields.setdefault("at", now())
    return ev.from_fields(fields)


class Ledger:
    def __init__(self, url: str | None = None, store: Store | None = None) -> None:
        self.store = store or open_store(url)

    def close(self) -> None:
        self.store.close()

    # Appending ---------------------------------------------------------------

    def append(self, event: ev.Event, *, command_rules: bool = False) -> Appended:
        """Store one event, or raise the rule that refuses it. Nothing is stored on refusal.

        `command_rules`: also the rules a command applies and an import does not, which
        records what happened: `send`'s send-time rules, `policy set`'s date order.
        """
        with self.store.write() as tx:
            views = current_views(tx)
            warning = None
            if tx.one("SELECT 1 FROM stored_events WHERE originator_id = ?", (event.id,)):
                raise RuleViolation("event-id-used", f"event id {event.id!r} is already used")
            if command_rules and isinstance(event, ev.InvitationSent):
                rules.check_identity(event, views)
                said = rules.check_send(event, views)
                warning = f"warning: {said}" if said else None
            if command_rules and isinstance(event, ev.PolicyChanged):
                rules.check_policy_order(event, views)
            rules.check(event, views)
            if isinstance(event, (ev.AppealGranted, ev.AppealDenied)):
                warning = rules.decision_note(event, views)
            position = tx.next_position()
            views.apply(event, position)
            tx.insert_events([_stored(event, ev.encode(event))], position)
            views.flush()
        return Appended(event, position, warning)

    def record(self, fields: dict[str, Any], *, command_rules: bool = False) -> Appended:
        """Build an event from command-line values (id and time filled in) and append it."""
        return self.append(command_event(fields), command_rules=command_rules)

    def import_lines(
        self,
        lines: Iterable[bytes],
        progress: Callable[[int, int], None] | None = None,
        *,
        read_ahead: bool = True,
    ) -> Imported:
        """Append a JSONL stream. Idempotent by event id; stops at the first bad line.

        Lines before a bad one stay committed; nothing after it is written.
        `progress(lines_read, bytes_read)` is called after each committed batch.
        The cycle collector is paused meanwhile (see `_collector_paused`).
        `read_ahead`: the next lines may be read while a batch's transaction waits on
        PostgreSQL. Only for input that cannot stall (a file): from a pipe, the read
        could wait on its writer while the transaction holds the log's write lock.
        """
        with _collector_paused():
            return self._import_lines(lines, progress, read_ahead)

    def _import_lines(
        self,
        lines: Iterable[bytes],
        progress: Callable[[int, int], None] | None,
        read_ahead: bool = True,
    ) -> Imported:
        session = _ImportSession(self.store)
        imported = skipped = 0
        batches = _parsed_batches(lines)
        ahead: _Parsed | None = next(batches)
        number = read_bytes = 0
        failure: tuple[int, str] | None = None
        following: list[_Parsed | None] = []  # the batch after the one being stored
        unread: list[OSError | ValueError] = []  # why the lines after it could not be read

        def parse_next() -> None:
            # Run inside the batch's transaction on PostgreSQL (with `read_ahead`),
            # after its commit on SQLite and from a pipe (see below). A failure to read
            # the input is raised once that batch is committed, as it would be had the
            # lines been read after it.
            try:
                following.append(next(batches, None))
            except (OSError, ValueError) as error:  # what reading a file raises
                unread.append(error)

        while ahead is not None:
            batch, number, read_bytes, failure = ahead
            following.clear()
            if batch:
                # On SQLite the next lines are parsed after the commit, not inside the
                # transaction: its lookups are answered at once, so nothing overlaps, and
                # other writers can take the write lock between an import's batches.
                overlap = parse_next if session.beside and read_ahead and not failure else None
                done, dup, batch_failure = session.append(batch, overlap)
                imported, skipped = imported + done, skipped + dup
                failure = batch_failure or failure
            if failure:
                break
            if progress:
                progress(number, read_bytes)
            if not following and not unread:
                parse_next()
            if unread:
                session.finish()
                raise unread[0]
            ahead = following[0]
        session.finish()
        if progress:
            progress(number, read_bytes)
        if failure:
            raise ImportStopped(failure[0], failure[1], imported, skipped)
        return Imported(imported, skipped)

    # Reading the log ---------------------------------------------------------

    def export(
        self, out: IO[bytes], since: int = 0, progress: Callable[[int], None] | None = None
    ) -> int:
        """Write the log after position `since` as JSONL (the import format).

        `progress` is told how many events were written, a page at a time.
        """
        count = 0
        for _, _, state in self.notifications(since):
            out.write(ev.stored_bytes(state))
            out.write(b"\n")
            count += 1
            if progress is not None and count % CATCH_UP_PAGE == 0:
                progress(CATCH_UP_PAGE)
        if progress is not None and count % CATCH_UP_PAGE:
            progress(count % CATCH_UP_PAGE)
        return count

    def notifications(
        self, since: int = 0, until: int | None = None
    ) -> Iterator[tuple[int, str, bytes]]:
        """(position, topic, state) of every stored event after `since`, in pages."""
        after = since
        while True:
            with self.store.read() as tx:
                rows = tx.notifications(after, CATCH_UP_PAGE)
            for row in rows:
                if until is not None and row[0] > until:
                    return
                yield row
            if len(rows) < CATCH_UP_PAGE:
                return
            after = rows[-1][0]

    def events(
        self, member: str | None = None, event_type: str | None = None, since: int = 0
    ) -> Iterator[tuple[int, ev.Event]]:
        """The log, filtered: a member appears as sender, recipient, appellant; or by type."""
        invitations: set[str] = set()
        appeals: set[str] = set()
        wanted = ev.topic(event_type) if event_type else None
        if member is None:
            for position, topic, state in self.notifications(since):
                if wanted is None or topic == wanted:
                    yield position, ev.decode(state)
            return
        # Every event from the start is looked at: a response concerns the member through
        # its send, which may lie before `since`.
        for position, topic, state in self.notifications(0):
            event = ev.decode(state)
            concerned = _concerns(event, member, invitations, appeals)
            if concerned and position > since and wanted in (None, topic):
                yield position, event

    # Keeping the views current ----------------------------------------------

    def ensure_current(self) -> int:
        """Bring the views up to the end of the log; returns how many events were applied."""
        if not views_behind(self.store):
            return 0
        applied = 0
        position, ahead = _reading_ahead(self.store)

        def once(extracted: bulk.Extracted | None) -> tuple[int, int]:
            with _writing(self.store, extracted) as tx:
                views = Views(tx)
                return catch_up(tx, views, limit=FLUSH_EVERY, extracted=extracted), views.position

        try:
            while True:
                extracted = None if ahead is None else ahead.take(position)
                done, position = bulk.applying(extracted, once)
                applied += done
                # On while a transaction stops at its limit or after a range read ahead;
                # a log whose positions have gaps (PostgreSQL's) ends when none applies.
                ahead_applied = extracted is not None and position == extracted.last
                if not (done >= FLUSH_EVERY or (ahead_applied and done > 0)):
                    return applied
        finally:
            if ahead is not None:
                ahead.close()

    def follow(
        self,
        on_applied: Callable[[int], None],
        poll_seconds: float = 0.5,
        rounds: int | None = None,
        on_ready: Callable[[], None] | None = None,
        on_wake: Callable[[], None] | None = None,
    ) -> int:
        """Keep the views current as events arrive: by subscription on PostgreSQL (with a
        look every `poll_seconds` for rows inserted without a notification), else by polling.

        `on_ready` is told once the follower is caught up and subscribed (or polling):
        from then on no event is missed. `rounds` bounds the number of wake-ups (a
        notification or a look, on either backend; for a bounded run); None follows
        until interrupted. `on_wake` is told after each wake-up's catch-up, so that a
        caller knows how many there were when the storage fails (StorageError) midway.
        Returns how many wake-ups there were.
        """
        import time

        on_applied(self.ensure_current())
        subscribe = getattr(getattr(self.store, "recorder", None), "subscribe", None)
        if type(self.store).__name__ == "PostgresStore" and subscribe is not None:
            with self.store.read() as tx:
                position = Views(tx).position
            one_at_a_time = threading.Lock()
            stopping = threading.Event()
            failed: list[BaseException] = []
            woken = [0]

            def wake() -> bool:
                """Catch up once (holding the lock); True when that was the last round."""
                on_applied(self.ensure_current())  # one read when not behind
                woken[0] += 1
                if on_wake is not None:
                    on_wake()
                return rounds is not None and woken[0] >= rounds

            def looking(subscription: Any) -> None:
                # A row another tool inserts without the library's NOTIFY wakes no
                # subscription: a look at the log now and then catches it up too.
                while not stopping.wait(poll_seconds):
                    try:
                        with one_at_a_time:
                            if stopping.is_set():
                                return
                            if wake():
                                stopping.set()
                                subscription.stop()  # ends the loop over it below
                                return
                    except BaseException as error:  # noqa: BLE001 (raised by the follower)
                        failed.append(error)
                        subscription.stop()
                        return

            try:
                with subscribe(gt=position) as subscription:
                    looker = threading.Thread(
                        target=looking, args=(subscription,), name="invledger-look", daemon=True
                    )
                    looker.start()
                    try:
                        if on_ready is not None:
                            on_ready()
                        for _ in subscription:
                            with one_at_a_time:
                                if stopping.is_set() or wake():
                                    break
                    finally:
                        stopping.set()
                        looker.join()
            except PersistenceError as error:
                reason = " ".join(str(error).split())  # the driver's text runs over lines
                raise StorageUnavailable(
                    f"lost the subscription to {self.store.url}: {reason}"
                ) from None
            if failed:
                raise failed[0]
            return woken[0]
        if on_ready is not None:
            on_ready()
        count = 0
        while rounds is None or count < rounds:
            time.sleep(poll_seconds)
            on_applied(self.ensure_current())
            count += 1
            if on_wake is not None:
                on_wake()
        return count


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector, and restore it as it was after.

    An import keeps up to FLUSH_EVERY events' view rows alive, and each full collection
    walks them all: on 200,000 events into PostgreSQL, collections took 1.6 s of 8.3 s.
    A collection right after importing 60,000 events found nothing to free, and any
    cycle left is collected as usual once the collector runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# A batch of (line number, event, canonical JSON), the last line number and the bytes read
# so far, and the first bad line (which ends the batch) or None.
_Parsed = tuple[list[tuple[int, ev.Event, bytes]], int, int, "tuple[int, str] | None"]


def _parsed_batches(lines: Iterable[bytes]) -> Iterator[_Parsed]:
    """The lines of an import, parsed, IMPORT_BATCH events at a time; a bad line ends them."""
    batch: list[tuple[int, ev.Event, bytes]] = []
    read_bytes = number = 0
    for number, raw in enumerate(lines, 1):
        read_bytes += len(raw)
        if number == 1:
            raw = raw.removeprefix(ev.UTF8_BOM)
        if not raw.strip():
            continue
        try:
            batch.append((number, *ev.parse_and_encode(raw.rstrip(b"\r\n"))))
        except BadInput as error:
            yield batch, number, read_bytes, (number, str(error))
            return
        if len(batch) >= IMPORT_BATCH:
            yield batch, number, read_bytes, None
            batch = []
    yield batch, number, read_bytes, None


class _ImportSession:
    """The views of one import, kept in memory across its batches.

    Each batch is its own transaction (events committed, rules checked against the
    views), but the view rows are written only every FLUSH_EVERY events, at a bad
    line and at the end, together with their tracking position. A row sent in one
    batch and answered in the next is then read once and written once. If anyone
    else appended meanwhile, the kept rows may be stale: they are dropped, and the
    views are caught up from the log instead (so a crash or a discarded cache never
    loses an event: the log is the truth and tracking says how far the views got).

    On PostgreSQL the rows of each FLUSH_EVERY events are written beside the import,
    on a connection of their own (`_FlushBeside`), while its next batches are checked
    and stored: the server writes them on its own core instead of the import waiting
    for it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.views: Views | None = None
        self.written = -1  # the last position this import stored
        self.beside = hasattr(store, "views_write")
        self.flushing: _FlushBeside | None = None

    def append(
        self,
        batch: list[tuple[int, ev.Event, bytes]],
        meanwhile: Callable[[], None] | None = None,
    ) -> tuple[int, int, tuple[int, str] | None]:
        """Check and store a batch of (line number, event, its canonical JSON).

        `meanwhile` (the parse of the next lines) is run once the batch's lookups are
        sent, while the server answers them; the import passes it on PostgreSQL only.
        """
        skipped = stored = 0
        failure: tuple[int, str] | None = None
        kept, self.views = self.views, None  # dropped unless the transaction commits
        if self.flushing is not None and self.flushing.done():
            self._settle()
        if kept is not None and self.flushing is None:
            kept.settled()
        # On PostgreSQL the tracking row is not taken while this import's own rows may be
        # in flight beside it (their flush holds it until it commits).
        with self.store.write(**({"lock_views": False} if self.beside else {})) as tx:
            first = position = tx.next_position()
            locked = not self.beside
            if kept is not None and first - 1 == self.written:
                views = kept
                views.tx = tx
            else:
                # Someone appended since this import's last batch, or this is its first:
                # the views are read from the tables, once no flush is in flight beside
                # any import (another import's too: without the tracking row, its
                # position would be read before that flush's rows and the rows after,
                # applying its events twice), and none can start until this commits.
                self._settle()
                tx.lock_views()
                locked = True
                views = current_views(tx)
            stored_states = _stored_states_later(tx, {event.id for _, event, _ in batch})
            prefetched = views.prefetch_later([event for _, event, _ in batch])
            if meanwhile is not None:
                meanwhile()
            known = stored_states()
            prefetched()
            for number, event, data in batch:
                earlier = known.get(event.id)
                if earlier is not None:
                    if earlier == data:
                        skipped += 1
                        continue
                    failure = (
                        number,
                        f"event id {event.id!r} is already in the ledger with other content",
                    )
                    break
                try:
                    rules.check(event, views)
                except (RuleViolation, UnknownId, BadInput) as error:
                    failure = (number, str(error))
                    break
                views.apply(event, position)
                # On PostgreSQL the event goes to the server now, which stores the batch
                # while its later lines are checked.
                tx.stream_event(_stored(event, data))
                stored += 1
                known[event.id] = data
                position += 1
            tx.end_stream(first)
            if failure is None and views.unflushed >= FLUSH_EVERY and not locked:
                # Holds the tracking row before this batch commits: whoever writes the
                # views next reads the position these rows reach, once they are in.
                self._settle()
                self.flushing = _FlushBeside(self.store, views.hand_off())
                views.settle = self._settle
            elif failure is not None or views.unflushed >= FLUSH_EVERY:
                self._settle()
                if not locked:  # as every writer of view rows, once this import's are in
                    tx.lock_views()
                views.flush()
                views.forget()
        self.views, self.written = views, position - 1
        return stored, skipped, failure

    def _settle(self) -> None:
        """Wait for the flush in flight, if any: a failed one ends the import."""
        flushing, self.flushing = self.flushing, None
        if flushing is not None:
            flushing.wait()

    def finish(self) -> None:
        """Write the kept view rows, unless someone appended since (then they caught up)."""
        views, self.views = self.views, None
        self._settle()
        if views is None or not views.unflushed:
            return
        with self.store.write() as tx:
            if tx.next_position() - 1 == self.written:
                views.tx = tx
                views.flush()


class _FlushBeside:
    """One flush of an import's view rows, in a thread on a connection of its own.

    Started inside the batch transaction that hands the rows off, and returns once it
    holds the views' tracking row, so that no other writer reads the position before
    these rows are in.
    """

    def __init__(self, store: Store, flushed: views_module.Flushed) -> None:
        self.error: BaseException | None = None
        self._locked = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(store, flushed), name="invledger-flush"
        )
        self._thread.start()
        self._locked.wait()
        if self.error is not None:
            self.wait()

    def _run(self, store: Any, flushed: views_module.Flushed) -> None:
        try:
            with store.views_write(locked=self._locked.set) as tx:
                views_module.write(tx, flushed)
        except BaseException as error:  # noqa: BLE001 (the import's thread raises it)
            self.error = error
        finally:
            self._locked.set()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error


def current_views(tx: Tx) -> Views:
    """The views of this write transaction, first brought up to the end of the log."""
    views = Views(tx)
    if views.position < tx.next_position() - 1:
        catch_up(tx, views)
    return views


def catch_up(
    tx: Tx, views: Views, limit: int | None = None, extracted: bulk.Extracted | None = None
) -> int:
    """Apply the stored events after the views' position, in this transaction.

    Far behind (a cleared view, a long outage), whole ranges at a time in SQL; else
    page by page, event by event. A range `extracted` ahead, if it still starts where
    the views are, is applied alone (its caller reads the next one ahead of the next
    transaction).
    """
    applied = 0
    if bulk.supported(tx):
        end = tx.next_position() - 1
        while end - views.position >= bulk.WORTH_IT and (limit is None or applied < limit):
            if extracted is not None and extracted.after == views.position:
                # The log only grows: its `last` is still within `end`.
                return applied + bulk.apply_range(tx, views, extracted.last, extracted=extracted)
            applied += bulk.apply_range(tx, views, min(end, views.position + bulk.RANGE))
    while limit is None or applied < limit:
        rows = tx.notifications(views.position, CATCH_UP_PAGE)
        if not rows:
            break
        events = [(position, ev.decode(state)) for position, _, state in rows]
        views.prefetch([event for _, event in events])
        for position, event in events:
            views.apply(event, position)
        applied += len(rows)
        if views.unflushed >= FLUSH_EVERY:
            views.flush()
            views.forget()
    views.flush()
    views.forget()
    return applied


def _reading_ahead(store: Store) -> tuple[int, bulk.ReadAhead | None]:
    """Where the views are, and a reader of the ranges ahead when they are far enough
    behind for the SQL path (a SQLite file; see bulk.ReadAhead)."""
    with store.read() as tx:
        after = Views(tx).position
        if not isinstance(store, SQLiteStore) or not bulk.supported(tx):
            return after, None
        end = tx.next_position() - 1
    if end - after < bulk.WORTH_IT or not bulk.extractable(store.path):
        return after, None
    return after, bulk.ReadAhead(store.path, end)


def _writing(store: Store, extracted: bulk.Extracted | None) -> Any:
    """A write transaction, with the files of `extracted` attached."""
    if extracted is None:
        return store.write()
    assert isinstance(store, SQLiteStore)
    return store.write(working=extracted.files)


def _stored(event: ev.Event, data: bytes) -> Record:
    # (originator_id, originator_version, topic, state): the library's stored-event row.
    return (event.id, 1, _TOPICS[event.type], data)


_TOPICS = {event_type: ev.topic(event_type) for event_type in ev.EVENT_TYPES}


def _stored_states_later(tx: Tx, ids: set[str]) -> Callable[[], dict[str, bytes]]:
    """The stored form of those of `ids` already in the ledger (to skip or refuse
    duplicates): asked now, read when the result is called."""
    if not ids:
        return dict
    rows = tx.select_in_later(
        "SELECT originator_id, state FROM stored_events WHERE originator_id IN ({})", list(ids)
    )
    return lambda: {event_id: ev.stored_bytes(state) for event_id, state in rows()}


def _concerns(event: ev.Event, member: str, invitations: set[str], appeals: set[str]) -> bool:
    if isinstance(event, ev.InvitationSent):
        if member in (event.sender, event.recipient):
            invitations.add(event.invitation)
            return True
        return False
    if isinstance(event, ev.AppealFiled):
        if event.member == member:
            appeals.add(event.appeal)
            return True
        return False
    if isinstance(event, (ev.AppealGranted, ev.AppealDenied)):
        return event.appeal in appeals
    if isinstance(event, ev.PolicyChanged):
        return False
    return event.invitation in invitations
