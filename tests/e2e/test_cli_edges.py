"""The real `invledger` process at the edges a review found: sizes a simulation cannot
honour, folders that are missing, options that do not go together, byte order marks,
text that is not UTF-8, output that cannot be written, and answers as of a moment."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.application import IMPORT_BATCH
from tests.e2e.conftest import day, invoke


def one_error_line(done: subprocess.CompletedProcess[Any]) -> str:
    stderr = done.stderr if isinstance(done.stderr, str) else done.stderr.decode()
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


def dump(db: Path | str) -> str:
    """The ledger's log as JSONL: empty when no command has created the ledger yet."""
    done = invoke(db, "export")
    if done.returncode == 2 and "Error: no ledger " in done.stderr:
        return ""
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


def without_db(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real process with no --db (and no $INVLEDGER_DB), as demo is run."""
    env = {k: v for k, v in os.environ.items() if k != "INVLEDGER_DB"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


# simulate and demo -------------------------------------------------------------------


def test_demo_runs_the_main_job_and_runs_again_over_its_own_files(tmp_path: Path) -> None:
    small = ("--members", "300", "--invitations", "3000")

    first = without_db("demo", *small, cwd=tmp_path)
    again = without_db("demo", *small, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    for step in (
        "1. simulating",
        "2. importing",
        "3. members not in good standing",
        "4. why is",
        "5. the statement of reasons",
    ):
        assert step in first.stdout
    assert "causes (" in first.stdout
    # Step 4 names the command that explains it: run as printed, it prints the same audit.
    printed = re.search(r"\(invledger --db (\S+) (audit \S+ --at \S+)\)", first.stdout)
    assert printed is not None, first.stdout
    audit = without_db("--db", printed[1], *printed[2].split(), cwd=tmp_path)
    section = first.stdout.split(printed[0], 1)[1].split("5. the statement of reasons")[0]
    assert audit.returncode == 0 and audit.stdout.strip() == section.strip()
    assert again.returncode == 0, again.stderr
    # The same history and the same answers; only the import's time differs.
    timing = re.compile(r"in \d+\.\ds")
    assert timing.sub("", again.stdout) == timing.sub("", first.stdout)
    assert dump(tmp_path / "invledger-demo.db").count("\n") == (
        (tmp_path / "invledger-demo.jsonl").read_text().count("\n")
    )


def test_demo_refuses_to_replace_a_file_it_did_not_make(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    assert invoke(ledger, "send", "alice", "bob").returncode == 0
    before = dump(ledger)

    done = without_db("demo", "--path", str(ledger), cwd=tmp_path)

    assert done.returncode == 2
    assert "not a ledger that demo made" in one_error_line(done)
    assert dump(ledger) == before


def test_demo_refuses_to_overwrite_a_history_file_beside_its_path(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("my own history\n")

    done = without_db("demo", "--path", str(tmp_path / "history.db"), cwd=tmp_path)

    assert done.returncode == 2
    assert "history.jsonl exists" in one_error_line(done)
    assert history.read_text() == "my own history\n"
    assert not (tmp_path / "history.db").exists()


def test_demo_refuses_a_path_that_would_also_be_its_history(tmp_path: Path) -> None:
    done = without_db("demo", "--path", "demo.jsonl", cwd=tmp_path)

    assert done.returncode == 2
    assert "would also name the demo's history" in one_error_line(done)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc")
def test_an_import_file_that_cannot_be_read_is_named_in_one_line(tmp_path: Path) -> None:
    # Reading /proc/self/mem from its start fails with an I/O error, as a bad disk would.
    done = invoke(tmp_path / "ledger.db", "import", "/proc/self/mem")

    assert done.returncode == 2
    assert one_error_line(done) == "Error: cannot read /proc/self/mem: Input/output error"
    assert list(tmp_path.iterdir()) == []


def test_demo_with_db_given_says_to_use_path(tmp_path: Path) -> None:
    done = invoke(tmp_path / "prod.db", "demo", cwd=tmp_path)

    assert done.returncode == 2
    assert "--path" in one_error_line(done)
    assert list(tmp_path.iterdir()) == []


def test_simulate_with_more_invitations_than_the_members_allow_is_one_line_exit_2(
    tmp_path: Path,
) -> None:
    done = invoke(tmp_path / "unused.db", "simulate", "--members", "3", "--invitations", "50")

    assert done.returncode == 2
    assert "at most 3 distinct invitations" in one_error_line(done)
    assert done.stdout == ""


def test_simulate_with_fewer_than_three_members_is_bad_usage(tmp_path: Path) -> None:
    done = invoke(tmp_path / "unused.db", "simulate", "--members", "2", "--invitations", "0")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--members" in done.stderr


def test_demo_into_a_missing_folder_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path,
) -> None:
    target = tmp_path / "no-such-folder" / "demo.db"

    done = without_db("demo", "--path", str(target), cwd=tmp_path)

    assert done.returncode == 2
    assert "no-such-folder" in one_error_line(done)
    assert not target.parent.exists()


def test_demo_with_sizes_the_simulation_cannot_honour_keeps_the_old_demo_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "demo.db"
    target.write_bytes(b"an earlier demo")

    done = without_db(
        "demo", "--path", str(target), "--members", "10", "--invitations", "1000", cwd=tmp_path
    )

    assert done.returncode == 2
    assert "distinct invitations" in one_error_line(done)
    assert target.read_bytes() == b"an earlier demo"


# replay ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra", [["--until", "2026-01-10T00:00:00Z"], ["--policy", "POLICY"]], ids=["until", "policy"]
)
def test_replay_check_with_until_or_policy_is_refused_not_ignored(
    worked_db: str, tmp_path: Path, extra: list[str]
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"version": 2, "restrict_at": 6}')
    extra = [str(policy) if arg == "POLICY" else arg for arg in extra]

    done = invoke(worked_db, "replay", "--check", *extra)

    assert done.returncode == 2
    assert "--check" in one_error_line(done)
    assert done.stdout == ""


def _drop(db: str, table: str) -> None:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            conn.execute(f"DROP TABLE {table}")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute(f"DROP TABLE {table}")
        conn.close()


@pytest.mark.parametrize("table", ["inv_standing", "inv_tracking"])
def test_replay_brings_back_a_view_table_dropped_by_hand(
    db: str, worked_example_file: Path, table: str
) -> None:
    # (inv_tracking: on PostgreSQL every write takes its row first, the rebuild's too)
    assert invoke(db, "import", str(worked_example_file)).returncode == 0
    before = json.loads(invoke(db, "replay", "--json").stdout)["fingerprints"]
    _drop(db, table)

    broken = invoke(db, "status", "bea")
    assert broken.returncode == 2
    assert f"view table {table} is missing" in one_error_line(broken)
    assert "run `invledger replay`" in one_error_line(broken)

    done = invoke(db, "replay", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["fingerprints"] == before
    assert invoke(db, "replay", "--check").returncode == 0
    assert invoke(db, "status", "bea").returncode == 0


def test_replay_until_counts_the_events_dated_until_then(
    db: str, tmp_path: Path, worked_example_file: Path
) -> None:
    assert invoke(db, "import", str(worked_example_file)).returncode == 0
    events = [json.loads(line) for line in worked_example_file.read_text().splitlines()]
    moment = day(10, 6)  # after the appeal is filed, before it is granted
    dated = sum(1 for e in events if e["at"] <= moment)  # one format, so text order is time order
    assert 0 < dated < len(events)

    done = invoke(db, "replay", "--until", moment, "--json")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["events"] == dated
    assert summary["last_position"] == len(events)
    nothing = json.loads(invoke(db, "replay", "--until", "2020-01-01T00:00:00Z", "--json").stdout)
    assert nothing["events"] == 0
    said = invoke(db, "replay", "--until", moment).stdout.splitlines()[0]
    assert said.startswith(
        f"replayed {dated} events as of {moment} (the log read through position {len(events)}) "
    )


def test_replay_until_says_how_many_members_its_list_leaves_out(db: str, tmp_path: Path) -> None:
    # 23 members warned (five reports each): the text lists 20 and says 3 more
    history = "".join(
        _reported_on([1, 2, 3, 4, 5], sender=f"w{n:02}", first=5 * n) for n in range(23)
    )
    (tmp_path / "history.jsonl").write_text(history)
    assert invoke(db, "import", str(tmp_path / "history.jsonl")).returncode == 0

    text = invoke(db, "replay", "--until", day(6)).stdout
    listed = json.loads(invoke(db, "replay", "--until", day(6), "--json").stdout)["restricted"]

    assert len(listed) == 23
    assert "members not in good standing then: 23" in text
    assert "  ... and 3 more (`replay --until ... --json` lists them all)" in text


# input files -------------------------------------------------------------------------


def test_an_import_file_that_starts_with_a_byte_order_mark_imports_whole(
    tmp_path: Path, worked_example_file: Path
) -> None:
    plain, marked = tmp_path / "plain.db", tmp_path / "marked.db"
    with_mark = tmp_path / "with-mark.jsonl"
    with_mark.write_bytes(b"\xef\xbb\xbf" + worked_example_file.read_bytes())

    assert invoke(plain, "import", str(worked_example_file)).returncode == 0
    done = invoke(marked, "import", str(with_mark))

    assert done.returncode == 0, done.stderr
    assert dump(marked) == dump(plain)


def test_a_byte_order_mark_after_the_first_line_is_a_bad_line(
    ledger_url: str, tmp_path: Path, worked_example_file: Path
) -> None:
    lines = worked_example_file.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(lines[0] + b"\xef\xbb\xbf" + lines[1])

    done = invoke(ledger_url, "import", str(broken))

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "Error: line 2: starts with a byte order mark (U+FEFF), which only a file's first line"
        )
    )


def test_a_line_that_is_not_utf8_says_so_with_its_line_number(
    ledger_url: str, tmp_path: Path
) -> None:
    history = tmp_path / "latin1.jsonl"
    good = {"id": "e1", "type": "invitation_sent", "at": day(0), "invitation": "i1"}
    good |= {"sender": "ana", "recipient": "bo"}
    latin1 = (
        b'{"id":"e2","type":"invitation_sent","at":"2026-01-01T12:00:00Z","invitation":"i2",'
        b'"sender":"ren\xe9","recipient":"bo"}'
    )
    history.write_bytes((json.dumps(good) + "\n").encode() + latin1 + b"\n")

    done = invoke(ledger_url, "import", str(history))

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error = done.stderr.strip().splitlines()[-1]  # after the count of what came before
    where = latin1.index(b"\xe9") + 1
    assert error == f"Error: line 2: not UTF-8 text (byte {where} of the line)"


def test_a_policy_file_with_a_byte_order_mark_is_read(ledger_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "stricter.toml"
    policy.write_bytes(b"\xef\xbb\xbfversion = 2\nrestrict_at = 6\n")
    db = ledger_url

    done = invoke(db, "policy", "set", str(policy), "--at", day(0))

    assert done.returncode == 0, done.stderr
    shown = json.loads(invoke(db, "policy", "show", "--json").stdout)
    assert shown["version"] == 2 and shown["restrict_at"] == 6


def test_a_policy_file_holding_a_json_array_says_a_policy_is_an_object(
    ledger_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text("[1]")

    assert invoke(ledger_url, "send", "ana", "bo").returncode == 0

    done = invoke(ledger_url, "replay", "--policy", str(policy))

    assert done.returncode == 2
    assert "a policy is a JSON object or a TOML table" in one_error_line(done)


# arguments and output ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["send", "ana", "bo", "--invitation", ""],
        ["send", "ana", "bo", "--invitation", "two words"],
        ["appeal", "ana", "--statement", "s", "--appeal", ""],
    ],
    ids=["empty-invitation", "invitation-with-space", "empty-appeal"],
)
def test_an_id_given_on_the_command_line_must_be_a_handle(
    ledger_url: str, tmp_path: Path, args: list[str]
) -> None:
    db = ledger_url

    done = invoke(db, *args)

    assert done.returncode == 2
    assert "is not a handle" in done.stderr and "Traceback" not in done.stderr
    assert dump(db) == ""


def into_a_full_disk(
    db: str, args: list[str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real process with its standard output on /dev/full (a full disk)."""
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [*invoke_command(db), *args],
            input=stdin,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
        )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["export"], ["status", "alice", "--json"]])
