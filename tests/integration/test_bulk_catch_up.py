"""The bulk path (whole ranges of the log in SQL) writes exactly the rows the event-by-event path writes.

Ranges of every size are tried, so the merge of a range into the rows of the
ranges before it (invitations answered later, pairs seen again, counts moved,
standing carried over) is exercised, not only the first range into empty views.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger import events as ev
from ledger.application import Ledger, catch_up
from ledger.moments import to_us
from ledger.policy import Policy
from ledger.policy_input import whole_policy
from ledger.store import SQLiteStore
from projections import bulk, rebuild
from projections.views import Views


def event_by_event(url: str, history: Path) -> Ledger:
    """The import applies each event to the views in Python: the reference rows."""
    book = Ledger(url)
    with history.open("rb") as lines:
        book.import_lines(lines)
    return book


def bulk_in_ranges(book: Ledger, size: int, start: int = 0) -> None:
    """Clear the views, apply the first `start` events one by one, then the rest in ranges."""
    rebuild.clear(book.store)
    if start:
        with book.store.write() as tx:
            views = Views(tx)
            for position, _, state in tx.notifications(0, start):
                views.prefetch([ev.decode(bytes(state))])
                views.apply(ev.decode(bytes(state)), position)
            views.flush()
    end = rebuild.last_position(book.store)
    while True:
        with book.store.write() as tx:
            views = Views(tx)
            if views.position >= end:
                return
            bulk.apply_range(tx, views, min(end, views.position + size))


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1000, 10**9])
def test_ranges_of_any_size_give_the_event_by_event_rows(
    sqlite_url: str, history: Path, size: int
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)

    bulk_in_ranges(book, size)

    assert rebuild.fingerprints(book.store) == expected


def test_bulk_ranges_continue_views_built_event_by_event(sqlite_url: str, history: Path) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)

    bulk_in_ranges(book, 333, start=1234)

    assert rebuild.fingerprints(book.store) == expected


def test_catching_up_from_far_behind_takes_the_bulk_path_and_agrees(
    sqlite_url: str, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)
    expected_latest = latest_at_us(book)
    ranges: list[tuple[int, int, bool]] = []
    apply_range = bulk.apply_range

    def recorded(tx, views, last, **options):  # type: ignore[no-untyped-def]
        extracted = options.get("extracted")
        ahead = extracted is not None and (extracted.after, extracted.last) == (
            views.position,
            last,
        )
        ranges.append((views.position, last, ahead))
        return apply_range(tx, views, last, **options)

    monkeypatch.setattr(bulk, "apply_range", recorded)
    monkeypatch.setattr(bulk, "RANGE", 500)
    rebuild.clear(book.store)

    applied = book.ensure_current()

    assert applied == rebuild.last_position(book.store)
    assert ranges and ranges[0][0] == 0
    # Each range's sends and responses were read ahead of its transaction, in files.
    assert all(ahead for _, _, ahead in ranges), ranges
    assert rebuild.fingerprints(book.store) == expected
    assert latest_at_us(book) == expected_latest


def scratch_folders(root: Path) -> list[str]:
    return sorted(name for name in os.listdir(root) if name.startswith("invledger-range-"))


def test_a_range_read_ahead_is_set_aside_when_the_views_moved_meanwhile(
    sqlite_url: str, history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rebuild.clear(book.store)
    extracted = bulk.extract_ahead(sqlite_url, 0, 4000)
    assert extracted is not None and extracted.count > 0 and len(scratch_folders(tmp_path)) == 1
    # Another process brings the views to 2500 before this one's transaction begins.
    with book.store.write() as tx:
        bulk.apply_range(tx, Views(tx), 2500)

    with book.store.write(working=extracted.files) as tx:
        views = Views(tx)
        catch_up(tx, views, extracted=extracted)
    extracted.close()

    assert rebuild.fingerprints(book.store) == expected
    assert scratch_folders(tmp_path) == []


def test_ranges_read_ahead_leave_no_file_and_a_killed_process_files_are_swept(
    sqlite_url: str, history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(bulk, "RANGE", 2000)
    an_hour_ago = time.time() - 3600

    def folder(name: str, *, age: float) -> Path:
        made = tmp_path / f"invledger-range-{name}"
        made.mkdir()
        (made / "sent.db").write_bytes(b"a range's scratch file")
        os.utime(made, (age, age))
        return made

    killed = folder("killed", age=an_hour_ago)  # its maker's lock went with it
    in_use = folder("in-use", age=an_hour_ago)  # a long range of another process
    held = (in_use / "lock").open("wb")
    fcntl.flock(held, fcntl.LOCK_EX)
    just_made = folder("just-made", age=time.time())  # not locked yet by its maker
    rebuild.clear(book.store)

    book.ensure_current()

    assert rebuild.fingerprints(book.store) == expected
    assert scratch_folders(tmp_path) == sorted([in_use.name, just_made.name])
    assert not killed.exists()
    held.close()


def test_a_scratch_replay_folder_is_locked_while_used_and_swept_once_its_process_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the folder of a `replay --check` killed an hour ago, and one still in use
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    an_hour_ago = time.time() - 3600
    killed, in_use = tmp_path / "invledger-scratch-killed", tmp_path / "invledger-scratch-in-use"
    for made in (killed, in_use):
        made.mkdir()
        (made / "scratch.db").write_bytes(b"a scratch ledger")
        os.utime(made, (an_hour_ago, an_hour_ago))
    held = (in_use / "lock").open("wb")
    fcntl.flock(held, fcntl.LOCK_EX)

    # When another scratch replay begins
    with rebuild.scratch():
        (mine,) = set(tmp_path.iterdir()) - {in_use}
        # Then its own folder is locked while it runs, the killed one's is gone
        with (mine / "lock").open("ab") as probe, pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert not killed.exists()

    assert sorted(tmp_path.iterdir()) == [in_use]
    held.close()


def test_a_scratch_file_removed_before_its_transaction_leaves_the_range_to_read_itself(
    sqlite_url: str, history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    take = bulk.ReadAhead.take

    def swept_meanwhile(self, after):  # type: ignore[no-untyped-def]
        extracted = take(self, after)
        if extracted is not None:
            os.remove(extracted.files[1])
        return extracted

    monkeypatch.setattr(bulk.ReadAhead, "take", swept_meanwhile)
    rebuild.clear(book.store)

    book.ensure_current()
    with rebuild.scratch() as space:
        rebuild.feed(book.store, space)
        assert rebuild.fingerprints(space) == expected

    assert rebuild.fingerprints(book.store) == expected
    assert scratch_folders(tmp_path) == []
    # The writer's pooled connection kept nothing attached.
    with book.store.write() as tx:
        names = [row[1] for row in tx.all("PRAGMA database_list")]
    assert not [name for name in names if name.startswith("work") or name == "log"], names


def test_a_reader_ahead_gives_each_range_once_and_sets_aside_what_the_views_skipped(
    sqlite_url: str, history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    end = rebuild.last_position(book.store)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(bulk, "RANGE", 2000)
    ahead = bulk.ReadAhead(sqlite_url, end)

    first = ahead.take(0)
    assert first is not None and (first.after, first.last) == (0, 2000)
    first.close()
    # The range after it was being read meanwhile; the views went elsewhere instead.
    moved = ahead.take(1500)
    assert moved is not None and (moved.after, moved.last) == (1500, 3500)
    moved.close()
    following = ahead.take(3500)
    assert following is not None and following.after == 3500
    following.close()
    assert ahead.take(end) is None  # nothing left to read
    ahead.close()

    assert scratch_folders(tmp_path) == []


def test_without_a_writable_temporary_folder_a_range_reads_its_events_itself(
    sqlite_url: str, history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    rebuild.clear(book.store)

    assert bulk.extract_ahead(sqlite_url, 0, 3000) is None
    book.ensure_current()

    assert rebuild.fingerprints(book.store) == expected


HOSTILE = [
    # Ids and handles with quotes, backslashes, unicode; times with fractions, zones, 1950.
    {
        "type": "invitation_sent",
        "id": 'e"1',
        "at": "1950-03-01T10:00:00.5+02:00",
        "invitation": 'i"1',
        "sender": 'a"b',
        "recipient": "z\\y",
    },
    {
        "type": "invitation_ignored",
        "id": "e\\2",
        "at": "1950-03-01T08:00:00.600001Z",
        "invitation": 'i"1',
    },
    {
        "type": "invitation_marked_unknown",
        "id": "é3",
        "at": "1950-03-02T00:00:00Z",
        "invitation": 'i"1',
    },
    {
        "type": "invitation_sent",
        "id": "e4",
        "at": "2024-02-29T23:59:59.999999-05:00",
        "invitation": "ü",
        "sender": "z\\y",
        "recipient": 'a"b',
        "message": '«hi» \\ "x"',
    },
    {"type": "invitation_accepted", "id": "e5", "at": "2024-03-01T05:00:00.25Z", "invitation": "ü"},
    {
        "type": "invitation_sent",
        "id": "e6",
        "at": "2024-03-02T00:00:00Z",
        "invitation": "日本",
        "sender": "m1",
        "recipient": 'a"b',
    },
    {
        "type": "invitation_withdrawn",
        "id": "e7",
        "at": "2024-03-02T00:00:01Z",
        "invitation": "日本",
    },
    {
        "type": "invitation_sent",
        "id": "e8",
        "at": "2024-03-03T00:00:00Z",
        "invitation": "i8",
        "sender": "m1",
        "recipient": 'a"b',
    },
]


@pytest.mark.parametrize("size", [1, 3, 100])
def test_quotes_backslashes_unicode_and_odd_times_survive_the_sql_path(
    sqlite_url: str, tmp_path: Path, size: int
) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in HOSTILE))
    book = event_by_event(sqlite_url, path)
    expected = rebuild.fingerprints(book.store)
    with book.store.read() as tx:
        pairs = tx.all("SELECT sender, recipient, pending, block_us FROM inv_pairs ORDER BY 1, 2")

    bulk_in_ranges(book, size)

    assert rebuild.fingerprints(book.store) == expected
    ignored_at = to_us(datetime(1950, 3, 1, 8, 0, 0, 600001, tzinfo=UTC))
    assert ('a"b', "z\\y", None, ignored_at) in pairs
    with book.store.read() as tx:
        assert (
            tx.all("SELECT sender, recipient, pending, block_us FROM inv_pairs ORDER BY 1, 2")
            == pairs
        )


def latest_at_us(book: Ledger) -> str | None:
    with book.store.read() as tx:
        row = tx.one("SELECT value FROM inv_meta WHERE key = 'latest_at_us'")
    return row[0] if row else None


def test_the_sql_path_records_the_latest_event_time_like_the_event_by_event_path(
    sqlite_url: str, history: Path
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = latest_at_us(book)
    assert expected is not None

    bulk_in_ranges(book, 777)

    assert latest_at_us(book) == expected


def test_a_range_read_ahead_records_its_latest_time_even_when_later_ranges_are_earlier(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first event logged is the latest in time: the ranges after it, and the tail
    # applied one by one, are all earlier.
    path = tmp_path / "late-first.jsonl"
    with path.open("w") as out:
        for number in range(4500):
            at = (
                "2030-06-01T12:00:00.25Z"
                if number == 0
                else f"2026-01-01T{number // 3600:02}:{number // 60 % 60:02}:{number % 60:02}Z"
            )
            out.write(
                json.dumps(
                    {
                        "type": "invitation_sent",
                        "id": f"e{number}",
                        "at": at,
                        "invitation": f"i{number}",
                        "sender": f"s{number}",
                        "recipient": f"r{number}",
                    }
                )
                + "\n"
            )
    book = event_by_event(sqlite_url, path)
    expected = latest_at_us(book)
    assert expected == str(to_us(datetime(2030, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)))
    monkeypatch.setattr(bulk, "RANGE", 2000)
    rebuild.clear(book.store)

    book.ensure_current()

    assert latest_at_us(book) == expected


# A warning opened under warn_at=2, a looser policy (warn_at=5), then a stricter one
# again: whether the member stands warned must not depend on where a range ends.
LOOSER_THEN_STRICTER = [
    {
        "id": "p2",
        "type": "policy_changed",
        "at": "2025-01-01T00:00:00Z",
        "policy": {"version": 2, "warn_at": 2},
    },
    {
        "id": "s1",
        "type": "invitation_sent",
        "at": "2025-01-02T00:00:00Z",
        "invitation": "i1",
        "sender": "m",
        "recipient": "a",
    },
    {
        "id": "s2",
        "type": "invitation_sent",
        "at": "2025-01-02T00:00:00Z",
        "invitation": "i2",
        "sender": "m",
        "recipient": "b",
    },
    {
        "id": "u1",
        "type": "invitation_marked_unknown",
        "at": "2025-01-03T00:00:00Z",
        "invitation": "i1",
    },
    {
        "id": "u2",
        "type": "invitation_marked_unknown",
        "at": "2025-01-03T00:00:00Z",
        "invitation": "i2",
    },
    {
        "id": "p3",
        "type": "policy_changed",
        "at": "2025-01-04T00:00:00Z",
        "policy": {"version": 3, "warn_at": 5},
    },
    {
        "id": "p4",
        "type": "policy_changed",
        "at": "2025-01-05T00:00:00Z",
        "policy": {"version": 4, "warn_at": 2},
    },
    {
        "id": "p5",
        "type": "policy_changed",
        "at": "2025-03-01T00:00:00Z",
        "policy": {"version": 5, "window_days": 31},
    },
]


def test_policy_changes_judge_the_same_members_however_the_log_is_split(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "policies.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in LOOSER_THEN_STRICTER))
    book = event_by_event(sqlite_url, path)
    expected = rebuild.fingerprints(book.store)
    with book.store.read() as tx:
        level = tx.one("SELECT level FROM inv_standing WHERE member = 'm'")
    # The warning is open until the window passes it, at p5 (judged under window_days=30).
    assert level == ("good",)

    for size in (1, 2, 3, 5, 6, 7):
        for start in range(len(LOOSER_THEN_STRICTER)):
            bulk_in_ranges(book, size, start=start)
            assert rebuild.fingerprints(book.store) == expected, (size, start)


def test_appending_one_by_one_gives_the_rows_of_an_import(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "policies.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in LOOSER_THEN_STRICTER))
    imported = rebuild.fingerprints(event_by_event(sqlite_url, path).store)
    one_by_one = Ledger(str(tmp_path / "appended.db"))
    for fields in LOOSER_THEN_STRICTER:
        one_by_one.record(fields)

    assert rebuild.fingerprints(one_by_one.store) == imported


def test_an_sqlite_older_than_3_38_catches_up_event_by_event(
    sqlite_url: str, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    expected = rebuild.fingerprints(book.store)
    monkeypatch.setattr(bulk.sqlite3, "sqlite_version_info", (3, 37, 2))
    monkeypatch.setattr(bulk, "apply_range", lambda *args: pytest.fail("took the SQL path"))

    rebuilt = rebuild.rebuild(book.store)

    assert rebuilt.fingerprints == expected


def test_a_replay_reports_progress_within_each_range_and_in_total_every_event(
    sqlite_url: str, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    monkeypatch.setattr(bulk, "RANGE", 2500)
    parts: list[int] = []

    rebuilt = rebuild.rebuild(book.store, progress=parts.append)

    assert sum(parts) == rebuilt.events == rebuild.last_position(book.store)
    # Several steps of each full range, not one jump per range (a tail shorter than
    # WORTH_IT goes one by one).
    assert len(parts) >= 4 * (rebuilt.events // 2500)


def scratch_fingerprints(
    book: Ledger,
    *,
    in_sql: bool,
    until: datetime | None = None,
    policy: Policy | None = None,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, str], int]:
    """A scratch rebuild of the ledger's events, read in SQL (the file attached) or one by
    one: its fingerprints and how many events it passed."""
    with monkeypatch.context() as patch:
        if not in_sql:
            patch.setattr(rebuild, "_in_sql", lambda source, target, through=None: False)
        with rebuild.scratch() as space:
            passed = rebuild.feed(book.store, space, until=until, policy=policy)
            return rebuild.fingerprints(space), passed


def moments_of(history: Path, count: int) -> list[datetime]:
    times = sorted(datetime.fromisoformat(json.loads(line)["at"]) for line in history.open())
    return [times[i * (len(times) - 1) // (count - 1)] for i in range(count)]


@pytest.mark.parametrize("size", [700, 10**9])
def test_a_scratch_rebuild_reads_another_ledger_in_sql_as_it_would_one_by_one(
    ledger_url: str, history: Path, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SQLite ledger is attached to the scratch; PostgreSQL's events are copied into it.
    book = event_by_event(ledger_url, history)
    log = "stored_events" if ledger_url.startswith("postgresql") else "log.stored_events"
    monkeypatch.setattr(bulk, "RANGE", size)
    ranges: list[str] = []
    apply_range = bulk.apply_range

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        ranges.append(kwargs["log"])
        # A SQLite ledger's sends and responses are read ahead of each range's transaction.
        ahead = kwargs["extracted"] is not None
        assert ahead == (log == "log.stored_events"), kwargs
        return apply_range(*args, **kwargs)

    stricter = whole_policy({"warn_at": 2, "restrict_at": 3, "window_days": 60})
    cases = [(None, None), (None, stricter)]
    cases += [(moment, None) for moment in moments_of(history, 5)[1:]]
    cases += [(moment, stricter) for moment in moments_of(history, 3)[1:]]
    for until, policy in cases:
        expected = scratch_fingerprints(
            book, in_sql=False, until=until, policy=policy, monkeypatch=monkeypatch
        )
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "apply_range", recorded)
            got = scratch_fingerprints(
                book, in_sql=True, until=until, policy=policy, monkeypatch=monkeypatch
            )
        assert got == expected, (until, policy)
    # Every case went through SQL, reading the ledger's events where they were put.
    assert len(ranges) >= len(cases) and set(ranges) == {log}
    assert scratch_fingerprints(book, in_sql=False, monkeypatch=monkeypatch)[0] == (
        rebuild.fingerprints(book.store)
    )


def test_a_scratch_rebuild_in_sql_leaves_other_writers_free(
    sqlite_url: str, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = event_by_event(sqlite_url, history)
    other = Ledger(store=SQLiteStore(sqlite_url, lock_timeout=2))  # locked: fails in 2 s
    appended: list[int] = []
    apply_range = bulk.apply_range

    def append_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Inside the scratch's write transaction, with the ledger attached to it.
        appended.append(
            other.record(
                {
                    "type": "invitation_sent",
                    "invitation": f"during-{len(appended)}",
                    "sender": "zed",
                    "recipient": f"y{len(appended)}",
                }
            ).position
        )
        return apply_range(*args, **kwargs)

    monkeypatch.setattr(bulk, "apply_range", append_meanwhile)
    with rebuild.scratch() as space:
        rebuild.feed(book.store, space)
    assert appended and all(position > 0 for position in appended)
    other.close()


def test_a_ledger_file_with_uri_characters_in_its_name_is_read_in_sql(
    tmp_path: Path, history: Path
) -> None:
    book = event_by_event(str(tmp_path / "odd name %41 ?x=1 #y.db"), history)
    with rebuild.scratch() as space:
        assert rebuild._in_sql(book.store, space)
        rebuild.feed(book.store, space)
        assert rebuild.fingerprints(space) == rebuild.fingerprints(book.store)


def test_the_latest_time_of_a_range_counts_fractions_within_its_latest_second(
    sqlite_url: str, tmp_path: Path
) -> None:
    # The latest second holds a whole-second send and a response half a second later; a
    # send logged after them is dated a moment before that second.
    events = [
        {"type": "invitation_sent", "id": "s1", "at": "2026-01-01T00:00:00Z",
         "invitation": "i1", "sender": "ana", "recipient": "ben"},
        {"type": "invitation_ignored", "id": "g1", "at": "2026-01-01T00:00:00.5Z",
         "invitation": "i1"},
        {"type": "invitation_sent", "id": "s2", "at": "2025-12-31T23:59:59.999999Z",
         "invitation": "i2", "sender": "ana", "recipient": "cy"},
        {"type": "invitation_sent", "id": "s3", "at": "2026-01-01T00:00:00.25Z",
         "invitation": "i3", "sender": "ana", "recipient": "dee"},
    ]  # fmt: skip
    path = tmp_path / "seconds.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    book = event_by_event(sqlite_url, path)
    expected = str(to_us(datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)))
    assert latest_at_us(book) == expected

    bulk_in_ranges(book, 10**9)

    assert latest_at_us(book) == expected
