"""Several real processes writing one ledger at once (and two imports of one file at once
on PostgreSQL, at the end).

README "Consistency boundary": every append is one write transaction that first takes
the store's write lock, then checks the rules; racing `accept` and `ignore` of one
invitation, "the second writer waits for the lock, then sees the invitation answered
and is refused by the rule (exit 1)". Positions grow in commit order.

- Eight `invledger import` processes, released at one moment, append to ONE SQLite file
  while two readers query: all succeed, every event is stored exactly once, each importer's events
  in its file's order, and the views equal a rebuild. The parts share their senders
  (disjoint pairs), so every importer updates the same members' reputation and standing
  between its own batches.
- On both backends (`ledger_url`): accept against ignore on five invitations, the same
  send from four processes, a send each way between one pair, two appeals for one
  restricted member, and grant against deny of one appeal: twenty real processes,
  released at the same moment after loading (see reliability_helpers.run_together). Exactly one of each race wins;
  every loser exits 1 with one `Error:` line and no traceback. Positions from
  `events --json` strictly increase, and `replay --check` passes.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import (
    assert_clean_failure,
    cli,
    cli_env,
    jsonl,
    race,
    run_together,
    stored_ids,
)

from ledger.application import FLUSH_EVERY, IMPORT_BATCH

PARTS = 8
PREFIXED = ("id", "invitation", "recipient")


def relabel(events: Sequence[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The same history sent to other recipients: ids, invitations and recipients get a
    prefix, the senders stay. Every part then reports the SAME senders (their reputation
    and standing rows are written by all eight importers) on pairs no other part touches
    (so no part's rules depend on another's). Appeals are left out: whether one may be
    filed depends on reports from every part, in whatever order they commit."""
    return [
        {k: (prefix + v if k in PREFIXED else v) for k, v in e.items()}
        for e in events
        if not e["type"].startswith("appeal_")
    ]


def test_eight_importers_on_one_sqlite_file(tmp_path: Path) -> None:
    simulated = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "simulate",
            "--members",
            "300",
            "--invitations",
            "8000",
            "--seed",
            "11",
        ],
        capture_output=True,
        env=cli_env(),
        check=True,
        timeout=120,
    ).stdout
    base = [json.loads(raw) for raw in simulated.splitlines()]
    assert not any(e["type"] == "policy_changed" for e in base)
    parts = []
    for k in range(PARTS):
        part = relabel(base, f"p{k}-")
        path = tmp_path / f"part_{k}.jsonl"
        path.write_bytes(jsonl(part))
        parts.append((path, [e["id"] for e in part]))
    # Each part spans three import batches (5,000 lines) or more: an importer's
    # transactions interleave with the others' (with two, the eight sometimes ran one
    # after another), and any view rows it keeps between its batches are stale once
    # another importer has written the same senders' rows.
    assert len(parts[0][1]) > 3 * 5000
    assert sum(e["type"] == "invitation_marked_unknown" for e in base) > 100

    db = tmp_path / "ledger.db"
    assert cli(db, "import", "-", stdin=b"").returncode == 0  # the schema exists before the race
    # Released at one moment (forked from one loaded interpreter): started one after
    # another, each paying its own ~0.3 s of imports, an importer could finish its part
    # before the next had begun, and the race did not happen.
    jobs: list[tuple[str, Sequence[str]]] = [(str(db), ["import", str(path)]) for path, _ in parts]
    jobs += [(str(db), ["restricted", "--json"]), (str(db), ["status", "m00023", "--json"])]
    done = run_together(jobs, tmp_path / "procs", timeout=600)
    for (path, ids), proc in zip(parts, done[:PARTS], strict=True):
        assert proc.returncode == 0, (path.name, proc.stderr.decode()[-2000:])
        assert f"imported {len(ids):,} events".encode() in proc.stdout, proc.stdout
    for proc in done[PARTS:]:
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        json.loads(proc.stdout)

    stored = stored_ids(db)
    expected = [i for _, ids in parts for i in ids]
    assert len(stored) == len(expected)
    assert Counter(stored) == Counter(expected), "an event is missing or stored twice"
    for k, (_, ids) in enumerate(parts):  # each importer's events keep their file order
        assert [i for i in stored if i.startswith(f"p{k}-")] == ids
    runs = 1 + sum(a.split("-", 1)[0] != b.split("-", 1)[0] for a, b in itertools.pairwise(stored))
    assert runs > PARTS, f"the importers did not interleave ({runs} runs): the test proved nothing"
    exported = cli(db, "export").stdout.splitlines()
    assert sorted(json.loads(raw)["id"] for raw in exported) == sorted(expected)
    check = cli(db, "replay", "--check", timeout=300)
    assert check.returncode == 0, check.stdout.decode()[-2000:] + check.stderr.decode()[-2000:]

    # No lost update on the shared rows: the busiest reported sender counts every part.
    sender_of = {e["invitation"]: e["sender"] for e in base if e["type"] == "invitation_sent"}
    reported = Counter(
        sender_of[e["invitation"]] for e in base if e["type"] == "invitation_marked_unknown"
    )
    busiest, reports = reported.most_common(1)[0]
    sent = sum(1 for e in base if e["type"] == "invitation_sent" and e["sender"] == busiest)
    status = json.loads(cli(db, "status", busiest, "--json").stdout)
    assert (status["reputation"]["sent"], status["reputation"]["unknown"]) == (
        PARTS * sent,
        PARTS * reports,
    )