def test_output_that_cannot_be_written_is_one_line_exit_2(worked_db: str, args: list[str]) -> None:
    done = into_a_full_disk(worked_db, args)

    assert done.returncode == 2
    assert "No space left on device" in one_error_line(done)


def invoke_command(db: Path | str) -> list[str]:
    return [sys.executable, "-m", "cli", "--db", str(db)]


def test_the_appeal_refusal_names_the_member_once(ledger_url: str, tmp_path: Path) -> None:
    assert invoke(ledger_url, "send", "maya", "noor", "--at", day(0)).returncode == 0
    done = invoke(ledger_url, "appeal", "maya", "--statement", "why", "--at", day(0.5))

    assert done.returncode == 1
    assert one_error_line(done) == (
        "Error: refused by rule 'appeal-not-allowed': maya has no active restriction to appeal"
    )


# answers as of a moment --------------------------------------------------------------


def test_policy_show_at_a_moment_before_a_change_gives_the_policy_then(
    ledger_url: str, tmp_path: Path
) -> None:
    db = ledger_url
    policy = tmp_path / "stricter.json"
    policy.write_text('{"version": 2, "restrict_at": 6}')
    assert invoke(db, "policy", "set", str(policy), "--at", day(5)).returncode == 0

    before = json.loads(invoke(db, "policy", "show", "--at", day(4), "--json").stdout)
    after = json.loads(invoke(db, "policy", "show", "--at", day(6), "--json").stdout)

    assert (before["version"], before["restrict_at"]) == (1, 7)
    assert (after["version"], after["restrict_at"]) == (2, 6)


