"""Crashes: SIGKILL a real `invledger import` (and a real `replay`) at random moments.

SPEC.md: projections are written in the same transaction as the events, with their
tracking position, "so a crash never double-counts or loses an event, and a restart
resumes where it stopped"; import is idempotent by event id and resumes after a stop.

The history is the product's own simulation (3,000 members, 40,000 invitations, seed 3).
The kill moments are drawn (seeded) from the measured duration of a clean import of the
same file. After every kill: the stored events are a prefix of the file (in order, none
twice), the views' tracking position is not ahead of the log (it may lag: an import
writes view rows with their tracking every 50k events), `replay --check` exits 0, and
after it the views track the last stored position. Then the import is run to completion, and the ledger must equal the clean one:
same events once each, byte-identical export, equal view fingerprints.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import cli, cli_env, stored_ids

SIMULATION = ("--members", "3000", "--invitations", "40000", "--seed", "3")
KILL_SEED = 20260103
KILLS = 3


def start(db: Path | str, *args: str, stdout: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "--db", str(db), *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )


def tracking_and_last(db: Path) -> tuple[int | None, int]:
    """The views' tracking position and the last stored position, read with plain sqlite3."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "stored_events" not in tables:
            return None, 0
        last = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events").fetchone()[0]
        if "inv_tracking" not in tables:
            return None, last
        row = conn.execute("SELECT position FROM inv_tracking WHERE view = 'views'").fetchone()
        return (row[0] if row else None), last
    finally:
        conn.close()


def check_json(db: Path | str) -> dict[str, Any]:
    done = cli(db, "replay", "--check", "--json", timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"Traceback" not in done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["differences"] == [], report
    return report


def test_sigkill_during_import_then_resume(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    with history.open("wb") as out:
        subprocess.run(
            [sys.executable, "-m", "cli", "simulate", *SIMULATION],
            stdout=out,
            env=cli_env(),
            check=True,
            timeout=120,
        )
    file_ids = [json.loads(raw)["id"] for raw in history.read_bytes().splitlines() if raw.strip()]
    assert len(file_ids) > 50_000 and len(set(file_ids)) == len(file_ids)

    clean = tmp_path / "clean.db"
    started = time.monotonic()
    done = cli(clean, "import", str(history), timeout=300)
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    # The clean ledger's fingerprints and export are computed while the crashes run.
    clean_export_file = tmp_path / "clean.jsonl"
    with clean_export_file.open("wb") as out:
        clean_export = start(clean, "export", stdout=out)
    clean_check = start(clean, "replay", "--check", "--json", stdout=subprocess.PIPE)

    rng = random.Random(KILL_SEED)
    delays = [rng.uniform(0.15, 0.75) * duration for _ in range(KILLS)]
    crashed = tmp_path / "crashed.db"
    landed = 0
    history_of_kills = []
    lags: list[int] = []
    for delay in delays:
        proc = start(crashed, "import", str(history))
        time.sleep(delay)
        running = proc.poll() is None
        if running:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
        if running and proc.returncode == -signal.SIGKILL:
            landed += 1
        else:
            assert proc.returncode == 0, err.decode()[-2000:]
        stored = stored_ids(crashed) if crashed.exists() else []
        history_of_kills.append((round(delay, 2), running, len(stored)))
        assert stored == file_ids[: len(stored)], "the stored events are not a prefix of the file"
        tracking, last = tracking_and_last(crashed) if crashed.exists() else (None, 0)
        # The views may lag the log after a crash (an import writes view rows every 50k
        # events, with their tracking position), but never run ahead of it.
        assert tracking is None or tracking <= last, (tracking, last)
        lags.append(last - (tracking or 0))
        if crashed.exists():
            check = cli(crashed, "replay", "--check", timeout=300)
            assert check.returncode == 0, (
                history_of_kills,
                check.stdout.decode()[-2000:],
                check.stderr.decode()[-2000:],
            )
            tracking, last = tracking_and_last(crashed)
            assert (tracking or 0) == last, (
                f"after replay --check the views track {tracking}, the log ends at {last}"
            )
    print(
        f"clean import {duration:.1f}s; kills (delay, landed, events stored): {history_of_kills}; view lag {lags}"
    )
    assert landed >= 1, (
        f"no kill landed while the import ran: {history_of_kills} (clean import {duration:.1f}s)"
    )

    resumed = cli(crashed, "import", str(history), timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    again = cli(crashed, "import", str(history), timeout=300)  # a finished import is a no-op
    assert again.returncode == 0 and f"skipped {len(file_ids):,}".encode() in again.stdout, (
        again.stdout
    )

    export = cli(crashed, "export", timeout=300).stdout
    exported_ids = [json.loads(raw)["id"] for raw in export.splitlines()]
    assert len(exported_ids) == len(file_ids), history_of_kills
    assert set(exported_ids) == set(file_ids)
    assert exported_ids == file_ids

    crashed_report = check_json(crashed)
    out, err = clean_check.communicate(timeout=300)
    assert clean_check.returncode == 0, err.decode()[-2000:]
    clean_report = json.loads(out)
    assert clean_report["differences"] == []
    assert clean_export.wait(timeout=300) == 0
    assert export == clean_export_file.read_bytes(), (
        "export after crashes differs from a clean import's"
    )
    assert crashed_report["fingerprints"] == clean_report["fingerprints"], history_of_kills
    assert crashed_report["last_position"] == clean_report["last_position"] == len(file_ids)


def test_sigkill_during_replay_resumes(tmp_path: Path) -> None:
    """README: a rebuild applies the log page by page with its tracking position, so an
    interrupted `replay` is resumed; the next command brings the views to the end."""
    history = tmp_path / "history.jsonl"
    with history.open("wb") as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "simulate",
                "--members",
                "500",
                "--invitations",
                "6000",
                "--seed",
                "4",
            ],
            stdout=out,
            env=cli_env(),
            check=True,
            timeout=120,
        )
    db = tmp_path / "ledger.db"
    assert cli(db, "import", str(history), timeout=300).returncode == 0
    before = check_json(db)["fingerprints"]

    started = time.monotonic()
    full = cli(db, "replay", "--json", timeout=300)
    duration = time.monotonic() - started
    assert full.returncode == 0, full.stderr
    assert json.loads(full.stdout)["fingerprints"] == before

    rng = random.Random(KILL_SEED + 1)
    outcomes = []
    for _ in range(2):
        delay = rng.uniform(0.35, 0.8) * duration
        proc = start(db, "replay")
        time.sleep(delay)
        running = proc.poll() is None
        if running:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=300)
        tracking, last = tracking_and_last(db)
        outcomes.append((round(delay, 2), running, tracking, last))
        status = cli(db, "status", "nobody-in-particular", "--json")  # any reader catches up
        assert status.returncode == 0, status.stderr
        tracking, last = tracking_and_last(db)
        assert tracking == last, (outcomes, tracking, last)
        report = check_json(db)
        assert report["fingerprints"] == before, outcomes
    assert any(running for _, running, _, _ in outcomes), (
        f"no kill landed during replay: {outcomes}"
    )