# Races on both backends ----------------------------------------------------------------

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
RESPONSES = 5


def day(n: float) -> str:
    return (START + timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def setup_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(RESPONSES):
        events.append(
            {
                "id": f"s-{i}",
                "type": "invitation_sent",
                "at": day(0),
                "invitation": f"race-{i}",
                "sender": f"snd-{i}",
                "recipient": f"rcp-{i}",
            }
        )
    # Two members restricted on day 7 (email required until day 37); zora already appealed.
    for member in ("yuri", "zora"):
        for n in range(1, 8):
            invitation = f"inv-{member}-{n}"
            events.append(
                {
                    "id": f"sent-{member}-{n}",
                    "type": "invitation_sent",
                    "at": day(n - 0.1),
                    "invitation": invitation,
                    "sender": member,
                    "recipient": f"x-{member}-{n}",
                }
            )
            events.append(
                {
                    "id": f"idk-{member}-{n}",
                    "type": "invitation_marked_unknown",
                    "at": day(n),
                    "invitation": invitation,
                }
            )
    events.append(
        {
            "id": "filed-zora",
            "type": "appeal_filed",
            "at": day(8),
            "appeal": "ap-zora",
            "member": "zora",
            "statement": "I know them all",
        }
    )
    return events


def one_winner(results: Sequence[subprocess.CompletedProcess[bytes]], race_name: str) -> int:
    """Exactly one racer exits 0; every other one exits 1 with one clean `Error:` line."""
    winners = [i for i, r in enumerate(results) if r.returncode == 0]
    summary = [(r.args, r.returncode, r.stderr.decode()[-300:]) for r in results]
    assert len(winners) == 1, f"{race_name}: {len(winners)} winners: {summary}"
    for i, result in enumerate(results):
        if i != winners[0]:
            assert_clean_failure(result, 1, f"{race_name}: loser {result.args}")
    return winners[0]


def test_racing_writers(ledger_url: str, tmp_path: Path) -> None:
    events = setup_events()
    made = cli(ledger_url, "import", "-", stdin=jsonl(events))
    assert made.returncode == 0, made.stderr
    at = ["--at", day(10)]
    commands: list[list[str]] = []
    for i in range(RESPONSES):  # accept and ignore of the same invitation, order varied
        pair = [["accept", f"race-{i}", *at], ["ignore", f"race-{i}", *at]]
        commands += pair if i % 2 else pair[::-1]
    same_way = [["send", "ann", "bob", "--invitation", f"ann-bob-{k}", *at] for k in range(4)]
    both_ways = [
        ["send", *(("cat", "dan") if k % 2 else ("dan", "cat")), "--invitation", f"cd-{k}", *at]
        for k in range(2)
    ]
    appeals = [
        ["appeal", "yuri", "--statement", f"try {k}", "--appeal", f"ap-yuri-{k}", *at]
        for k in range(2)
    ]
    resolutions = [
        ["grant", "ap-zora", "--agent", "agent-a", *at],
        ["deny", "ap-zora", "--agent", "agent-b", *at],
    ]
    commands += same_way + both_ways + appeals + resolutions
    results = race(ledger_url, commands, tmp_path / "race")
    by_command = list(zip(commands, results, strict=True))

    response_winner: dict[str, str] = {}
    for i in range(RESPONSES):
        group = [
            (c, r) for c, r in by_command if c[0] in ("accept", "ignore") and c[1] == f"race-{i}"
        ]
        won = one_winner([r for _, r in group], f"accept/ignore race-{i}")
        response_winner[f"race-{i}"] = group[won][0][0]
    tail = results[2 * RESPONSES :]
    sent_winner = same_way[one_winner(tail[0:4], "send ann->bob from 4 processes")]
    cross_winner = both_ways[one_winner(tail[4:6], "send dan->cat against cat->dan")]
    appeal_winner = appeals[one_winner(tail[6:8], "two appeals of yuri")]
    resolution_winner = resolutions[one_winner(tail[8:10], "grant against deny of ap-zora")]

    listed = cli(ledger_url, "events", "--json")
    assert listed.returncode == 0, listed.stderr
    log = json.loads(listed.stdout)["events"]
    positions = [e["position"] for e in log]
    assert all(a < b for a, b in itertools.pairwise(positions)), positions
    assert len(log) == len(events) + RESPONSES + 4
    assert [e["id"] for e in log[: len(events)]] == [e["id"] for e in events]

    for invitation, verb in response_winner.items():
        answers = [
            e for e in log if e.get("invitation") == invitation and e["type"] != "invitation_sent"
        ]
        expected = {"accept": "invitation_accepted", "ignore": "invitation_ignored"}[verb]
        assert [e["type"] for e in answers] == [expected], (invitation, answers)
    sends = [e for e in log[len(events) :] if e["type"] == "invitation_sent"]
    assert sorted(e["invitation"] for e in sends) == sorted([sent_winner[4], cross_winner[4]])
    filed = [e for e in log if e["type"] == "appeal_filed" and e["member"] == "yuri"]
    assert [e["appeal"] for e in filed] == [appeal_winner[5]]
    resolved = [e for e in log if e.get("appeal") == "ap-zora" and e["type"] != "appeal_filed"]
    assert [e["type"] for e in resolved] == [
        {"grant": "appeal_granted", "deny": "appeal_denied"}[resolution_winner[0]]
    ]

    # The views agree: one pending invitation per raced pair, the right standing.
    for sender, recipient in (("ann", "bob"), ("cat", "dan")):
        check = cli(ledger_url, "check", sender, recipient, "--json", *at)
        assert check.returncode == 1 and json.loads(check.stdout)["rule"] == "pending", check
    status = json.loads(cli(ledger_url, "status", "zora", "--json", *at).stdout)
    assert status["standing"] == (
        "good" if resolution_winner[0] == "grant" else "email_required"
    ), status
    yuri = json.loads(cli(ledger_url, "status", "yuri", "--json", *at).stdout)
    assert yuri["open_appeal"]["appeal"] == appeal_winner[5], yuri

    replay = cli(ledger_url, "replay", "--check", timeout=300)
    assert replay.returncode == 0, replay.stdout.decode()[-2000:] + replay.stderr.decode()[-2000:]


# Imports that overlap on PostgreSQL ------------------------------------------------------


@pytest.mark.postgres
def test_two_imports_of_one_file_at_once_store_it_once_and_count_it_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """Each import writes its view rows beside it every FLUSH_EVERY events, on a connection
    of its own, while its next batches go on. The other import's batches, in between,
    must wait for those rows before they read the views: else they read a position from
    before the rows and rows from after them, and count those events twice."""
    history = tmp_path / "history.jsonl"
    with history.open("wb") as out:
        subprocess.run(
            [sys.executable, "-m", "cli", "simulate", "--members", "3000"]
            + ["--invitations", "60000", "--seed", "5"],
            stdout=out,
            env=cli_env(),
            check=True,
            timeout=120,
        )
    lines = history.read_bytes().count(b"\n")
    assert lines > 2 * FLUSH_EVERY + IMPORT_BATCH  # each import hands rows off beside it twice
    assert cli(postgres_url, "import", "-", stdin=b"").returncode == 0  # the schema first

    done = run_together(
        [(postgres_url, ["import", str(history)]), (postgres_url, ["import", str(history)])],
        tmp_path / "procs",
        timeout=600,
    )

    for proc in done:
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    imported = [int(p.stdout.split()[1].replace(b",", b"")) for p in done]
    assert sum(imported) == lines, [p.stdout for p in done]  # each event stored once
    check = cli(postgres_url, "replay", "--check", timeout=300)
    assert check.returncode == 0, check.stdout.decode()[-2000:] + check.stderr.decode()[-2000:]


def test_an_import_from_a_pipe_whose_writer_pauses_holds_no_lock_meanwhile(
    ledger_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL an import reads its next lines while a batch's transaction waits on
    the server, but only from a file: from a pipe that read may wait on the pipe's
    writer (`zcat ... | invledger import -`), and the transaction holds the log's lock."""
    sends = [
        {"id": f"s{i}", "type": "invitation_sent", "at": "2026-01-05T12:00:00Z",
         "invitation": f"i{i}", "sender": f"m{i % 97}", "recipient": f"r{i}"}
        for i in range(IMPORT_BATCH + 10)
    ]  # fmt: skip
    assert cli(ledger_url, "import", "-", stdin=b"").returncode == 0  # the schema first
    importer = subprocess.Popen(
        [sys.executable, "-m", "cli", "--db", ledger_url, "import", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        # given an import whose input has sent one whole batch and a few lines, then pauses
        assert importer.stdin is not None
        importer.stdin.write(jsonl(sends[: IMPORT_BATCH + 5]))
        importer.stdin.flush()
        deadline = time.monotonic() + 20
        while stored_count(ledger_url) < IMPORT_BATCH and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # the import reads on into the pause

        # when another writer sends, with a short wait for the write lock
        sent = cli(ledger_url, "send", "x1", "x2", env={"INVLEDGER_LOCK_TIMEOUT": "3"})

        # then it gets the lock while the import waits on its input
        assert sent.returncode == 0, sent.stderr
    finally:
        _, err = importer.communicate(jsonl(sends[IMPORT_BATCH + 5 :]), timeout=120)
    assert importer.returncode == 0, err
    assert stored_count(ledger_url) == len(sends) + 1


def stored_count(url: str) -> int:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM stored_events").fetchone()
    else:
        import sqlite3

        with sqlite3.connect(url) as lite:
            row = lite.execute("SELECT count(*) FROM stored_events").fetchone()
        lite.close()
    assert row is not None
    return int(row[0])