def test_policy_show_without_a_moment_leaves_out_a_change_dated_later(
    ledger_url: str, tmp_path: Path
) -> None:
    # (an import takes a history's times as they are; `policy set` refuses a later date)
    db = ledger_url
    history = tmp_path / "history.jsonl"
    history.write_text(
        '{"id": "p2", "type": "policy_changed", "at": "2999-01-01T00:00:00Z", '
        '"policy": {"version": 2, "restrict_at": 6}}\n'
    )
    assert invoke(db, "import", str(history)).returncode == 0

    now = json.loads(invoke(db, "policy", "show", "--json").stdout)
    then = json.loads(invoke(db, "policy", "show", "--at", "2999-01-02T00:00:00Z", "--json").stdout)

    assert now["version"] == 1
    assert then["version"] == 2


def test_the_statement_json_says_as_of_when(ask: Any) -> None:
    done = ask("audit", "alice", "--statement", "--json", "--at", day(8))

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["as_of"] == day(8)
    assert answer["member"] == "alice" and "Statement" in answer["statement"]


def test_the_statement_json_gives_its_facts_as_fields(ask: Any) -> None:
    # Day 12: the email restriction of day 7 was lifted by the appeal granted on day 11.
    lifted = json.loads(ask("audit", "alice", "--statement", "--json", "--at", day(12)).stdout)
    never = json.loads(ask("audit", "bram", "--statement", "--json").stdout)

    assert {k: lifted[k] for k in ("decision", "level", "ended_by", "reports")} == {
        "decision": "restriction_ended",
        "level": "email_required",
        "ended_by": "appeal",
        "reports": 7,
    }
    assert (lifted["began_at"], lifted["reports_from"], lifted["reports_to"]) == (
        day(7),
        day(1)[:10],
        day(7)[:10],
    )
    assert lifted["appeal"]["outcome"] == "granted"
    assert lifted["appeal"]["resolved_at"] == lifted["ended_at"]
    assert "restrict_at" not in lifted["grounds"]
    assert never["decision"] == "none"
    # With no decision the document has the same fields, empty: one schema for a consumer.
    assert never.keys() == lifted.keys()
    assert never["reports"] == 0 and never["level"] is None and never["appeal"] is None


# Ctrl-C ------------------------------------------------------------------------------


def events_stored(db: str) -> int:
    """How many events the ledger's log holds so far (0 before its table exists)."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            try:
                row = conn.execute("SELECT count(*) FROM stored_events").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
            return int(row[0]) if row else 0
    if not Path(db).exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_import_interrupted_by_ctrl_c_says_what_is_stored_and_resumes(
    ledger_url: str, tmp_path: Path, stop: signal.Signals
) -> None:
    # (SIGTERM, a service manager's stop, ends it as Ctrl-C does)
    history = tmp_path / "history.jsonl"
    with open(history, "wb") as out:
        subprocess.run(
            [sys.executable, "-m", "cli", "simulate", "--members", "3000"]
            + ["--invitations", "30000", "--seed", "5"],
            stdout=out,
            check=True,
            timeout=120,
        )
    db = ledger_url
    # Fed through a pipe that stays open after the first half: the import cannot end
    # before the signal, however slowly this test runs beside it.
    # Ctrl-C as on a terminal: a run in the background (`cmd &`) ignores SIGINT, and
    # its children would inherit that.
    importing = subprocess.Popen(
        [*invoke_command(db), "import", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 (one call between fork and exec)
    )
    assert importing.stdin is not None
    lines = history.read_bytes().splitlines(keepends=True)
    importing.stdin.write(b"".join(lines[: len(lines) // 2]))
    importing.stdin.flush()
    stored = 0
    deadline = time.monotonic() + 60
    while stored == 0 and time.monotonic() < deadline:  # until a first batch is committed
        time.sleep(0.05)
        stored = events_stored(db)
    importing.send_signal(stop)
    importing.wait(timeout=60)
    importing.stdin.close()
    assert importing.stdout is not None and importing.stderr is not None
    out, err = importing.stdout.read().decode(), importing.stderr.read().decode()

    assert importing.returncode == 130, (out, err)
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    said = "Interrupted: at least the first "
    assert line.startswith(said) and "run the same import again" in line
    told = int(line.removeprefix(said).split()[0].replace(",", ""))
    kept = len(dump(db).splitlines())  # every line of the file is one event
    assert told <= kept <= len(lines) // 2
    assert kept % IMPORT_BATCH == 0, "a batch was stored in part"
    assert invoke(db, "replay", "--check").returncode == 0

    resumed = invoke(db, "import", str(history))
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipped {kept:,} already in the ledger" in resumed.stdout
    clean = tmp_path / "clean.db"
    assert invoke(clean, "import", str(history)).returncode == 0
    assert dump(db) == dump(clean)
    assert invoke(db, "replay", "--check").returncode == 0


# Progress on a terminal, quiet when piped ------------------------------------------


def _stderr_on_a_terminal(*args: str, stdout_too: bool = False) -> str:
    """Run the real process with its stderr (and with `stdout_too` its stdout) on a
    pseudo-terminal; what the terminal got."""
    leader, follower = pty.openpty()
    done = subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        stdout=follower if stdout_too else subprocess.DEVNULL,
        stderr=follower,
        env={k: v for k, v in os.environ.items() if k != "INVLEDGER_DB"},
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert done.wait(timeout=120) == 0, seen
    os.close(leader)
    return seen.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def long_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough for each command to show its line at least once (every 0.2 s)."""
    path = tmp_path_factory.mktemp("long") / "history.jsonl"
    with open(path, "wb") as out:
        subprocess.run(
            [*invoke_command(path.with_suffix(".unused")), "simulate", "--members", "2000"]
            + ["--invitations", "20000", "--seed", "3"],
            stdout=out,
            check=True,
            timeout=120,
        )
    return path