# A real import that stores a file, says so, and waits to be killed: its last commits stay
# in the WAL, not yet copied into the database file.
IMPORT_THEN_WAIT = r"""
import sys, time
from ledger.application import Ledger
book = Ledger(sys.argv[1])
with open(sys.argv[2], "rb") as lines:
    book.import_lines(lines)
print("imported", flush=True)
time.sleep(600)
"""


def committed_wal_pages(wal: bytes) -> tuple[int, dict[int, bytes]]:
    """The page size, and the latest committed image of each page in a WAL file."""
    size = int.from_bytes(wal[8:12], "big")
    pages: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    at = 32  # the WAL header; each frame is a 24-byte header and a page
    while at + 24 + size <= len(wal) and wal[at + 8 : at + 16] == wal[16:24]:  # same salts
        number = int.from_bytes(wal[at : at + 4], "big")
        pending[number] = wal[at + 24 : at + 24 + size]
        if int.from_bytes(wal[at + 4 : at + 8], "big"):  # a commit's last frame
            pages |= pending
            pending = {}
        at += 24 + size
    return size, pages


def test_a_checkpoint_cut_short_by_a_kill_leaves_a_ledger_that_opens(tmp_path: Path) -> None:
    """A checkpoint copies the WAL's pages into the database file in page order. Killed
    halfway, it leaves the file a mix of two commits, whole only with its WAL beside it:
    the ledger must still open, check and resume (once seen after a kill in the test above:
    'database disk image is malformed' from the look invledger takes before opening)."""
    history = tmp_path / "history.jsonl"
    simulated = cli(
        tmp_path / "unused.db",
        "simulate",
        "--members",
        "300",
        "--invitations",
        "3000",
        "--seed",
        "3",
    )
    assert simulated.returncode == 0, simulated.stderr
    history.write_bytes(simulated.stdout)
    lines = simulated.stdout.splitlines(keepends=True)
    rest = tmp_path / "rest.jsonl"
    rest.write_bytes(b"".join(lines[2000:]))
    db = tmp_path / "ledger.db"
    assert cli(db, "import", "-", stdin=b"".join(lines[:2000])).returncode == 0

    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORT_THEN_WAIT, str(db), str(rest)],
        stdout=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"imported\n"
    finally:
        proc.kill()  # also when it failed: it would otherwise wait out its sleep
        proc.communicate(timeout=60)
    size, pages = committed_wal_pages(db.with_name("ledger.db-wal").read_bytes())
    assert len(pages) > 100, "the kill left too little in the WAL for this test"
    with db.open("r+b") as file:
        for number in sorted(pages)[: len(pages) // 2]:
            file.seek((number - 1) * size)
            file.write(pages[number])
    # Given: the file alone, read without its WAL, is malformed.
    probe = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            probe.execute("SELECT name FROM sqlite_master").fetchall()
            probe.execute("SELECT * FROM inv_meta").fetchall()
    finally:
        probe.close()

    check = cli(db, "replay", "--check")
    assert check.returncode == 0, check.stderr
    assert b"the stored views equal a fresh rebuild" in check.stdout
    again = cli(db, "import", str(history))
    assert again.returncode == 0, again.stderr
    assert f"imported 0 events, skipped {len(lines):,}".encode() in again.stdout
    assert stored_ids(db) == [json.loads(line)["id"] for line in lines]


@pytest.mark.postgres
def test_sigkill_during_a_postgres_import_then_resume(tmp_path: Path, postgres_url: str) -> None:
    """The same on PostgreSQL, killed once mid-import: after resuming, the log holds the
    file once, in order, exported byte for byte as a clean SQLite import exports it, and
    views with a clean import's fingerprints. A kill between drawing positions and the
    commit uses them up, so the positions after it may have gaps (SPEC allows them): then
    only the views that hold no position can equal the clean import's."""
    history = tmp_path / "history.jsonl"
    with history.open("wb") as out:
        subprocess.run(
            [sys.executable, "-m", "cli", "simulate", "--members", "3000", "--invitations",
             "40000", "--seed", "5"],
            stdout=out, env=cli_env(), check=True, timeout=120,
        )  # fmt: skip
    file_ids = [json.loads(raw)["id"] for raw in history.read_bytes().splitlines() if raw.strip()]
    clean = tmp_path / "clean.db"
    started = time.monotonic()
    assert cli(clean, "import", str(history), timeout=300).returncode == 0
    duration = time.monotonic() - started

    landed = False
    for attempt in range(3):  # a kill that comes after the import ended proves nothing
        proc = start(postgres_url, "import", str(history))
        time.sleep(random.Random(KILL_SEED + 2 + attempt).uniform(0.4, 0.8) * duration)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=300)
        killed = proc.returncode == -signal.SIGKILL
        exported = cli(postgres_url, "export", timeout=300)
        if exported.returncode == 2 and b"no ledger" in exported.stderr:
            continue  # killed before the ledger was made
        assert exported.returncode == 0, exported.stderr.decode()[-2000:]
        stored = [json.loads(raw)["id"] for raw in exported.stdout.splitlines()]
        assert stored == file_ids[: len(stored)], "the stored events are not a prefix of the file"
        check = cli(postgres_url, "replay", "--check", timeout=300)
        assert check.returncode == 0, check.stderr.decode()[-2000:]
        if killed and 0 < len(stored) < len(file_ids):
            landed = True
            break
    assert landed, f"no kill landed mid-import (clean import {duration:.1f}s)"

    resumed = cli(postgres_url, "import", str(history), timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert cli(postgres_url, "export", timeout=300).stdout == cli(clean, "export").stdout
    crashed_report = check_json(postgres_url)
    clean_report = check_json(clean)
    assert crashed_report["last_position"] >= clean_report["last_position"] == len(file_ids)
    print(
        f"clean import {duration:.1f}s; positions used: {crashed_report['last_position']} "
        f"for {len(file_ids)} events"
    )
    crashed_prints, clean_prints = crashed_report["fingerprints"], clean_report["fingerprints"]
    if crashed_report["last_position"] == len(file_ids):  # no numbers used up: all equal
        assert crashed_prints == clean_prints
    else:  # only the views that hold no positions
        for view in ("inv_invitations", "inv_reputation"):
            assert crashed_prints[view] == clean_prints[view], view
