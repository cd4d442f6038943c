#!/usr/bin/env python
"""invledger benchmark: each measure beside a baseline measured in the same run, on the same rows.

    python bench/run.py [--events N] [--json] [--postgres URL] [--skip-baselines [NAME ...]]

See bench/README.md for what each number means. Progress goes to stderr; the table (or,
with --json, one JSON object) to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path.insert(0, str(ROOT))

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ledger import events as ev
from ledger.application import Ledger
from ledger.errors import StorageError
from ledger.simulation import simulate
from ledger.store import SQLiteStore
from projections import queries
from projections.rebuild import clear, feed, rebuild

EVENTS_PER_INVITATION = 1.9  # the simulation yields ~1.92; the file is cut at exactly N lines
RAW_BATCH = 5000
QUERY_SAMPLES = 2000
CLI_RUNS = 7
LIBRARY_SINGLE = 3000
LIBRARY_BATCH, LIBRARY_BATCHES = 1000, 20
WRITERS, WRITE_SECONDS = 8, 12  # concurrent writer processes while checking, and for how long
BASELINES = ("raw-insert", "scan", "floor", "library")
FLOOR_CODE = "import eventsourcing.application, pydantic, click"
ID = re.compile(rb'"id":"([^"]*)"')

# The import runs in a child process so its peak RSS is its own.
CHILD_IMPORT = r"""
import json, resource, sys, time
from ledger.application import Ledger
db, path, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
book = Ledger(db)
step = max(1, total // 10)
mark = [step]
def progress(lines, _read):
    if lines >= mark[0]:
        print(f"[bench]   imported {lines:,} / {total:,} lines", file=sys.stderr, flush=True)
        mark[0] = (lines // step + 1) * step
start = time.perf_counter()
with open(path, "rb") as lines:
    result = book.import_lines(lines, progress)
seconds = time.perf_counter() - start
book.close()
print(json.dumps({"imported": result.imported, "skipped": result.skipped, "seconds": seconds,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# A full replay (`rebuild`, as `invledger replay` runs it) in a child process, so its
# peak RSS is its own.
CHILD_REPLAY = r"""
import json, resource, sys, time
from ledger.application import Ledger
from projections.rebuild import rebuild
book = Ledger(sys.argv[1])
start = time.perf_counter()
done = rebuild(book.store)
seconds = time.perf_counter() - start
book.close()
print(json.dumps({"events": done.events, "seconds": seconds,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# The Python work of an import, with nothing written: each line parsed and encoded, the
# batch's lookups answered by an empty ledger (a real SQLite file), every rule checked and
# every event applied to the views, and the rows a flush would write built once at the
# end. The rows stay in memory (an empty ledger cannot give them back); the cyclic garbage
# collector is off, as its passes over that growing heap are no work an import must do
# (with it on, the same run varied from 23 to 33 us an event). What is left is close to the
# least that an import running the rules and the views in Python must do, whatever it does
# with the database meanwhile. Not a strict bound on a long file: the rows kept here grow
# with it, where the import keeps at most 50,000 events' rows and looks the others up.
CHILD_PYTHON_FLOOR = r"""
import gc, itertools, json, sys, time
gc.disable()
from ledger import events as ev, rules
from ledger.application import IMPORT_BATCH
from ledger.store import SQLiteStore
from projections.views import Views
store = SQLiteStore(sys.argv[1])
count = 0
with store.read() as tx, open(sys.argv[2], "rb") as lines:
    views = Views(tx, reading=True)
    start = time.perf_counter()
    while batch := [ev.parse_and_encode(line.rstrip(b"\n"))[0]
                    for line in itertools.islice(lines, IMPORT_BATCH)]:
        views.prefetch(batch)
        for event in batch:
            count += 1
            rules.check(event, views)
            views.apply(event, count)
    views.changed_rows()
    seconds = time.perf_counter() - start
store.close()
print(json.dumps({"events": count, "seconds": seconds}))
"""


# A writer appends invitations between members of its own (never refused) as fast as it can,
# from the moment its stdin closes (the parent's "go", or the parent is gone) for `seconds`.
CHILD_WRITER = r"""
import json, sys, time
from ledger.application import Ledger
url, prefix, at, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
book = Ledger(url)
print("ready", flush=True)
sys.stdin.read()
start, count = time.monotonic(), 0
while time.monotonic() - start < seconds:
    fields = {"type": "invitation_sent", "invitation": f"{prefix}-i{count}", "at": at,
              "sender": f"{prefix}-s{count % 50}", "recipient": f"{prefix}-r{count}"}
    book.record(fields, command_rules=False)
    count += 1
book.close()
print(json.dumps({"appends": count, "seconds": time.monotonic() - start}), flush=True)
"""


@dataclass
class Measure:
    label: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def compare(
    measure: Measure,
    baseline: float | None,
    label: str,
    floor: float | None = None,
    ceiling: float | None = None,
) -> Measure:
    """Fill in the baseline, the ratio value/baseline and whether the ratio meets its target."""
    if baseline:
        measure.baseline, measure.baseline_label = baseline, label
        measure.ratio = measure.value / baseline
        if floor is not None:
            measure.met = measure.ratio >= floor
        if ceiling is not None:
            measure.met = measure.ratio <= ceiling
    if floor is not None or ceiling is not None:
        measure.target = f">= {floor} x" if floor is not None else f"<= {ceiling} x"
    return measure


def limit(measure: Measure, ceiling: float) -> Measure:
    measure.target, measure.met = f"<= {ceiling:g} {measure.unit}", measure.value <= ceiling
    return measure


# The history -------------------------------------------------------------------------


def history(events: int, seed: int) -> Path:
    """The simulated JSONL history, cached under bench/out/ by parameters and simulation code."""
    invitations = math.ceil(events / EVENTS_PER_INVITATION)
    members = max(50, invitations // 10)
    code = hashlib.sha256((ROOT / "ledger" / "simulation.py").read_bytes()).hexdigest()[:8]
    path = OUT / f"history-n{events}-m{members}-i{invitations}-s{seed}-{code}.jsonl"
    if path.exists():
        log(f"history: {path.relative_to(ROOT)} (cached)")
        return path
    log(f"simulating {events:,} events ({members:,} members, {invitations:,} invitations)")
    OUT.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as out:
        for number, fact in enumerate(simulate(members, invitations, seed), 1):
            out.write(json.dumps(fact, separators=(",", ":")) + "\n")
            if number == events:
                break
    partial.rename(path)
    return path


def line_count(path: Path) -> int:
    with open(path, "rb") as lines:
        return sum(1 for _ in lines)


def sample_sends(path: Path, count: int, total: int, seed: int) -> list[dict]:
    """About `count` invitation_sent events drawn at random from the history."""
    rng = random.Random(seed)
    keep = min(1.0, 3 * count / max(total, 1))
    with open(path, "rb") as lines:
        sends = [
            json.loads(line)
            for line in lines
            if b'"invitation_sent"' in line and rng.random() < keep
        ]
    return rng.sample(sends, min(count, len(sends)))


# Import and its baselines ------------------------------------------------------------


def run_child(script: str, *args: str) -> dict:
    """One of the CHILD_* scripts in a fresh process: the JSON object of its last line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        check=True,
        env=env,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_import(db: str, path: Path, total: int) -> dict:
    """Ledger.import_lines in a fresh process: its rate and peak RSS."""
    result = run_child(CHILD_IMPORT, db, str(path), str(total))
    if result["imported"] != total:
        sys.exit(
            f"bench: imported {result['imported']} of {total} events into {db} "
            f"({result['skipped']} already there): use an empty database"
        )
    return result


def python_floor(folder: Path, path: Path, total: int) -> float:
    """Events/s of CHILD_PYTHON_FLOOR on the file, in a fresh process."""
    result = run_child(CHILD_PYTHON_FLOOR, str(folder / "empty.db"), str(path))
    if result["events"] != total:
        sys.exit(f"bench: the Python floor saw {result['events']} of {total} events")
    return float(result["events"]) / result["seconds"]


def raw_insert(db: Path, path: Path, unique: bool) -> float:
    """Plain sqlite3: executemany of (id, line) in batches, WAL, synchronous left at default."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    key = "PRIMARY KEY" if unique else ""
    conn.execute(f"CREATE TABLE raw (id TEXT {key}, line BLOB)")

    def insert() -> int:
        count, batch = 0, []
        with open(path, "rb") as lines:
            for line in lines:
                line = line.rstrip(b"\n")
                batch.append((ID.search(line).group(1).decode(), line))
                if len(batch) == RAW_BATCH:
                    count += write(batch)
                    batch = []
        return count + write(batch)

    def write(batch: list) -> int:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw VALUES (?, ?)", batch)
        conn.execute("COMMIT")
        return len(batch)

    seconds, count = timed(insert)
    conn.close()
    return count / seconds


def store_floor(db: Path, path: Path) -> float:
    """What any import must do before a rule or a view: each line validated by the event
    models, its canonical form, and the row stored through the ledger's own insert."""
    store = SQLiteStore(str(db))

    def insert() -> int:
        count, batch = 0, []
        with open(path, "rb") as lines:
            for line in lines:
                event, data = ev.parse_and_encode(line.rstrip(b"\n"))
                batch.append((event.id, 1, ev.topic(event.type), data))
                if len(batch) == RAW_BATCH:
                    count += write(batch)
                    batch = []
        return count + write(batch)

    def write(batch: list) -> int:
        with store.write() as tx:
            tx.insert_events(batch, tx.next_position())
        return len(batch)

    seconds, count = timed(insert)
    store.close()
    return count / seconds


# The eventsourcing library's aggregate path ------------------------------------------


class Invitation(Aggregate):
    @event("Sent")
    def __init__(self, sender: str, recipient: str, message: str | None = None) -> None:
        self.sender, self.recipient, self.message = sender, recipient, message


class LibraryBench(Application):
    pass


def library_env(url: str) -> dict[str, str]:
    if not url.startswith(("postgresql://", "postgres://")):
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": url}
    parts = urlparse(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")),
        "POSTGRES_HOST": parts.hostname or "localhost",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }


def library_saves(url: str, sends: list[dict], per_save: int, count: int) -> float:
    """Events/s of `count` Invitation aggregates saved `per_save` at a time."""
    app = LibraryBench(env=library_env(url))
    rows = [(s["sender"], s["recipient"], s.get("message")) for s in sends]
    rows = (rows * (count // len(rows) + 1))[:count]

    def save_all() -> None:
        for start in range(0, count, per_save):
            app.save(*[Invitation(*row) for row in rows[start : start + per_save]])

    seconds, _ = timed(save_all)
    app.close()
    return count / seconds


# Catch-up, replay and their baseline -------------------------------------------------


def catch_up_rate(db: str) -> float:
    book = Ledger(db)
    clear(book.store)
    seconds, applied = timed(book.ensure_current)
    book.close()
    return applied / seconds


def replay_rates(db: str) -> tuple[float, float]:
    """Events/s of `rebuild` as `invledger replay` runs it (views and fingerprints), and of
    the rebuild of the views alone (the same steps, the fingerprints left out)."""
    book = Ledger(db)
    seconds, rebuilt = timed(lambda: rebuild(book.store))
    views_only, applied = timed(lambda: (clear(book.store), feed(book.store, book.store))[1])
    book.close()
    return rebuilt.events / seconds, applied / views_only


def raw_scan(db: str) -> float:
    """Plain sqlite3: every stored event in rowid order, and json.loads of its state."""
    conn = sqlite3.connect(db)

    def scan() -> int:
        count = 0
        for _, state in conn.execute("SELECT rowid, state FROM stored_events ORDER BY rowid"):
            json.loads(state)
            count += 1
        return count

    seconds, count = timed(scan)
    conn.close()
    return count / seconds


def first_half(db: str, half: Path) -> int:
    """A new ledger at `half` holding the first half of `db`'s events (views empty)."""
    Ledger(str(half)).close()  # the schema
    conn = sqlite3.connect(half, isolation_level=None)
    (total,) = (
        conn.execute("ATTACH DATABASE ? AS full", (db,))
        .execute("SELECT count(*) FROM full.stored_events")
        .fetchone()
    )
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, "
        "state) SELECT rowid, originator_id, originator_version, topic, state "
        "FROM full.stored_events WHERE rowid <= ? ORDER BY rowid",
        (total // 2,),
    )
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE full")
    conn.close()
    return total // 2


def child_replay(db: str) -> dict:
    return run_child(CHILD_REPLAY, db)


def measure_replay_memory(db: str, folder: Path) -> dict:
    """Peak RSS of a full replay of the whole log beside that of its first half, each in
    a child process of its own: flat in the log's length means a ratio near 1."""
    half = folder / "half.db"
    events = first_half(db, half)
    log(f"replay peak RSS (child processes): the whole log, then its first {events:,} events")
    whole, halved = child_replay(db), child_replay(str(half))
    rss, half_rss = (child["peak_rss_kb"] * 1024 / 1e6 for child in (whole, halved))
    log(
        f"  {rss:,.0f} MB for {whole['events']:,} events, {half_rss:,.0f} MB for "
        f"{halved['events']:,}"
    )
    return {
        "replay_rss": compare(
            Measure("replay peak RSS", rss, "MB"),
            half_rss,
            f"the same for the first {halved['events']:,} events",
            ceiling=1.1,
        )
    }


# Queries -----------------------------------------------------------------------------


def latencies(
    book: Ledger, query: Callable, argsets: list[tuple], probe: Callable[[], object] | None = None
) -> tuple[list, list]:
    """Milliseconds of each query, each in its own read transaction, as the CLI runs it.

    With `probe` (a raw point read in its own transaction), it is timed right after each
    query: the same machine at the same moment, without invledger.
    """
    book.ensure_current()
    for args in argsets[:20]:  # warm up
        with book.store.read() as tx:
            query(tx, *args, datetime.now(UTC))
    found, raw = [], []
    for args in argsets:
        moment = datetime.now(UTC)
        start = time.perf_counter()
        with book.store.read() as tx:
            query(tx, *args, moment)
        found.append((time.perf_counter() - start) * 1000)
        if probe:
            seconds, _ = timed(probe)
            raw.append(seconds * 1000)
    return found, raw


def point_reads(url: str, ids: list[str]) -> Callable[[], object]:
    """One raw read of a stored event by id, in its own transaction (sqlite3 or psycopg)."""
    sql = "SELECT state FROM stored_events WHERE originator_id = ?"
    ring = itertools.cycle(ids)
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        pg = psycopg.connect(url)
        sql = sql.replace("?", "%s")
        return lambda: (pg.execute(sql, (next(ring),)).fetchone(), pg.rollback())
    conn = sqlite3.connect(url, isolation_level=None)
    return lambda: (
        conn.execute("BEGIN"),
        conn.execute(sql, (next(ring),)).fetchone(),
        conn.execute("ROLLBACK"),
    )


def check_measures(
    book: Ledger, url: str, sends: list[dict], seed: int, key: str, where: str = ""
) -> dict:
    """check p50 and p99, each beside the same percentile of a raw point read."""
    probe = point_reads(url, [s["id"] for s in sends])
    checks, raw = latencies(book, queries.check, check_pairs(sends, seed), probe)
    return {
        f"{key}_p{q}": compare(
            Measure(f"check p{q}{where}", percentile(checks, q / 100), "ms"),
            percentile(raw, q / 100),
            "raw point read beside it",
        )
        for q in (50, 99)
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def check_pairs(sends: list[dict], seed: int) -> list[tuple]:
    """Invited pairs (mostly refused: pending, connected, blocked) and random pairs, alternately."""
    rng = random.Random(seed)
    members = [s["sender"] for s in sends] + [s["recipient"] for s in sends]
    return [
        (s["sender"], s["recipient"] if i % 2 else rng.choice(members), None)
        for i, s in enumerate(sends)
    ]


def checks_with_writers(url: str, sends: list[dict], seed: int) -> tuple[list[float], float]:
    """check latencies (ms) while WRITERS processes append to the same ledger; their appends/s.

    The checks (QUERY_SAMPLES pairs) are paced to spread over the writers' WRITE_SECONDS and
    stop early if the writers do. The writers' events are dated now, so the checks (at now,
    a bit later) read the current views, as without writers.
    """
    at = datetime.now(UTC).isoformat()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD_WRITER, url, f"bench-w{k}", at, str(WRITE_SECONDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for k in range(WRITERS)
    ]
    try:
        for writer in writers:
            writer.stdout.readline()  # "ready": started, imported, store open
        book = Ledger(url)
        pairs = check_pairs(sends, seed)
        latencies(book, queries.check, pairs[:20])  # views current, warmed up
        for writer in writers:
            writer.stdin.close()  # go
        begin = time.monotonic()
        pace = (WRITE_SECONDS - 1) / len(pairs)  # the checks spread over the writers' time
        found = []
        for number, args in enumerate(pairs):
            time.sleep(max(0.0, begin + number * pace - time.monotonic()))
            if time.monotonic() > begin + WRITE_SECONDS - 0.5:
                break
            moment = datetime.now(UTC)
            start = time.perf_counter()
            with book.store.read() as tx:
                queries.check(tx, *args, moment)
            found.append((time.perf_counter() - start) * 1000)
        book.close()
        outputs = [w.stdout.read() for w in writers]  # they stop by themselves
        if any(w.wait() for w in writers):
            sys.exit("bench: a writer process failed (its error is above)")
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    done = [json.loads(output) for output in outputs]
    return found, sum(d["appends"] / d["seconds"] for d in done)


def cli_status(db: str, member: str) -> tuple[float, float]:
    """Median wall ms of `invledger status --json`, and of the bare imports (interleaved)."""
    script = Path(sys.executable).with_name("invledger")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cli"]
    status = [*command, "--db", db, "status", member, "--json"]
    floor = [sys.executable, "-c", FLOOR_CODE]
    walls: dict[str, list[float]] = {"status": [], "floor": []}
    for run in range(CLI_RUNS + 1):
        for name, argv in (("status", status), ("floor", floor)):
            seconds, _ = timed(
                lambda argv=argv: subprocess.run(
                    argv, stdout=subprocess.DEVNULL, check=True, cwd=ROOT
                )
            )
            if run:  # the first round warms the page cache
                walls[name].append(seconds * 1000)
    return statistics.median(walls["status"]), statistics.median(walls["floor"])


# The runs, one function per measure --------------------------------------------------


def measure_import(db: str, path: Path, total: int, folder: Path, skip: set[str]) -> dict:
    log("import into a fresh SQLite file (child process)")
    child = child_import(db, path, total)
    rate, rss = total / child["seconds"], child["peak_rss_kb"] * 1024 / 1e6
    log(f"  import: {rate:,.0f} events/s, peak RSS {rss:,.0f} MB")
    with_key = without_key = floor = None
    if "raw-insert" not in skip:
        log("baseline: raw sqlite3 insert, with and without the unique key")
        with_key = raw_insert(folder / "raw-key.db", path, unique=True)
        without_key = raw_insert(folder / "raw-nokey.db", path, unique=False)
        log(f"  raw insert: {with_key:,.0f} events/s with key, {without_key:,.0f} without")
        log("floor: validation + canonical form + the ledger's insert, no rule, no view")
        floor = store_floor(folder / "floor.db", path)
        log(f"  {floor:,.0f} events/s")
    measures = {
        "import": compare(
            Measure("import, SQLite", rate, "events/s"),
            with_key,
            "raw insert, unique key",
            floor=0.4,
        ),
        "import_no_key": compare(
            Measure("import vs insert without key", rate, "events/s"),
            without_key,
            "raw insert, no key",
        ),
    }
    if floor is not None:
        # Beside the same raw insert: how near 0.4 x any import can come that validates
        # each line with the event models and stores it (README, Performance).
        measures["import_floor"] = compare(
            Measure("floor: validate + encode + store", floor, "events/s"),
            with_key,
            "raw insert, unique key",
        )
    measures["peak_rss"] = limit(Measure("import peak RSS", rss, "MB"), 300)
    return measures


def measure_library(rate: float, folder: Path, sends: list[dict]) -> dict:
    log(f"baseline: the library's aggregates on SQLite, {LIBRARY_SINGLE:,} single saves")
    single = library_saves(str(folder / "lib-single.db"), sends, 1, LIBRARY_SINGLE)
    log(f"  {single:,.0f} events/s; now {LIBRARY_BATCHES} saves of {LIBRARY_BATCH:,}")
    batched = library_saves(
        str(folder / "lib-batch.db"), sends, LIBRARY_BATCH, LIBRARY_BATCH * LIBRARY_BATCHES
    )
    log(f"  {batched:,.0f} events/s")
    return {
        "vs_library_single": compare(
            Measure("import vs library, save each", rate, "events/s"),
            single,
            "library, 1 aggregate/save",
        ),
        "vs_library_batched": compare(
            Measure("import vs library, batched", rate, "events/s"),
            batched,
            "library, 1000 aggregates/save",
        ),
    }


REPLAY_ROUNDS = 3  # catch-up, replay and their baseline, interleaved: medians


def measure_replay(db: str, skip: set[str]) -> dict:
    """Catch-up, replay and the raw scan, REPLAY_ROUNDS times one after the other: the
    medians (each ratio is its measure's median over the scan's, both from the same
    rounds, so a slow minute of a noisy machine weighs on both)."""
    rounds: dict[str, list[float]] = {"catch_up": [], "replay": [], "views": [], "scan": []}
    for number in range(1, REPLAY_ROUNDS + 1):
        log(
            f"round {number} of {REPLAY_ROUNDS}: catch-up (clear the views, then "
            "Ledger.ensure_current()), full replay (rebuild), raw scan"
        )
        rounds["catch_up"].append(catch_up_rate(db))
        replay, views_only = replay_rates(db)
        rounds["replay"].append(replay)
        rounds["views"].append(views_only)
        if "scan" not in skip:
            rounds["scan"].append(raw_scan(db))
        log(
            "  "
            + ", ".join(f"{key} {values[-1]:,.0f}/s" for key, values in rounds.items() if values)
        )
    catch_up, replay, views_only = (
        statistics.median(rounds[key]) for key in ("catch_up", "replay", "views")
    )
    scan = statistics.median(rounds["scan"]) if rounds["scan"] else None
    label = f"raw scan + json.loads, median of {REPLAY_ROUNDS}"
    return {
        "catch_up": compare(
            Measure("catch-up (ensure_current)", catch_up, "events/s"), scan, label, floor=0.5
        ),
        "replay": compare(
            Measure("full replay (rebuild)", replay, "events/s"), scan, label, floor=0.5
        ),
        "replay_views": compare(
            Measure("replay: views alone, no fingerprints", views_only, "events/s"), scan, label
        ),
    }


def measure_queries(db: str, sends: list[dict], seed: int) -> dict:
    log(f"queries: check, status, audit x {len(sends):,}")
    book = Ledger(db)
    members = [(s["sender"],) for s in sends]
    measures = check_measures(book, db, sends, seed, "check")
    statuses, _ = latencies(book, queries.status, members)
    audits, _ = latencies(book, queries.audit, members)
    book.close()
    limit(measures["check_p99"], 1)
    return measures | {
        "status_p50": Measure("status p50", percentile(statuses, 0.5), "ms"),
        "status_p99": Measure("status p99", percentile(statuses, 0.99), "ms"),
        "audit_p99": Measure("audit p99", percentile(audits, 0.99), "ms"),
    }


def measure_cli(db: str, member: str, skip: set[str]) -> dict:
    log(f"CLI: invledger status --json, median of {CLI_RUNS}")
    status_ms, floor_ms = cli_status(db, member)
    return {
        "cli_status": compare(
            Measure("CLI status --json wall", status_ms, "ms"),
            None if "floor" in skip else floor_ms,
            "python -c 'import ...'",
            ceiling=1.6,
        )
    }


def measure_writers(
    url: str,
    sends: list[dict],
    seed: int,
    quiet: dict,
    key: str,
    where: str,
    ceiling: float | None = None,
) -> dict:
    """check p50/p99 with WRITERS concurrent writers, beside the same percentile without."""
    log(f"check{where} while {WRITERS} writer processes append for {WRITE_SECONDS} s")
    checks, rate = checks_with_writers(url, sends, seed)
    log(f"  {len(checks):,} checks, writers {rate:,.0f} appends/s")
    label = f"{WRITERS} writers{where}"
    measures = {
        f"{key}_writers_p{q}": compare(
            Measure(f"check p{q}, {label}", percentile(checks, q / 100), "ms"),
            quiet[f"{key}_p{q}"].value,
            "same, no writers",
        )
        for q in (50, 99)
    }
    if ceiling is not None:
        limit(measures[f"{key}_writers_p99"], ceiling)
    return measures | {f"{key}_writers_rate": Measure(f"appends, {label}", rate, "appends/s")}


def measure_postgres(
    url: str, path: Path, total: int, skip: set[str], sends: list[dict], seed: int, folder: Path
) -> dict:
    parts = urlparse(url)
    log(f"PostgreSQL import into {parts.hostname}{parts.path} (child process)")
    rate = total / child_import(url, path, total)["seconds"]
    log(f"  {rate:,.0f} events/s")
    batched = None
    if "library" not in skip:
        log(
            f"baseline: the library's aggregates on PostgreSQL, "
            f"{LIBRARY_BATCHES} saves of {LIBRARY_BATCH:,}"
        )
        batched = library_saves(url, sends, LIBRARY_BATCH, LIBRARY_BATCH * LIBRARY_BATCHES)
        log(f"  {batched:,.0f} events/s")
    log(f"PostgreSQL check x {len(sends):,}")
    book = Ledger(url)
    checks = check_measures(book, url, sends, seed, "pg_check", ", PostgreSQL")
    book.close()
    pg_import = compare(
        Measure("import, PostgreSQL", rate, "events/s"),
        batched,
        "library, 1000 aggregates/save",
        floor=3,
    )
    floors = {}
    if "floor" not in skip:
        log("floor: the import's Python work alone, nothing written (child process)")
        python = python_floor(folder, path, total)
        log(f"  {python:,.0f} events/s")
        # Beside the same library rate: near or below 3, an import that runs the rules and
        # the views in Python can hardly reach pg_import's target, however it overlaps the
        # server.
        floors["pg_python_floor"] = compare(
            Measure("floor: parse + rules + views, no DB", python, "events/s"),
            batched,
            "library, 1000 aggregates/save",
        )
    writers = measure_writers(url, sends, seed, checks, "pg_check", ", PostgreSQL", ceiling=5)
    return {"pg_import": pg_import, **floors, **checks, **writers}


def postgres_ready(url: str) -> None:
    """Fail before the long SQLite part if the database cannot be used or is not empty."""
    try:
        book = Ledger(url)
        with book.store.read() as tx:
            stored = tx.one("SELECT COUNT(*) FROM stored_events")[0]
        book.close()
    except StorageError as error:
        sys.exit(f"bench: {error}")
    if stored:
        sys.exit(f"bench: {url} already holds {stored:,} events: give an empty database")


def run_all(args: argparse.Namespace, skip: set[str], path: Path, total: int) -> dict:
    sends = sample_sends(path, QUERY_SAMPLES, total, args.seed)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=OUT))
    db = str(folder / "ledger.db")
    try:
        measures = measure_import(db, path, total, folder, skip)
        if "library" not in skip:
            measures |= measure_library(measures["import"].value, folder, sends)
        measures |= measure_replay(db, skip)
        measures |= measure_replay_memory(db, folder)
        measures |= measure_queries(db, sends, args.seed)
        measures |= measure_cli(db, sends[0]["sender"], skip)
        measures |= measure_writers(db, sends, args.seed, measures, "check", ", SQLite")
        if args.postgres:
            measures |= measure_postgres(args.postgres, path, total, skip, sends, args.seed, folder)
        return measures
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Output ------------------------------------------------------------------------------


def number(value: float, unit: str) -> str:
    if unit == "events/s":
        return f"{value:,.0f} ev/s"
    return f"{value:.3f} {unit}" if value < 10 else f"{value:,.0f} {unit}"


def table(measures: dict[str, Measure], header: str) -> str:
    rows = [("measure", "value", "baseline", "ratio", "target")]
    for m in measures.values():
        base = f"{number(m.baseline, m.unit)} ({m.baseline_label})" if m.baseline else ""
        verdict = "" if m.met is None else " ok" if m.met else " MISSED"
        rows.append(
            (
                m.label,
                number(m.value, m.unit),
                base,
                "" if m.ratio is None else f"{m.ratio:.2f}",
                (m.target or "") + verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join([header, "", *lines])


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--events", type=int, default=1_000_000, help="simulated events (default 1,000,000)")
    add("--seed", type=int, default=1, help="simulation and sampling seed (default 1)")
    add("--json", action="store_true", help="print one JSON object")
    add("--postgres", metavar="URL", help="postgresql:// URL of an existing, empty database")
    add(
        "--skip-baselines",
        nargs="*",
        metavar="NAME",
        choices=BASELINES,
        help=f"skip these baselines ({', '.join(BASELINES)}); alone: all of them",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    skip = set() if args.skip_baselines is None else set(args.skip_baselines or BASELINES)
    if args.postgres:
        postgres_ready(args.postgres)
    path = history(args.events, args.seed)
    total = line_count(path)
    measures = run_all(args, skip, path, total)
    about = {
        "events": total,
        "history": str(path.relative_to(ROOT)),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "postgres": bool(args.postgres),
    }
    if args.json:
        about["measures"] = {key: asdict(m) for key, m in measures.items()}
        print(json.dumps(about, indent=2))
    else:
        print(
            table(
                measures,
                f"invledger bench: {total:,} events, Python {about['python']}, "
                f"SQLite {about['sqlite']}",
            )
        )


if __name__ == "__main__":
    main()