def test_import_replay_export_and_simulate_show_progress_on_a_terminal(
    long_history: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "ledger.db")

    imported = _stderr_on_a_terminal("--db", db, "import", str(long_history))
    replayed = _stderr_on_a_terminal("--db", db, "replay")
    exported = _stderr_on_a_terminal("--db", db, "export")
    simulated = _stderr_on_a_terminal(
        "simulate", "--members", "2000", "--invitations", "20000", "--seed", "3"
    )

    assert re.search(r"importing: [\d,]+ lines, [\d,]+/s .*%.*s left", imported), imported
    assert re.search(r"replaying: [\d,]+ events, [\d,]+/s .*%.*s left", replayed), replayed
    assert re.search(r"exporting: [\d,]+ events, [\d,]+/s .*%.*s left", exported), exported
    assert re.search(r"simulating: [\d,]+ invitations, [\d,]+/s .*%.*s left", simulated)


def test_export_and_simulate_keep_their_progress_out_of_data_on_the_same_terminal(
    long_history: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "ledger.db")
    assert invoke(db, "import", str(long_history)).returncode == 0

    exported = _stderr_on_a_terminal("--db", db, "export", stdout_too=True)
    simulated = _stderr_on_a_terminal(
        "simulate", "--members", "2000", "--invitations", "20000", "--seed", "3", stdout_too=True
    )

    assert exported.count("\n") == long_history.read_bytes().count(b"\n")
    assert "exporting:" not in exported
    assert '"type":"invitation_sent"' in simulated.replace(" ", "")
    assert "simulating:" not in simulated


def test_import_replay_export_and_simulate_print_no_progress_when_piped(
    long_history: Path, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"

    imported = invoke(db, "import", str(long_history))
    replayed = invoke(db, "replay")
    exported = invoke(db, "export")
    simulated = invoke(db, "simulate", "--members", "2000", "--invitations", "20000")

    assert imported.stderr == replayed.stderr == exported.stderr == simulated.stderr == ""
    assert imported.stdout.startswith("imported ")


# Settings and values out of range -------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [("INVLEDGER_LOCK_TIMEOUT", "abc"), ("INVLEDGER_LOCK_TIMEOUT", "-1")],
)
def test_a_timeout_setting_that_is_not_seconds_is_one_line_exit_2(
    worked_db: str, variable: str, value: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--db", str(worked_db), "status", "alice"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, variable: value},
    )

    assert done.returncode == 2
    assert f"${variable} must be a number of seconds" in one_error_line(done)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["events", "--since", "99999999999999999999"], "--since"),
        (["export", "--since", "99999999999999999999"], "--since"),
        (["follow", "--poll", "nan"], "--poll"),
        (["follow", "--poll", "1e300"], "--poll"),
        (["simulate", "--members", "99999999999999999999", "--invitations", "1"], "--members"),
    ],
    ids=["events", "export", "poll-nan", "poll-huge", "simulate"],
)
def test_a_number_out_of_range_is_a_usage_error_not_a_traceback(
    worked_db: str, args: list[str], option: str
) -> None:
    done = invoke(worked_db, *args)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"Invalid value for '{option}'" in done.stderr


@pytest.mark.parametrize(
    ("db", "says"),
    [
        ("", "--db is empty"),
        ("mysql://host/db", "only URLs are postgresql://"),
        ("postgresql://", "names no database"),
    ],
    ids=["empty", "other-scheme", "no-database"],
)
def test_a_db_that_names_no_ledger_is_one_line_exit_2(tmp_path: Path, db: str, says: str) -> None:
    done = invoke(db, "status", "alice", cwd=tmp_path)

    assert done.returncode == 2
    assert says in one_error_line(done)
    assert list(tmp_path.iterdir()) == []


def test_an_appeal_statement_of_several_lines_cannot_pass_for_the_audits_own_lines(
    ledger_url: str, tmp_path: Path, worked_example_file: Path
) -> None:
    ledger = ledger_url
    assert invoke(ledger, "import", str(worked_example_file)).returncode == 0
    forged = "My classmates.\nappeal A9 filed 2026-01-09T00:00:00Z: granted by dana"
    filed = invoke(ledger, "appeal", "alice", "--statement", forged, "--at", day(46, 1))
    assert filed.returncode == 0, filed.stderr

    audit = invoke(ledger, "audit", "alice", "--at", day(46, 2)).stdout.splitlines()

    assert "  statement:" in audit
    assert "    | My classmates." in audit
    assert "    | appeal A9 filed 2026-01-09T00:00:00Z: granted by dana" in audit
    assert not any(line.startswith("appeal A9") for line in audit)


def test_check_without_a_moment_answers_as_send_would_with_later_dated_events_logged(
    invledger: Any,
) -> None:
    # An import takes a history's times as they are (a command refuses a fact dated ahead).
    later = [
        {"type": "invitation_sent", "id": "s-fg", "at": "2999-01-01T00:00:00Z",
         "invitation": "inv-fg", "sender": "fay", "recipient": "gus"},
        {"type": "invitation_marked_unknown", "id": "u-fg", "at": "2999-06-01T00:00:00Z",
         "invitation": "inv-fg"},
    ]  # fmt: skip
    imported = invledger("import", "-", stdin="".join(json.dumps(e) + "\n" for e in later))
    assert imported.returncode == 0, imported.stderr

    checked = invledger("check", "fay", "gus")
    sent = invledger("send", "fay", "gus")
    then = invledger("check", "fay", "gus", "--at", "2998-01-01T00:00:00Z")

    assert (checked.returncode, sent.returncode) == (1, 1)
    assert checked.stderr == sent.stderr
    assert "refused by rule 'blocked'" in sent.stderr
    assert then.returncode == 0  # as things stood then, nothing blocked fay


def test_a_what_if_says_whether_members_differ_now_or_only_in_their_episodes(
    worked_db: str, tmp_path: Path
) -> None:
    milder = tmp_path / "milder.json"
    milder.write_text('{"restrict_at": 20}')

    done = invoke(worked_db, "replay", "--policy", str(milder))

    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[1]
    assert header.startswith("1 member would fare differently as of ")
    assert header.endswith(
        ": 0 in their standing then (its level or its end), 1 only in how many episodes they had:"
    )


