"""Helpers for the reliability tests: the real `invledger` process, racing processes, dumps.

Everything here runs the real CLI (`python -m cli`) against real SQLite files and
real PostgreSQL databases; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONTROL_BYTES = {bytes([c]) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)} | {b"\x7f"}


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "INVLEDGER_DB"}
    env.update(extra or {})
    return env


def cli(
    db: Path | str,
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run `invledger --db DB ARGS...` as a real process; output stays bytes."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "--db", str(db), *args],
        input=stdin,
        capture_output=True,
        env=cli_env(env),
        cwd=cwd,
        timeout=timeout,
    )


def popen_cli(db: Path | str, *args: str, env: dict[str, str] | None = None, cwd: Path | str | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(env),
        cwd=cwd,
    )


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def error_lines(proc: subprocess.CompletedProcess[bytes] | Any) -> list[str]:
    return [line for line in text(proc.stderr).splitlines() if line.startswith("Error:")]


def assert_clean_failure(proc: Any, code: int, what: str = "") -> None:
    """Exit `code`, exactly one `Error:` line on stderr, no traceback, no raw control bytes."""
    err = text(proc.stderr)
    context = f"{what}\nexit {proc.returncode}\nstdout: {text(proc.stdout)[:2000]!r}\nstderr: {err[:2000]!r}"
    assert proc.returncode == code, context
    assert "Traceback" not in err and "Traceback" not in text(proc.stdout), context
    assert len(error_lines(proc)) == 1, context
    raw = proc.stderr
    assert not any(c in raw for c in CONTROL_BYTES), f"control bytes reach the terminal: {context}"
    assert "\x9b" not in err, f"a C1 CSI reaches the terminal: {context}"


# Racing processes ---------------------------------------------------------------------

# A real `invledger` process that loads every module first, says "ready", and then waits
# for one byte on stdin before it runs the command: the racers start their command
# within a millisecond of each other instead of staggered by their start-up time.
_RACER = r"""
import sys
import cli.main, cli.bulk, ledger.application, ledger.store, projections.queries, projections.rebuild
if sys.argv[2].startswith(("postgresql://", "postgres://")):
    import ledger.postgres
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.buffer.read(1)
sys.argv = ["invledger", *sys.argv[1:]]
cli.main.main()
"""


def race(db: str, commands: Sequence[Sequence[str]], env: dict[str, str] | None = None,
         timeout: float = 120) -> list[subprocess.CompletedProcess[bytes]]:
    """Start one real process per command, wait until all are loaded, release them at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, "--db", db, *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(env),
        )
        for command in commands
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line == b"ready\n", (line, proc.stderr.read() if proc.stderr else b"")
        for proc in procs:  # release every racer
            assert proc.stdin is not None
            proc.stdin.write(b"g")
            proc.stdin.close()
        done = []
        for proc, command in zip(procs, commands, strict=True):
            out, err = proc.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(list(command), proc.returncode, out, err))
        return done
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# Looking at a SQLite ledger without the product ---------------------------------------


def sqlite_dump(path: Path | str) -> list[str]:
    """Every row of every table, as SQL text: what a command must not change."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def stored_ids(path: Path | str) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute("SELECT originator_id FROM stored_events ORDER BY rowid")]
    finally:
        conn.close()


def jsonl(events: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)