def _reported_on(days: list[float], sender: str = "max", first: int = 0) -> str:
    """Import lines: `sender` invites one recipient per day given, each report on its day
    (the invitations numbered from `first`)."""
    numbers = range(first, first + len(days))
    sends = [
        {
            "id": f"s{i}",
            "type": "invitation_sent",
            "at": day(0, 1),
            "invitation": f"i{i}",
            "sender": sender,
            "recipient": f"r{i}",
        }
        for i in numbers
    ]
    reports = [
        {"id": f"u{i}", "type": "invitation_marked_unknown", "at": day(d), "invitation": f"i{i}"}
        for i, d in zip(numbers, days, strict=True)
    ]
    return "".join(json.dumps(line) + "\n" for line in sends + reports)


def test_a_what_if_counts_the_warning_opened_when_a_restriction_expires(
    ledger_url: str, tmp_path: Path
) -> None:
    # Reports on days 1-7 restrict max until day 37; five more on days 31-35 are still
    # counted then, so a warning opens at the expiry: three episodes. With 70-day
    # restrictions the first runs past the five reports' window: two.
    history = tmp_path / "history.jsonl"
    history.write_text(_reported_on([1, 2, 3, 4, 5, 6, 7, 31, 32, 33, 34, 35]))
    assert invoke(ledger_url, "import", str(history)).returncode == 0
    longer = tmp_path / "longer.json"
    longer.write_text('{"restrict_days": 70}')

    done = invoke(ledger_url, "replay", "--policy", str(longer), "--json")
    then = invoke(ledger_url, "replay", "--policy", str(longer), "--until", day(40), "--json")
    audit = invoke(ledger_url, "audit", "max", "--json", "--at", day(40))

    assert done.returncode == 0, done.stderr
    (max_,) = json.loads(done.stdout)["changed"]
    assert (max_["standing"], max_["what_if_standing"]) == ("good", "good")
    assert (max_["episodes"], max_["what_if_episodes"]) == (3, 2)
    (max_then,) = json.loads(then.stdout)["changed"]
    assert (max_then["standing"], max_then["what_if_standing"]) == ("warned", "email_required")
    assert max_then["episodes"] == len(json.loads(audit.stdout)["episodes"]) == 3


def test_a_warning_with_the_reports_of_a_restriction_counted_says_the_next_one_imposes_it(
    ledger_url: str, tmp_path: Path
) -> None:
    # Days 1-7: email required; days 8-14: escalated to a suspension until day 21; seven
    # reports while suspended still count when it expires, and an expiry imposes nothing.
    history = tmp_path / "history.jsonl"
    history.write_text(_reported_on([*range(1, 21), 20.5]))
    assert invoke(ledger_url, "import", str(history)).returncode == 0

    done = invoke(ledger_url, "send", "max", "newcomer", "--at", day(21, 6))

    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "warning: max has 7 'I don't know this person' reports in the last 30 days; "
        "at the next report, max will be suspended for 14 days\n"
    )


def test_a_statement_says_an_appeal_open_against_an_earlier_restriction_comes_first(
    ledger_url: str, tmp_path: Path
) -> None:
    # Email required from day 7 to day 37, appealed on day 10 and never decided; reports
    # of days 31-36 and 39 suspend max on day 39. The open appeal is still max's one.
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    before.write_text(_reported_on([1, 2, 3, 4, 5, 6, 7]))
    after.write_text(_reported_on([31, 32, 33, 34, 35, 36, 39], first=7))
    assert invoke(ledger_url, "import", str(before)).returncode == 0
    appealed = invoke(ledger_url, "appeal", "max", "--statement", "I know them", "--at", day(10))
    assert appealed.returncode == 0, appealed.stderr
    assert invoke(ledger_url, "import", str(after)).returncode == 0

    statement = invoke(ledger_url, "audit", "max", "--statement", "--at", day(39, 1))
    refused = invoke(ledger_url, "appeal", "max", "--statement", "again", "--at", day(39, 2))

    assert statement.returncode == 0, statement.stderr
    assert "1. Decision: your account is suspended" in statement.stdout
    assert "5. Redress: your appeal of 2026-01-11 12:00 UTC, against an earlier decision, " \
        "is still open" in statement.stdout.replace("\n", " ")  # fmt: skip
    assert refused.returncode == 1
    assert one_error_line(refused).endswith(
        f"max already has an open appeal ({appealed.stdout.strip()}), against an earlier "
        "restriction: it is decided first"
    )


def _appealed_on_day_30(ledger_url: str, tmp_path: Path, appeal: str) -> None:
    """Email required for max from day 7 to day 37, appealed on day 30."""
    history = tmp_path / "history.jsonl"
    history.write_text(_reported_on([1, 2, 3, 4, 5, 6, 7]))
    assert invoke(ledger_url, "import", str(history)).returncode == 0
    filed = ["appeal", "max", "--statement", "colleagues", "--at", day(30), "--appeal", appeal]
    assert invoke(ledger_url, *filed).returncode == 0


def test_a_grant_after_the_restriction_expired_tells_the_agent_it_changes_no_standing(
    ledger_url: str, tmp_path: Path
) -> None:
    # Email required from day 7 to day 37; max appeals on day 30 (open when it expires)
    _appealed_on_day_30(ledger_url, tmp_path, "ap-late")

    late = invoke(ledger_url, "grant", "ap-late", "--agent", "ann", "--at", day(40))
    queue = invoke(ledger_url, "appeals", "--at", day(41))

    assert late.returncode == 0, late.stderr
    assert late.stderr == (
        "note: the restriction that appeal ap-late was against had expired at "
        "2026-02-07T12:00:00Z: the grant is recorded, and changes no standing\n"
    )
    assert late.stdout.startswith("appeal ap-late granted (event ")
    header, _, row = queue.stdout.splitlines()
    assert header.split() == [
        "appeal", "member", "filed", "against", "outcome", "resolved", "agent", "overdue"
    ]  # fmt: skip
    assert row.split() == [
        "ap-late", "max", day(30), "email_required", "granted", day(40), "ann"
    ]  # fmt: skip


def test_a_denial_after_the_restriction_expired_says_it_changes_no_standing(
    ledger_url: str, tmp_path: Path
) -> None:
    _appealed_on_day_30(ledger_url, tmp_path, "ap-late")

    late = invoke(ledger_url, "deny", "ap-late", "--agent", "ann", "--at", day(40))

    assert late.returncode == 0, late.stderr
    assert late.stderr == (
        "note: the restriction that appeal ap-late was against had expired at "
        "2026-02-07T12:00:00Z: the denial is recorded, and changes no standing\n"
    )


def _appealed_then_escalated(ledger_url: str, tmp_path: Path) -> None:
    """Email required for max from day 7, appealed on day 8 (ap-e), then seven more
    reports on days 9-15: the suspension they impose on day 15 replaces the email
    restriction, and the open appeal follows to it."""
    lines = _reported_on([1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]).splitlines()
    filed = {"id": "f-e", "type": "appeal_filed", "at": day(8), "appeal": "ap-e",
             "member": "max", "statement": "colleagues"}  # fmt: skip
    lines.insert(14 + 7, json.dumps(filed))  # after the sends and the first seven reports
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(lines) + "\n")
    assert invoke(ledger_url, "import", str(history)).returncode == 0


def test_the_queue_shows_an_appeal_carried_by_an_escalation_to_a_suspension(
    ledger_url: str, tmp_path: Path
) -> None:
    # given an appeal filed against an email restriction that a suspension then replaced
    _appealed_then_escalated(ledger_url, tmp_path)

    # when support looks at the queue and the member's status
    queue = json.loads(invoke(ledger_url, "appeals", "--json", "--at", day(16)).stdout)
    table = invoke(ledger_url, "appeals", "--at", day(16)).stdout.splitlines()
    status = invoke(ledger_url, "status", "max", "--at", day(16)).stdout

    # then each says what the appeal stands against now, and what it was filed against
    (appeal,) = queue["appeals"]
    assert appeal["against"] == {
        "level": "suspended", "began_at": day(15), "until": day(22), "ended_at": None,
        "ended_by": None,
    }  # fmt: skip
    assert appeal["escalated_from"] == {
        "level": "email_required", "began_at": day(7), "until": day(37), "ended_at": day(15),
        "ended_by": "escalation",
    }  # fmt: skip
    # and once the suspension has run out, that it has
    later = json.loads(invoke(ledger_url, "appeals", "--json", "--at", day(23)).stdout)
    ended = later["appeals"][0]["against"]
    assert (ended["ended_at"], ended["ended_by"]) == (day(22), "expiry")
    assert "suspended (escalated from email_required)" in table[2]
    assert (
        f"against the suspension from {day(15)} (filed against the email restriction from "
        f"{day(7)}, which the suspension replaced)"
    ) in status


def test_the_statement_tells_the_member_their_open_appeal_covers_the_suspension(
    ledger_url: str, tmp_path: Path
) -> None:
    _appealed_then_escalated(ledger_url, tmp_path)

    before = invoke(ledger_url, "audit", "max", "--statement", "--at", day(8, 1)).stdout
    after = invoke(ledger_url, "audit", "max", "--statement", "--at", day(16)).stdout

    assert "covers this decision" not in before
    assert "is open: a person is reviewing the decision" in before
    assert (
        "your appeal of 2026-01-09 12:00 UTC, filed against the requirement to give the "
        "recipient's email address that this decision replaced, is open and covers this "
        "decision"
    ) in after


@pytest.mark.parametrize(
    ("decision", "says", "standing"),
    [("grant", "which this grant lifts", "good"), ("deny", "which this denial leaves in force",
     "suspended")],
)  # fmt: skip
def test_a_decision_on_an_appeal_an_escalation_carried_tells_the_agent_what_it_applies_to(
    ledger_url: str, tmp_path: Path, decision: str, says: str, standing: str
) -> None:
    _appealed_then_escalated(ledger_url, tmp_path)

    decided = invoke(ledger_url, decision, "ap-e", "--agent", "ann", "--at", day(16))

    assert decided.returncode == 0, decided.stderr
    assert decided.stderr == (
        f"note: appeal ap-e was filed against the email restriction from {day(7)}; an "
        f"escalation replaced it with the suspension from {day(15)}, {says}\n"
    )
    after = json.loads(invoke(ledger_url, "status", "max", "--json", "--at", day(16, 1)).stdout)
    assert (after["standing"], after["open_appeal"]) == (standing, None)


def test_a_grant_while_the_restriction_applies_lifts_it_without_a_note(
    ledger_url: str, tmp_path: Path
) -> None:
    _appealed_on_day_30(ledger_url, tmp_path, "ap-soon")

    soon = invoke(ledger_url, "grant", "ap-soon", "--agent", "ann", "--at", day(31))
    status = invoke(ledger_url, "status", "max", "--json", "--at", day(31, 1))

    assert (soon.returncode, soon.stderr) == (0, "")
    assert json.loads(status.stdout)["standing"] == "good"


@pytest.mark.parametrize("content", ["", "{}", "# nothing but a comment\n", '{"version": 2}'])
def test_a_what_if_file_that_names_no_field_is_refused(
    worked_db: str, tmp_path: Path, content: str
) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text(content)

    done = invoke(worked_db, "replay", "--policy", str(empty))

    assert done.returncode == 2
    assert "names no policy field" in one_error_line(done)


def test_a_what_if_with_longer_suspensions_tells_the_later_end(
    worked_db: str, tmp_path: Path
) -> None:
    # Day 30: alice is suspended until day 33 (7 days from day 26); 20 days would run to day 46.
    longer = tmp_path / "longer.json"
    longer.write_text('{"suspend_days": 20}')

    done = invoke(worked_db, "replay", "--policy", str(longer), "--until", day(30), "--json")

    assert done.returncode == 0, done.stderr
    (alice,) = json.loads(done.stdout)["changed"]
    assert (alice["member"], alice["standing"], alice["what_if_standing"]) == (
        "alice",
        "suspended",
        "suspended",
    )
    assert (alice["until"], alice["what_if_until"]) == (day(33), day(46))


def test_a_policy_file_naming_a_field_twice_is_refused(ledger_url: str, tmp_path: Path) -> None:
    twice = tmp_path / "twice.json"
    twice.write_text('{"version": 2, "restrict_at": 5, "restrict_at": 50}')

    done = invoke(ledger_url, "policy", "set", str(twice))

    assert done.returncode == 2
    assert "field 'restrict_at' is given twice" in one_error_line(done)


def test_a_sqlite_file_uri_with_slashes_is_still_a_ledger(
    worked_example_file: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    assert invoke(ledger, "import", str(worked_example_file)).returncode == 0

    done = invoke(f"file://{ledger}?mode=ro", "status", "alice", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["member"] == "alice"


def test_the_scratch_replays_read_a_long_ledger_named_by_a_file_uri(tmp_path: Path) -> None:
    # Past bulk.WORTH_IT events the scratch ledger reads the real one in SQL, attached.
    ledger, history = tmp_path / "ledger.db", tmp_path / "history.jsonl"
    made = invoke(ledger, "simulate", "--members", "100", "--invitations", "1500")
    history.write_text(made.stdout)
    assert made.stdout.count("\n") > 2_000
    assert invoke(ledger, "import", str(history)).returncode == 0
    milder = tmp_path / "milder.json"
    milder.write_text('{"restrict_at": 20}')

    for uri in (f"file:{ledger}?mode=ro", f"file://{ledger}"):
        checked = invoke(uri, "replay", "--check")
        until = invoke(uri, "replay", "--until", "2025-03-01T00:00:00Z")
        what_if = invoke(uri, "replay", "--policy", str(milder))

        assert checked.returncode == 0, (uri, checked.stderr)
        assert "the stored views equal a fresh rebuild" in checked.stdout
        assert (until.returncode, what_if.returncode) == (0, 0), (until.stderr, what_if.stderr)


def test_demo_replaces_a_link_at_its_history_path_and_not_what_it_points_to(
    tmp_path: Path,
) -> None:
    small = ("--members", "30", "--invitations", "100")
    assert without_db("demo", *small, cwd=tmp_path).returncode == 0
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    history = tmp_path / "invledger-demo.jsonl"
    history.unlink()
    history.symlink_to(precious)

    done = without_db("demo", *small, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert precious.read_text() == "keep me\n"
    assert not history.is_symlink()


def test_an_import_of_no_events_into_a_ledger_changes_nothing(
    db: str, tmp_path: Path, worked_example_file: Path
) -> None:
    assert invoke(db, "import", str(worked_example_file)).returncode == 0
    before = invoke(db, "export").stdout
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n\n")

    done = invoke(db, "import", str(blank))

    assert done.returncode == 0, done.stderr
    assert "imported 0 events, skipped 0" in done.stdout
    assert invoke(db, "export").stdout == before


def test_an_import_of_one_event_says_one_event(db: str, tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_bytes(
        b'{"id":"e1","type":"invitation_sent","at":"2026-01-05T12:00:00Z",'
        b'"invitation":"i1","sender":"alice","recipient":"bob"}\n'
    )

    first, again = invoke(db, "import", str(one)), invoke(db, "import", str(one))

    assert "imported 1 event, skipped 0 already in the ledger" in first.stdout, first
    assert "imported 0 events, skipped 1 already in the ledger" in again.stdout, again


def test_send_and_check_name_the_invitations_own_rules_before_the_senders_standing(
    ledger_url: str, tmp_path: Path
) -> None:
    # max must give the recipient's email from day 7 to day 37
    history = tmp_path / "history.jsonl"
    history.write_text(_reported_on([1, 2, 3, 4, 5, 6, 7]))
    assert invoke(ledger_url, "import", str(history)).returncode == 0
    before = dump(ledger_url)

    asked = invoke(ledger_url, "check", "max", "max", "--json", "--at", day(10))
    to_self = invoke(ledger_url, "send", "max", "max", "--at", day(10))
    reused = invoke(ledger_url, "send", "max", "nina", "--invitation", "i0", "--at", day(10))
    without_email = invoke(ledger_url, "send", "max", "nina", "--at", day(10))

    assert (asked.returncode, json.loads(asked.stdout)["rule"]) == (1, "self-invitation")
    assert to_self.returncode == 1
    assert to_self.stderr == asked.stderr
    assert "refused by rule 'self-invitation'" in to_self.stderr
    assert reused.returncode == 1
    assert "refused by rule 'invitation-id-used'" in reused.stderr
    assert "refused by rule 'email-required'" in without_email.stderr  # the standing still applies
    assert dump(ledger_url) == before


def test_status_shows_the_acceptance_percentage_with_a_half_rounded_up(
    ledger_url: str, tmp_path: Path
) -> None:
    # lena: 1 of 8 answered invitations accepted (12.5%), and one withdrawn, which is no answer
    lines = []
    for i in range(9):
        lines.append({"id": f"s{i}", "type": "invitation_sent", "at": day(0), "invitation": f"i{i}",
                      "sender": "lena", "recipient": f"r{i}"})  # fmt: skip
    answers = ["invitation_accepted"] + ["invitation_ignored"] * 7 + ["invitation_withdrawn"]
    for i, kind in enumerate(answers):
        lines.append({"id": f"a{i}", "type": kind, "at": day(1), "invitation": f"i{i}"})
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert invoke(ledger_url, "import", str(history)).returncode == 0

    shown = invoke(ledger_url, "status", "lena", "--at", day(2))
    rate = json.loads(invoke(ledger_url, "status", "lena", "--json", "--at", day(2)).stdout)

    assert rate["reputation"]["acceptance_rate"] == 1 / 8
    assert "1 withdrawn, acceptance 13%" in shown.stdout


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args, what",
    [
        (["send", "maya", "noor", "--invitation", "inv-full"], "invitation inv-full is stored"),
        (["import", "-"], "the import is done (1 event stored)"),
    ],
)
def test_a_write_whose_output_cannot_be_written_says_what_it_stored(
    ledger_url: str, args: list[str], what: str
) -> None:
    line = {"id": "s-full", "type": "invitation_sent", "at": day(0), "invitation": "inv-full",
            "sender": "maya", "recipient": "noor"}  # fmt: skip
    done = into_a_full_disk(ledger_url, args, stdin=json.dumps(line) + "\n")

    assert done.returncode == 2
    error = one_error_line(done)
    assert error.startswith("Error: No space left on device: the output is lost, but ")
    assert what in error
    assert '"invitation":"inv-full"' in dump(ledger_url)


def test_a_what_if_of_the_policy_in_force_finds_nobody_differs_with_a_change_dated_later(
    ledger_url: str, tmp_path: Path
) -> None:
    # esme is email-required now (seven reports two days ago); an imported change is dated
    # in 90 days (`policy set` refuses such a date; an import takes a history's times)
    from datetime import UTC, datetime, timedelta

    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    now = datetime.now(UTC).replace(microsecond=0)
    lines = []
    for i in range(7):
        lines.append({"id": f"s{i}", "type": "invitation_sent", "at": iso(now - timedelta(days=3)),
                      "invitation": f"i{i}", "sender": "esme", "recipient": f"r{i}"})  # fmt: skip
        lines.append({"id": f"u{i}", "type": "invitation_marked_unknown", "invitation": f"i{i}",
                      "at": iso(now - timedelta(days=2, minutes=10 - i))})  # fmt: skip
    lines.append({"id": "p2", "type": "policy_changed", "at": iso(now + timedelta(days=90)),
                  "policy": {"version": 2, "appeal_overdue_hours": 24}})  # fmt: skip
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert invoke(ledger_url, "import", str(history)).returncode == 0
    defaults = tmp_path / "defaults.json"
    defaults.write_text('{"restrict_at": 7}')

    status = json.loads(invoke(ledger_url, "status", "esme", "--json").stdout)
    done = invoke(ledger_url, "replay", "--policy", str(defaults), "--json")

    assert status["standing"] == "email_required"
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] == []


@pytest.mark.parametrize(
    "args, stop, code, says",
    [
        (["send", "ria", "sol"], signal.SIGINT, 130, "Interrupted:"),
        (["follow"], signal.SIGTERM, 0, "stopped"),
    ],
    ids=["send-ctrl-c", "follow-sigterm"],
)
def test_a_command_waiting_for_the_sqlite_write_lock_stops_at_once_when_told(
    tmp_path: Path, args: list[str], stop: signal.Signals, code: int, says: str
) -> None:
    db = tmp_path / "ledger.db"
    assert invoke(db, "send", "ria", "tam", "--at", day(0)).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    # A row another tool appended: the views are behind, so `follow` needs the lock too.
    holder.execute(
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) VALUES "
        "('e-other', 1, 'invledger:invitation_sent', CAST(? AS BLOB))",
        (json.dumps({"id": "e-other", "type": "invitation_sent", "at": day(1),
                     "invitation": "i-other", "sender": "uma", "recipient": "vic"}),),
    )  # fmt: skip
    holder.execute("BEGIN IMMEDIATE")  # held for the whole test: a long wait for the lock
    try:
        waiting = subprocess.Popen(
            [*invoke_command(db), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "INVLEDGER_LOCK_TIMEOUT": "60"},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 (one call between fork and exec)
        )
        time.sleep(2)  # started, and waiting for the lock
        assert waiting.poll() is None
        waiting.send_signal(stop)
        told = time.monotonic()
        _, err = waiting.communicate(timeout=30)
        took = time.monotonic() - told
    finally:
        holder.rollback()
        holder.close()

    assert took < 10, f"stopped {took:.1f}s after the signal, not at once"
    assert waiting.returncode == code, err
    assert says in err and "Traceback" not in err


def test_a_fact_dated_in_the_future_is_refused_and_the_ledger_stays_as_it_was(
    db: str, tmp_path: Path
) -> None:
    # given a restricted member with an open appeal, and an invitation pending
    import_lines = [
        {"type": "invitation_sent", "id": f"s{i}", "at": day(1, i), "invitation": f"i{i}",
         "sender": "x", "recipient": f"r{i}"} for i in range(8)
    ] + [
        {"type": "invitation_marked_unknown", "id": f"u{i}", "at": day(2, i), "invitation": f"i{i}"}
        for i in range(7)
    ] + [{"type": "appeal_filed", "id": "a1", "at": day(3), "appeal": "ap1", "member": "x",
          "statement": "I know them"}]  # fmt: skip
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in import_lines))
    assert invoke(db, "import", str(history)).returncode == 0
    before = dump(db)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    later = tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ")
    stricter = tmp_path / "stricter.json"
    stricter.write_text('{"version": 2, "warn_at": 1, "restrict_at": 2}')

    # when a fact is recorded dated tomorrow, by each command that records one (a policy
    # change too: dated tomorrow it would judge today's reports)
    for args in (
        ["send", "x", "q1", "--email", "q1@example.com"],
        ["accept", "i7"],
        ["ignore", "i7"],
        ["idk", "i7"],
        ["withdraw", "i7"],
        ["appeal", "y", "--statement", "again"],
        ["grant", "ap1", "--agent", "dana"],
        ["deny", "ap1", "--agent", "dana"],
        ["policy", "set", str(stricter)],
    ):
        refused = invoke(db, *args, "--at", later)

        # then it is refused as bad usage (click's usage lines, then one error), says
        # why, and stores nothing
        assert refused.returncode == 2, (args, refused.stderr)
        assert "Traceback" not in refused.stderr
        assert f"Error: Invalid value for '--at': {later} is in the future" in refused.stderr
        why = "policy change applies from its place" if args[0] == "policy" else "a fact is"
        assert why in refused.stderr, (args, refused.stderr)
    assert dump(db) == before

    # and a time a little ahead of this clock (another machine's) is still taken
    soon = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    granted = invoke(db, "grant", "ap1", "--agent", "dana", "--at", soon)
    assert granted.returncode == 0, granted.stderr
    queue = json.loads(invoke(db, "appeals", "--json", "--at", later).stdout)
    assert [(a["appeal"], a["outcome"]) for a in queue["appeals"]] == [("ap1", "granted")]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["events", "--type", "appeal_filed", "--type", "appeal_denied"], "--type"),
        (["events", "--member", "alice", "--member", "bob"], "--member"),
        (["status", "alice", "--at", day(5), "--at", day(6)], "--at"),
        (["policy", "show", "--at", day(5), "--at", day(6)], "--at"),
        (["export", "--since", "1", "--since", "2"], "--since"),
    ],
    ids=["events-type", "events-member", "status-at", "policy-show-at", "export-since"],
)
def test_an_option_given_twice_is_bad_usage_not_its_last_value(
    worked_db: str, args: list[str], option: str
) -> None:
    done = invoke(worked_db, *args)

    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    assert f"Error: {option} is given more than once: give it once" in done.stderr
    # and --help beside them still helps
    helped = invoke(worked_db, *args, "--help")
    assert (helped.returncode, helped.stdout.startswith("Usage: ")) == (0, True), helped.stderr


def test_a_write_with_an_option_given_twice_stores_nothing_and_a_repeated_flag_is_fine(
    db: str, tmp_path: Path
) -> None:
    assert invoke(db, "send", "alice", "bob", "--invitation", "i1").returncode == 0
    before = dump(db)

    for args in (
        ["send", "alice", "carl", "--message", "hi", "--message", "hello"],
        ["idk", "i1", "--at", day(1), "--at", day(2)],
        ["--db", str(tmp_path / "other.db"), "send", "alice", "dora"],
    ):
        done = invoke(db, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "is given more than once: give it once" in done.stderr
    assert dump(db) == before
    assert not (tmp_path / "other.db").exists()

    shown = invoke(db, "status", "alice", "--json", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["member"] == "alice"


def test_events_prints_handles_as_written_and_says_when_nothing_matches(db: str) -> None:
    assert invoke(db, "send", "名前", "bob", "--invitation", "i-名").returncode == 0

    listed = json.loads(invoke(db, "events", "--json").stdout)["events"]
    raw = invoke(db, "events", "--json").stdout
    none = invoke(db, "events", "--member", "nobody")
    none_json = json.loads(invoke(db, "events", "--member", "nobody", "--json").stdout)

    assert [(e["sender"], e["invitation"]) for e in listed] == [("名前", "i-名")]
    assert '"sender": "名前"' in raw  # not escaped, as every other query prints
    assert (none.returncode, none.stdout) == (0, "no events match\n")
    assert none_json == {"events": []}
